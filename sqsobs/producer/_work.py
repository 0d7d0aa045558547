"""What the flusher hands to the send pool: batches taken out of a buffer, due retry groups, and
the flush span that ends with the last of its batches.

Example::

    for item in work:
        if isinstance(item, RetryWork): ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry.trace import Span

from sqsobs.producer._messages import FlushReason, PendingMessage
from sqsobs.producer._retry import RetryGroup

if TYPE_CHECKING:
    from sqsobs.producer._queue_buffer import QueueBuffer

__all__ = ["FlushJob", "FlushWork", "RetryWork"]


@dataclass
class FlushWork:
    """Batches taken out of one queue's buffer by one flush."""

    buffer: QueueBuffer
    reason: FlushReason
    batches: list[list[PendingMessage]]
    splits: int
    count: int
    payload_bytes: int
    packed_batches: int
    #: When the packing decision started and ended (``time.time_ns()``): the split span's time.
    packed_ns: tuple[int, int] = (0, 0)


@dataclass
class RetryWork:
    """One retry group whose backoff is over."""

    buffer: QueueBuffer
    group: RetryGroup


@dataclass
class FlushJob:
    """A flush span that ends when the last of its batches has been settled."""

    span: Span
    remaining: int
