"""Per-queue state: where the queue is, what it allows, and what waits in its buffer.

A queue is named by the key given to ``send()`` (a name or a URL). Names are resolved once with
GetQueueUrl; the queue's ``MaximumMessageSize`` is read once with GetQueueAttributes. Both run
without any producer lock held.

Example::

    info = resolve_queue(client, "orders")
    info.url, info.max_message_bytes
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import SpanContext

from sqsobs._urls import is_queue_url, queue_name
from sqsobs.errors import AccessDenied, SqsError, translate_client_error
from sqsobs.limits import MAX_MESSAGE_SIZE_BYTES, is_fifo_queue
from sqsobs.producer._messages import FlushReason, PendingMessage
from sqsobs.producer._telemetry import QueueTelemetry

__all__ = [
    "QueueInfo",
    "QueueState",
    "QueueStats",
    "RetryGroup",
    "due_reason",
    "resolve_queue",
]

logger = logging.getLogger(__name__)

NEVER = math.inf


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


@dataclass
class QueueStats:
    """The seed's per-queue counters (``get_metrics()["metrics"]``), plus ours."""

    messages_sent: int = 0
    messages_failed: int = 0
    buffer_overflow_count: int = 0
    retry_exhausted_count: int = 0
    batch_split_count: int = 0
    oversized_message_dropped: int = 0
    messages_retried: int = 0
    messages_rejected: int = 0
    messages_cleared: int = 0
    flush_count: int = 0


@dataclass
class RetryGroup:
    """Messages of one failed batch waiting out their backoff before being sent again."""

    due: float
    messages: list[PendingMessage]
    attempt: int
    backoff_seconds: float
    cause: str
    parent: SpanContext | None


@dataclass
class QueueState:
    """One queue's buffer and bookkeeping. Every field is guarded by the producer's lock."""

    key: str
    info: QueueInfo
    tel: QueueTelemetry
    batch_interval: float
    idle_timeout: float
    stats: QueueStats
    pending: deque[PendingMessage] = field(default_factory=deque)
    pending_bytes: int = 0
    newest: float = 0.0
    retries: list[RetryGroup] = field(default_factory=list)
    retry_messages: int = 0
    inflight: dict[int, list[PendingMessage]] = field(default_factory=dict)
    inflight_tasks: int = 0
    unresolved: int = 0
    flush_upto: int = 0
    flush_reason: FlushReason = FlushReason.MANUAL
    waiters: int = 0
    depth_unreported: int = 0
    last_flush_time: float | None = None

    def futures(self) -> list[Any]:
        """Futures of every message not yet resolved: buffered, waiting to retry, in flight."""
        found = [m.future for m in self.pending]
        for group in self.retries:
            found.extend(m.future for m in group.messages)
        for batch in self.inflight.values():
            found.extend(m.future for m in batch)
        return found

    def blocked(self) -> bool:
        """A FIFO queue sends one request at a time and nothing new while a retry waits."""
        return self.info.fifo and (self.inflight_tasks > 0 or bool(self.retries))


def due_reason(
    state: QueueState, now: float, *, batch_size: int, max_batch_bytes: int
) -> tuple[FlushReason | None, float]:
    """Why ``state``'s buffer should go out at ``now`` (or None), and when to look again."""
    pending = state.pending
    if not pending or state.blocked():
        return None, NEVER
    if state.flush_upto >= pending[0].seq:
        return state.flush_reason, now
    if len(pending) >= batch_size or state.pending_bytes > max_batch_bytes:
        return FlushReason.SIZE, now
    interval_at = pending[0].enqueued_at + state.batch_interval
    if now >= interval_at:
        return FlushReason.INTERVAL, now
    if state.idle_timeout > 0:
        idle_at = state.newest + state.idle_timeout
        if now >= idle_at:
            return FlushReason.IDLE, now
        return None, min(interval_at, idle_at)
    return None, interval_at
