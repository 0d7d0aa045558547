"""The listener's spans and metrics, names from the catalog: receive, process and the gauges.

The attribute caches and the settle calls' spans (heartbeat, delete, release) are in
``_telemetry_calls.py``; :class:`ListenerTelemetry` is both.
Telemetry never breaks message flow: span and metric calls go through the OpenTelemetry API
(which does not raise), and everything that reads message data is guarded. In-flight messages
are not counted up and down: the gauge reads the heartbeat's held set at each collection.

Example::

    tel = ListenerTelemetry("orders", queue_url)
    receive = tel.received(messages, started_ns, duration_seconds)
    with tel.process_span(messages[:1], receive, batch=False):
        handler(messages[0])
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from opentelemetry import trace
from opentelemetry.trace import Span, SpanContext

from sqsobs.listener._capacity import HasCapacity, capacity_readings
from sqsobs.listener._message import SqsMessage
from sqsobs.listener._telemetry_calls import CallTelemetry
from sqsobs.telemetry import (
    ATTR_BATCH_COUNT,
    ATTR_MESSAGE_ID,
    ATTR_REQUEST_ID,
    KINDS,
    OP_PROCESS,
    OP_RECEIVE,
    add_message_links,
    record_error,
    set_request_id,
    span_name,
)
from sqsobs.telemetry import (
    error_type as classify_error,
)
from sqsobs.telemetry.catalog import (
    CONSUMED_MESSAGES,
    EMPTY_RECEIVES,
    HANDLER_FAILURES,
    INFLIGHT,
    MESSAGE_AGE,
    OPERATION_DURATION,
    POLL_DURATION,
    POLL_ERRORS,
    PROCESS_DURATION,
    RECEIVE_COUNT,
)

__all__ = ["Held", "ListenerTelemetry", "creation_context"]

logger = logging.getLogger(__name__)


class Held(Protocol):
    """What holds the listener's in-flight messages (the heartbeat)."""

    def held(self) -> int:
        """How many messages are held now."""
        ...


