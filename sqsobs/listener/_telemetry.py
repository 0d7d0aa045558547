"""The listener's spans and metrics, in one place, names from the catalog.

Attribute dicts are built once per listener so that a message costs a few dictionary look-ups.
Telemetry never breaks message flow: span and metric calls go through the OpenTelemetry API
(which does not raise), and everything that reads message data is guarded. In-flight messages
are not counted up and down: the gauge reads the heartbeat's held set at each collection.

Example::

    tel = ListenerTelemetry("orders", queue_url)
    with tel.call_span(OP_DELETE, 10) as span:
        outcome = delete_batch(client, queue_url, handles)
        tel.call_result(span, OP_DELETE, outcome)
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from opentelemetry import trace
from opentelemetry.trace import Span, SpanContext

from sqsobs._suppress import suppress_other_instrumentation
from sqsobs.listener._calls import BatchOutcome
from sqsobs.listener._capacity import HasCapacity, capacity_readings
from sqsobs.listener._message import SqsMessage
from sqsobs.telemetry import (
    ATTR_BATCH_COUNT,
    ATTR_MESSAGE_ID,
    ATTR_REQUEST_ID,
    KINDS,
    OP_PROCESS,
    OP_RECEIVE,
    add_message_links,
    get_instruments,
    get_tracer,
    messaging_attributes,
    metric_attributes,
    record_error,
    set_request_id,
    span_name,
)
from sqsobs.telemetry import (
    error_type as classify_error,
)
from sqsobs.telemetry.catalog import (
    ATTR_DESTINATION,
    ATTR_SYSTEM,
    CONSUMED_MESSAGES,
    DELETES,
    EMPTY_RECEIVES,
    HANDLER_FAILURES,
    HEARTBEATS,
    INFLIGHT,
    MAX_EXTEND_EXCEEDED,
    MESSAGE_AGE,
    OPERATION_DURATION,
    POLL_DURATION,
    POLL_ERRORS,
    PROCESS_DURATION,
    RECEIVE_COUNT,
    SYSTEM,
    MetricSpec,
)

__all__ = ["Held", "ListenerTelemetry", "creation_context"]

logger = logging.getLogger(__name__)


class Held(Protocol):
    """What holds the listener's in-flight messages (the heartbeat)."""

    def held(self) -> int:
        """How many messages are held now."""
        ...


class ListenerTelemetry:
    """Spans and metrics of one listener on one queue."""

    def __init__(self, queue: str, queue_url: str) -> None:
        self.queue = queue
        self.queue_url = queue_url
        self._tracer = get_tracer()
        self._inst = get_instruments()
        self._queue_attrs = {ATTR_SYSTEM: SYSTEM, ATTR_DESTINATION: queue}
        self._attrs: dict[tuple[str, str | None, str | None], dict[str, Any]] = {}
        self._span_attrs: dict[str, dict[str, Any]] = {}
        self._held: Held | None = None
        self._pool: HasCapacity | None = None

    def attrs(
        self, spec: MetricSpec, operation: str | None = None, error: str | None = None
    ) -> dict[str, Any]:
        """The attributes ``spec`` declares, for ``operation`` and ``error.type``; cached."""
        key = (spec.name, operation, error)
        found = self._attrs.get(key)
        if found is None:
            found = metric_attributes(
                spec, self.queue, operation=operation, error_type=error, queue_url=self.queue_url
            )
            self._attrs[key] = found
        return found

    def base_attrs(self, operation: str) -> dict[str, Any]:
        """The span attributes every ``operation`` span of this queue has; built once, shared
        (never modify it)."""
        base = self._span_attrs.get(operation)
        if base is None:
            base = messaging_attributes(operation, self.queue, queue_url=self.queue_url)
            self._span_attrs[operation] = base
        return base

    def span_attrs(self, operation: str, key: str, value: Any) -> dict[str, Any]:
        """Span attributes of ``operation`` plus one varying ``key``; the rest built once."""
        attributes = dict(self.base_attrs(operation))
        attributes[key] = value
        return attributes

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

    # --- settle calls ----------------------------------------------------------------------
    @contextlib.contextmanager
    def call_span(
        self,
        operation: str,
        count: int,
        links: Iterable[tuple[SpanContext | None, str | None]] = (),
    ) -> Iterator[Span]:
        """A CLIENT span and a duration point around one batch call (heartbeat, delete, release).

        ``links``: (creation context, message id) of the messages settled, as the messaging
        conventions ask of batch settle spans, so a delete can be found from the producer's
        trace; consumed only when the span records (see
        :func:`~sqsobs.telemetry.add_message_links`). A call that raised marks the span
        failed, with its request id.
        """
        started = time.perf_counter()
        error: str | None = None
        with self._tracer.start_as_current_span(
            span_name(operation, self.queue),
            context=None,
            kind=KINDS[operation],
            attributes=self.span_attrs(operation, ATTR_BATCH_COUNT, count),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            add_message_links(span, links)
            try:
                with suppress_other_instrumentation():  # this span is the call's one span
                    yield span
            except BaseException as exc:
                record_error(span, exc)
                set_request_id(span, exc)
                error = classify_error(exc)
                raise
            finally:
                self._inst.histogram(OPERATION_DURATION).record(
                    time.perf_counter() - started, self.attrs(OPERATION_DURATION, operation, error)
                )

    def call_result(self, span: Span, operation: str, outcome: BatchOutcome) -> None:
        """What a batch call answered, on its span: request id; failed entries mark it failed.

        As for SendMessageBatch, the call itself worked (its duration carries no error), but
        the span says that entries failed: ``error.type`` (the first entry's code), ERROR status
        and ``sqsobs.{operation}.failed_count``.
        """
        if outcome.request_id is not None:
            span.set_attribute(ATTR_REQUEST_ID, outcome.request_id)
        if outcome.failed:
            span.set_attribute(f"sqsobs.{operation}.failed_count", len(outcome.failed))
            record_error(span, next(iter(outcome.failed.values()))[0])

    def heartbeats(self, count: int, error_type: str | None = None) -> None:
        """Count visibility extensions (failed ones with their error.type)."""
        if count:
            self._inst.counter(HEARTBEATS).add(count, self.attrs(HEARTBEATS, error=error_type))

    def deletes(self, count: int, error_type: str | None = None) -> None:
        """Count deletes (failed ones with their error.type)."""
        if count:
            self._inst.counter(DELETES).add(count, self.attrs(DELETES, error=error_type))

    def max_extend_exceeded(self, count: int = 1) -> None:
        """Count handlers that outlived max_extend."""
        self._inst.counter(MAX_EXTEND_EXCEEDED).add(count, self._queue_attrs)


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
