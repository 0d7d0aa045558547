"""The producer's telemetry for one queue: precomputed span names and metric attribute sets.

Built once per queue so ``send()`` allocates no attribute dicts. Metric names and attributes
come from :mod:`sqsobs.telemetry.catalog`.

Example::

    telemetry = QueueTelemetry("orders", "https://sqs.../orders", get_instruments())
    telemetry.failed(3, "InternalError")
"""

from __future__ import annotations

import re
from typing import Any

from sqsobs._urls import is_queue_url, queue_name
from sqsobs.telemetry import (
    ATTR_BATCH_COUNT,
    OP_CREATE,
    OP_FLUSH,
    OP_RETRY,
    OP_SEND,
    OP_SPLIT,
    Instruments,
    messaging_attributes,
    metric_attributes,
    span_name,
)
from sqsobs.telemetry.catalog import (
    ATTR_OPERATION_NAME,
    BATCH_BYTES,
    BATCH_MESSAGES,
    BATCH_SPLITS,
    BUFFER_DEPTH,
    BUFFER_TIME,
    FLUSHES,
    MESSAGES_FAILED,
    MESSAGES_REJECTED,
    OPERATION_DURATION,
    RETRIES,
    SENT_MESSAGES,
    MetricSpec,
)

__all__ = ["UNKNOWN_QUEUE", "QueueTelemetry", "count_rejected", "rejected_destination"]

#: ``messaging.destination.name`` of a refusal whose argument names no well-formed queue.
UNKNOWN_QUEUE = "unknown"
# SQS's queue-name rules: 1-80 of letters, digits, hyphens and underscores (.fifo for FIFO).
_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}(\.fifo)?")


class QueueTelemetry:
    """Span names, span attributes and metric recorders for one destination queue."""

    def __init__(self, name: str, url: str, instruments: Instruments) -> None:
        self.name = name
        self.url = url
        self.create_name = span_name(OP_CREATE, name)
        self.create_attrs = messaging_attributes(OP_CREATE, name, queue_url=url)
        self.flush_name = span_name(OP_FLUSH, name)
        self.split_name = span_name(OP_SPLIT, name)
        self.send_name = span_name(OP_SEND, name)
        self.retry_name = span_name(OP_RETRY, name)
        self._send_attrs = messaging_attributes(OP_SEND, name, queue_url=url)
        self.base = metric_attributes(BUFFER_DEPTH, name)
        self._sent_ok = metric_attributes(SENT_MESSAGES, name, operation=OP_SEND, queue_url=url)
        self._duration_ok = metric_attributes(
            OPERATION_DURATION, name, operation=OP_SEND, queue_url=url
        )
        self._errors: dict[tuple[str, str], dict[str, Any]] = {}
        self._reasons: dict[str, dict[str, Any]] = {}
        self._sent = instruments.counter(SENT_MESSAGES)
        self._failed = instruments.counter(MESSAGES_FAILED)
        self._rejected = instruments.counter(MESSAGES_REJECTED)
        self._retries = instruments.counter(RETRIES)
        self._splits = instruments.counter(BATCH_SPLITS)
        self._flushes = instruments.counter(FLUSHES)
        self._duration = instruments.histogram(OPERATION_DURATION)
        self._batch_messages = instruments.histogram(BATCH_MESSAGES)
        self._batch_bytes = instruments.histogram(BATCH_BYTES)
        self._buffer_time = instruments.histogram(BUFFER_TIME)

    def send_attributes(self, batch_count: int) -> dict[str, Any]:
        """Attributes of a ``send {queue}`` span."""
        return {**self._send_attrs, ATTR_BATCH_COUNT: batch_count}

    def _with_error(self, spec: MetricSpec, kind: str) -> dict[str, Any]:
        """``spec``'s attributes with ``error.type``, cached per (instrument, kind)."""
        attrs = self._errors.get((spec.name, kind))
        if attrs is None:
            operation = OP_SEND if ATTR_OPERATION_NAME in spec.attributes else None
            attrs = metric_attributes(
                spec, self.name, operation=operation, error_type=kind, queue_url=self.url
            )
            self._errors[(spec.name, kind)] = attrs
        return attrs

    def flushed(self, reason: str, splits: int) -> None:
        """One flush, and the byte-limit splits it needed."""
        attrs = self._reasons.get(reason)
        if attrs is None:
            attrs = metric_attributes(FLUSHES, self.name, flush_reason=reason)
            self._reasons[reason] = attrs
        self._flushes.add(1, attrs)
        if splits:
            self._splits.add(splits, self.base)

    def batch(self, messages: int, payload_bytes: int) -> None:
        """One SendMessageBatch request's size."""
        self._batch_messages.record(messages, self.base)
        self._batch_bytes.record(payload_bytes, self.base)

    def buffer_time(self, seconds: float) -> None:
        """Time one message spent between ``send()`` and its first SendMessageBatch."""
        self._buffer_time.record(seconds, self.base)

    def call(self, seconds: float, kind: str | None) -> None:
        """One SendMessageBatch call's duration (``kind``: its error.type, if it failed)."""
        attrs = self._duration_ok if kind is None else self._with_error(OPERATION_DURATION, kind)
        self._duration.record(seconds, attrs)

    def delivered(self, count: int) -> None:
        """Messages SQS accepted."""
        if count:
            self._sent.add(count, self._sent_ok)

    def failed(self, count: int, kind: str, *, attempted: bool = True) -> None:
        """Accepted messages that will never be delivered (``attempted``: SQS saw them)."""
        self._failed.add(count, self._with_error(MESSAGES_FAILED, kind))
        if attempted:
            self._sent.add(count, self._with_error(SENT_MESSAGES, kind))

    def retried(self, count: int, kind: str) -> None:
        """Messages scheduled to be sent again after a retryable failure."""
        self._retries.add(count, self._with_error(RETRIES, kind))

    def rejected(self, kind: str) -> None:
        """A message refused at ``send()``."""
        self._rejected.add(1, self._with_error(MESSAGES_REJECTED, kind))


def count_rejected(instruments: Instruments, key: str, kind: str) -> None:
    """A message refused at ``send()`` before its queue was known (see
    :func:`rejected_destination` for the label it gets)."""
    instruments.counter(MESSAGES_REJECTED).add(
        1, metric_attributes(MESSAGES_REJECTED, rejected_destination(key), error_type=kind)
    )


def rejected_destination(key: str) -> str:
    """The queue name ``key`` (what ``send()`` was given) stands for, safe as a metric label.

    A queue URL gives its queue's name (never the URL: it holds the account id); a well-formed
    queue name is kept; anything else is :data:`UNKNOWN_QUEUE`, so arbitrary text never becomes
    a label (nor a new series per value).

    Example::

        >>> rejected_destination("https://sqs.us-east-1.amazonaws.com/123456789012/orders")
        'orders'
        >>> rejected_destination("order #42")
        'unknown'
    """
    name = queue_name(key) if is_queue_url(key) else key
    return name if _QUEUE_NAME.fullmatch(name) else UNKNOWN_QUEUE
