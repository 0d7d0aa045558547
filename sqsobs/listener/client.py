"""The listener's boto3 client and queue resolution.

Example::

    client = default_client(worker_threads=4)
    url = resolve_queue_url(client, "orders")    # a name, or a URL checked to exist
"""

from __future__ import annotations

from typing import Any

from sqsobs.errors import translate_client_error

__all__ = ["default_client", "resolve_queue_url"]


def default_client(worker_threads: int) -> Any:
    """A new SQS client from the environment (region, credentials, ``AWS_ENDPOINT_URL_SQS``).

    Its connection pool fits the poller, every worker, the heartbeat and the acker.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 3, "mode": "standard"},
        max_pool_connections=worker_threads + 4,
        # Longer than the longest long poll (20 s), so a quiet queue is not a timeout.
        read_timeout=40,
    )
    return boto3.session.Session().client("sqs", config=config)


def resolve_queue_url(client: Any, queue: str) -> str:
    """The queue's URL; raises QueueDoesNotExist / AccessDenied / SqsError at once if unusable.

    A name is resolved with GetQueueUrl; a URL is checked with GetQueueAttributes.
    """
    try:
        if queue.startswith(("https://", "http://")):
            client.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
            return queue
        url: str = client.get_queue_url(QueueName=queue)["QueueUrl"]
        return url
    except Exception as error:
        operation = "GetQueueAttributes" if "://" in queue else "GetQueueUrl"
        raise translate_client_error(error, operation=operation) from error
