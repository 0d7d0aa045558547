"""Where a queue is and what it allows, looked up once per queue key.

A queue is named by the key given to ``send()`` (a name or a URL). Names are resolved once with
GetQueueUrl; the queue's ``MaximumMessageSize`` is read once with GetQueueAttributes. Both run
without any producer lock held.

Example::

    info = resolve_queue(client, "orders")
    info.url, info.max_message_bytes
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqsobs._urls import is_queue_url, queue_name
from sqsobs.errors import AccessDenied, SqsError, translate_client_error
from sqsobs.limits import MAX_MESSAGE_SIZE_BYTES, is_fifo_queue

__all__ = ["QueueInfo", "resolve_queue"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueInfo:
    """What the producer knows about a queue: URL, name and the limits it applies."""

    url: str
    name: str
    fifo: bool
    max_message_bytes: int
    content_based_deduplication: bool = False


def resolve_queue(
    client: Any, key: str, url_resolver: Callable[[str], str] | None = None
) -> QueueInfo:
    """Look ``key`` up: its URL (``url_resolver``, the key itself, or GetQueueUrl) and limits."""
    if url_resolver is not None:
        url = url_resolver(key)
    elif is_queue_url(key):
        url = key
    else:
        try:
            url = client.get_queue_url(QueueName=key)["QueueUrl"]
        except Exception as exc:
            raise translate_client_error(exc, operation="GetQueueUrl") from exc
    name = queue_name(url)
    attributes = _queue_attributes(client, url)
    size = int(attributes.get("MaximumMessageSize", MAX_MESSAGE_SIZE_BYTES))
    return QueueInfo(
        url=url,
        name=name,
        fifo=is_fifo_queue(name) or attributes.get("FifoQueue") == "true",
        max_message_bytes=min(size, MAX_MESSAGE_SIZE_BYTES),
        content_based_deduplication=attributes.get("ContentBasedDeduplication") == "true",
    )


def _queue_attributes(client: Any, url: str) -> dict[str, str]:
    try:
        response = client.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["MaximumMessageSize", "FifoQueue", "ContentBasedDeduplication"],
        )
    except Exception as exc:
        error: SqsError = translate_client_error(exc, operation="GetQueueAttributes")
        if isinstance(error, AccessDenied):
            # Send-only credentials may not read attributes: fall back to the SQS maximum.
            logger.info("cannot read the attributes of %s (%s); assuming defaults", url, error.code)
            return {}
        raise error from exc
    attributes: dict[str, str] = response.get("Attributes", {})
    return attributes