class ListenerTelemetry(CallTelemetry):
    """Spans and metrics of one listener on one queue: receive, process, gauges, settle calls."""

    def __init__(self, queue: str, queue_url: str) -> None:
        super().__init__(queue, queue_url)
        self._held: Held | None = None
        self._pool: HasCapacity | None = None

    # --- in flight -------------------------------------------------------------------------
    def observe_inflight(self, held: Held) -> None:
        """Report ``held.held()`` as ``sqsobs.listener.inflight`` until :meth:`stop_observing`."""
        self._held = held
        self._inst.observe(INFLIGHT, held, _inflight_reading(self._queue_attrs))

    def observe_capacity(self, pool: HasCapacity) -> None:
        """Report the pool's busy workers, slots, prefetched messages and utilisation."""
        self._pool = pool
        for spec, read in capacity_readings(self._queue_attrs).items():
            self._inst.observe(spec, pool, read)

    def stop_observing(self) -> None:
        """Stop reporting in-flight messages and capacity (the listener stopped)."""
        if self._held is not None:
            self._inst.forget(INFLIGHT, self._held)
            self._held = None
        if self._pool is not None:
            for spec in capacity_readings(self._queue_attrs):
                self._inst.forget(spec, self._pool)
            self._pool = None

    # --- receive ---------------------------------------------------------------------------
    def received(
        self,
        messages: Sequence[SqsMessage],
        started_ns: int,
        duration_seconds: float,
        request_id: str | None = None,
    ) -> SpanContext | None:
        """Record a ReceiveMessage that returned messages; return its span's context."""
        self._inst.histogram(OPERATION_DURATION).record(
            duration_seconds, self.attrs(OPERATION_DURATION, OP_RECEIVE)
        )
        self._inst.histogram(POLL_DURATION).record(duration_seconds, self._queue_attrs)
        self._inst.counter(CONSUMED_MESSAGES).add(
            len(messages), self.attrs(CONSUMED_MESSAGES, OP_RECEIVE)
        )
        now = time.time()
        age = self._inst.histogram(MESSAGE_AGE)
        count = self._inst.histogram(RECEIVE_COUNT)
        for message in messages:
            sent = message.attributes.get("SentTimestamp")
            with contextlib.suppress(TypeError, ValueError):
                age.record(max(0.0, now - int(str(sent)) / 1000.0), self._queue_attrs)
            count.record(message.receive_count, self._queue_attrs)
        span = self._receive_span(len(messages), started_ns, request_id)
        add_message_links(span, _creations(messages))
        span.end()
        context = span.get_span_context()
        return context if context.is_valid else None

    def _receive_span(self, count: int, started_ns: int, request_id: str | None) -> Span:
        attributes = self.span_attrs(OP_RECEIVE, ATTR_BATCH_COUNT, count)
        if request_id is not None:
            attributes[ATTR_REQUEST_ID] = request_id
        return self._tracer.start_span(
            span_name(OP_RECEIVE, self.queue),
            kind=KINDS[OP_RECEIVE],
            attributes=attributes,
            start_time=started_ns or None,
        )

    def empty_receive(
        self,
        duration_seconds: float,
        started_ns: int = 0,
        *,
        traced: bool = False,
        request_id: str | None = None,
    ) -> None:
        """Count a ReceiveMessage that returned nothing; a span only when ``traced``.

        Its wait is a poll, not an operation: it goes to ``sqsobs.listener.poll.duration`` only,
        so ``messaging.client.operation.duration`` keeps the advised buckets meaningful.
        """
        self._inst.histogram(POLL_DURATION).record(duration_seconds, self._queue_attrs)
        self._inst.counter(EMPTY_RECEIVES).add(1, self._queue_attrs)
        if traced:
            self._receive_span(0, started_ns, request_id).end()

    def poll_error(self, error: BaseException, duration_seconds: float, started_ns: int) -> None:
        """Record a failed ReceiveMessage: metrics, and a ``receive`` span with ``error.type``."""
        kind = classify_error(error)
        self._inst.histogram(OPERATION_DURATION).record(
            duration_seconds, self.attrs(OPERATION_DURATION, OP_RECEIVE, kind)
        )
        self._inst.histogram(POLL_DURATION).record(
            duration_seconds, self.attrs(POLL_DURATION, error=kind)
        )
        self._inst.counter(POLL_ERRORS).add(1, self.attrs(POLL_ERRORS, error=kind))
        span = self._receive_span(0, started_ns, None)
        record_error(span, error)
        set_request_id(span, error)
        span.end()

    # --- process ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def process_span(
        self, messages: Sequence[SqsMessage], receive: SpanContext | None, *, batch: bool
    ) -> Iterator[Span]:
        """The ``process`` span around a handler call, current while it runs.

        Per message, its parent is the producer's context, which it also links (with the
        message's id); for a batch it links every message's creation context.
        """
        parent = None
        if batch:
            attributes = self.span_attrs(OP_PROCESS, ATTR_BATCH_COUNT, len(messages))
        else:
            # The shared attributes at the start (samplers see them); the message's id only on a
            # span that records, so a sampled-out message costs no attribute dict.
            parent = messages[0].context
            attributes = self.base_attrs(OP_PROCESS)
        with self._tracer.start_as_current_span(
            span_name(OP_PROCESS, self.queue),
            context=parent,
            kind=KINDS[OP_PROCESS],
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            if span.is_recording():
                if not batch:
                    span.set_attribute(ATTR_MESSAGE_ID, messages[0].message_id)
                if receive is not None:
                    span.add_link(receive)
                add_message_links(span, _creations(messages))
            yield span

    def processed(self, duration_seconds: float, error_type: str | None) -> None:
        """Record one handler call's duration (per message or per batch)."""
        self._inst.histogram(PROCESS_DURATION).record(
            duration_seconds, self.attrs(PROCESS_DURATION, OP_PROCESS, error_type)
        )

    def handler_failures(self, count: int, error_type: str) -> None:
        """Count messages whose handler failed."""
        self._inst.counter(HANDLER_FAILURES).add(
            count, self.attrs(HANDLER_FAILURES, error=error_type)
        )


def _inflight_reading(attributes: dict[str, str]) -> Any:
    # A plain function over the attributes: the gauge must not hold the telemetry (or the
    # listener) alive, only the heartbeat, weakly.
    def read(held: Held) -> list[tuple[float, dict[str, str]]]:
        return [(held.held(), attributes)]

    return read


def _creations(messages: Sequence[SqsMessage]) -> Iterator[tuple[SpanContext | None, str]]:
    # A generator: nothing is extracted for a span that does not record.
    for message in messages:
        yield creation_context(message), message.message_id


def creation_context(message: SqsMessage) -> SpanContext | None:
    """The producer's span context a message carries, if it carries a valid one."""
    context = message.context
    if context is None:
        return None
    span_context = trace.get_current_span(context).get_span_context()
    return span_context if span_context.is_valid else None
