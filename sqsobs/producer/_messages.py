"""The records the producer passes around: a buffered message, a failed one, a flush reason."""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from opentelemetry.trace import SpanContext

from sqsobs._payloads._rules import Offloaded

__all__ = ["FailedMessage", "FlushReason", "PendingMessage"]


class FlushReason(str, Enum):
    """Why a queue's buffer went out (the ``sqsobs.flush.reason`` attribute)."""

    SIZE = "size"
    INTERVAL = "interval"
    IDLE = "idle"
    MANUAL = "manual"
    CLOSE = "close"


@dataclass
class FailedMessage:
    """A message SQS never accepted, handed to ``on_failure``.

    The fields of dramatiq-sqs-batch's ``FailedMessage`` come first, so code written for it
    works unchanged. ``entry`` is the SendMessageBatch entry (Id, MessageBody,
    MessageAttributes ...), ``retry_count`` how many HTTP requests carried it after the first
    (``SendFailed.attempts - 1``), the times are wall-clock seconds. ``queue`` is the queue as
    given to ``send()`` and ``error`` the exception its future holds.

    Example::

        def on_failure(failed: FailedMessage) -> None:
            dead_letters.append((failed.queue, failed.entry["MessageBody"], repr(failed.error)))

        producer = BatchProducer(on_failure=on_failure)
    """

    entry: dict[str, Any]
    retry_count: int = 0
    first_failure_time: float = field(default_factory=time.time)
    last_failure_time: float = field(default_factory=time.time)
    queue: str = ""
    error: BaseException | None = None


class PendingMessage:
    """One accepted message: its request entry, SQS size, future and create-span context."""

    __slots__ = (
        "attempts",
        "enqueued_at",
        "entry",
        "first_failure_time",
        "future",
        "last_failure_time",
        "payload",
        "requests",
        "seq",
        "size",
        "span_context",
    )

    def __init__(
        self,
        entry: dict[str, Any],
        size: int,
        future: Future[str],
        span_context: SpanContext | None,
        enqueued_at: float,
    ) -> None:
        self.entry = entry
        self.size = size
        self.future = future
        self.span_context = span_context
        self.enqueued_at = enqueued_at
        self.seq = 0
        #: SendMessageBatch calls that carried it (the retry budget counts these).
        self.attempts = 0
        #: HTTP requests that carried it: calls plus any retries the client made underneath.
        self.requests = 0
        self.first_failure_time = 0.0
        self.last_failure_time = 0.0
        #: A payload still to upload to S3 before the message is sent (large messages).
        self.payload: Offloaded | None = None

    def failed_record(self, queue: str, error: BaseException) -> FailedMessage:
        """The :class:`FailedMessage` describing this message's final failure."""
        now = time.time()
        return FailedMessage(
            entry=self.entry,
            retry_count=max(self.requests - 1, 0),
            first_failure_time=self.first_failure_time or now,
            last_failure_time=self.last_failure_time or now,
            queue=queue,
            error=error,
        )
