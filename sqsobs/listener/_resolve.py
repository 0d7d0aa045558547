"""Where a listener's queue is: a name resolved with GetQueueUrl, or a URL checked to exist.

Example::

    url = resolve_queue_url(client, "orders")
"""

from __future__ import annotations

from typing import Any

from sqsobs._urls import is_queue_url
from sqsobs.errors import translate_client_error

__all__ = ["resolve_queue_url"]


def resolve_queue_url(client: Any, queue: str) -> str:
    """The queue's URL; raises QueueDoesNotExist / AccessDenied / SqsError at once if unusable.

    A name is resolved with GetQueueUrl; a URL is checked with GetQueueAttributes.
    """
    url_given = is_queue_url(queue)
    try:
        if url_given:
            client.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
            return queue
        url: str = client.get_queue_url(QueueName=queue)["QueueUrl"]
        return url
    except Exception as error:
        operation = "GetQueueAttributes" if url_given else "GetQueueUrl"
        raise translate_client_error(error, operation=operation) from error
