"""The listener's spans and metrics, in one place, names from the catalog.

Attribute dicts are built once per listener so that a message costs a few dictionary look-ups.
Telemetry never breaks message flow: span and metric calls go through the OpenTelemetry API
(which does not raise), and everything that reads message data is guarded.

Example::

    tel = ListenerTelemetry("orders", queue_url)
    with tel.call_span(OP_DELETE, 10):
        client.delete_message_batch(...)
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace import Link, Span, SpanContext

from sqsobs.listener._message import SqsMessage
from sqsobs.telemetry import (
    ATTR_BATCH_COUNT,
    ATTR_MESSAGE_ID,
    KINDS,
    OP_PROCESS,
    OP_RECEIVE,
    get_instruments,
    get_tracer,
    messaging_attributes,
    metric_attributes,
    record_error,
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
    POLL_ERRORS,
    PROCESS_DURATION,
    RECEIVE_COUNT,
    SYSTEM,
    MetricSpec,
)

__all__ = ["ListenerTelemetry", "flush_telemetry"]

logger = logging.getLogger(__name__)


class ListenerTelemetry:
    """Spans and metrics of one listener on one queue."""

    def __init__(self, queue: str, queue_url: str) -> None:
        self.queue = queue
        self.queue_url = queue_url
        self._tracer = get_tracer()
        self._inst = get_instruments()
        self._queue_attrs = {ATTR_SYSTEM: SYSTEM, ATTR_DESTINATION: queue}
        self._attrs: dict[tuple[str, str | None, str | None], dict[str, str]] = {}
        self._span_attrs: dict[str, dict[str, Any]] = {}

    def attrs(
        self, spec: MetricSpec, operation: str | None = None, error: str | None = None
    ) -> dict[str, str]:
        """The attributes ``spec`` declares, for ``operation`` and ``error.type``; cached."""
        key = (spec.name, operation, error)
        found = self._attrs.get(key)
        if found is None:
            found = metric_attributes(spec, self.queue, operation=operation, error_type=error)
            self._attrs[key] = found
        return found

    def span_attrs(self, operation: str, key: str, value: Any) -> dict[str, Any]:
        """Span attributes of ``operation`` plus one varying ``key``; the rest built once."""
        base = self._span_attrs.get(operation)
        if base is None:
            base = messaging_attributes(operation, self.queue, queue_url=self.queue_url)
            self._span_attrs[operation] = base
        attributes = dict(base)
        attributes[key] = value
        return attributes

    # --- receive ---------------------------------------------------------------------------
    def received(
        self, messages: Sequence[SqsMessage], started_ns: int, duration_seconds: float
    ) -> SpanContext | None:
        """Record a ReceiveMessage that returned messages; return its span's context."""
        self._inst.histogram(OPERATION_DURATION).record(
            duration_seconds, self.attrs(OPERATION_DURATION, OP_RECEIVE)
        )
        self._inst.counter(CONSUMED_MESSAGES).add(
            len(messages), self.attrs(CONSUMED_MESSAGES, OP_RECEIVE)
        )
        self._inst.updown(INFLIGHT).add(len(messages), self._queue_attrs)
        now = time.time()
        age = self._inst.histogram(MESSAGE_AGE)
        count = self._inst.histogram(RECEIVE_COUNT)
        links: list[Link] = []
        for message in messages:
            sent = message.attributes.get("SentTimestamp")
            with contextlib.suppress(TypeError, ValueError):
                age.record(max(0.0, now - int(str(sent)) / 1000.0), self._queue_attrs)
            count.record(message.receive_count, self._queue_attrs)
            creation = creation_context(message)
            if creation is not None:
                links.append(Link(creation))
        span = self._tracer.start_span(
            span_name(OP_RECEIVE, self.queue),
            kind=KINDS[OP_RECEIVE],
            attributes=self.span_attrs(OP_RECEIVE, ATTR_BATCH_COUNT, len(messages)),
            links=links,
            start_time=started_ns,
        )
        span.end()
        context = span.get_span_context()
        return context if context.is_valid else None

    def empty_receive(
        self, duration_seconds: float, started_ns: int = 0, *, traced: bool = False
    ) -> None:
        """Count a ReceiveMessage that returned nothing; a span only when ``traced``."""
        self._inst.histogram(OPERATION_DURATION).record(
            duration_seconds, self.attrs(OPERATION_DURATION, OP_RECEIVE)
        )
        self._inst.counter(EMPTY_RECEIVES).add(1, self._queue_attrs)
        if traced:
            self._tracer.start_span(
                span_name(OP_RECEIVE, self.queue),
                kind=KINDS[OP_RECEIVE],
                attributes=self.span_attrs(OP_RECEIVE, ATTR_BATCH_COUNT, 0),
                start_time=started_ns or None,
            ).end()

    def poll_error(self, error_type: str, duration_seconds: float) -> None:
        """Count a failed ReceiveMessage."""
        self._inst.histogram(OPERATION_DURATION).record(
            duration_seconds, self.attrs(OPERATION_DURATION, OP_RECEIVE, error_type)
        )
        self._inst.counter(POLL_ERRORS).add(1, self.attrs(POLL_ERRORS, error=error_type))

    # --- process ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def process_span(
        self, messages: Sequence[SqsMessage], receive: SpanContext | None, *, batch: bool
    ) -> Iterator[Span]:
        """The ``process`` span around a handler call, current while it runs.

        Per message, its parent is the producer's context; for a batch it links every message.
        """
        links = [Link(receive)] if receive is not None else []
        parent = None
        if batch:
            for message in messages:
                creation = creation_context(message)
                if creation is not None:
                    links.append(Link(creation))
            attributes = self.span_attrs(OP_PROCESS, ATTR_BATCH_COUNT, len(messages))
        else:
            parent = messages[0].context
            attributes = self.span_attrs(OP_PROCESS, ATTR_MESSAGE_ID, messages[0].message_id)
        with self._tracer.start_as_current_span(
            span_name(OP_PROCESS, self.queue),
            context=parent,
            kind=KINDS[OP_PROCESS],
            attributes=attributes,
            links=links,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
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
        self, operation: str, count: int, links: Sequence[SpanContext] = ()
    ) -> Iterator[Span]:
        """A CLIENT span and a duration point around one batch call (heartbeat, delete, release).

        ``links``: the creation contexts of the messages settled, as the messaging conventions
        ask of batch settle spans, so a delete can be found from the producer's trace.
        """
        started = time.perf_counter()
        error: str | None = None
        with self._tracer.start_as_current_span(
            span_name(operation, self.queue),
            context=None,
            kind=KINDS[operation],
            attributes=self.span_attrs(operation, ATTR_BATCH_COUNT, count),
            links=[Link(context) for context in links],
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except BaseException as exc:
                record_error(span, exc)
                error = classify_error(exc)
                raise
            finally:
                self._inst.histogram(OPERATION_DURATION).record(
                    time.perf_counter() - started, self.attrs(OPERATION_DURATION, operation, error)
                )

    def heartbeats(self, count: int, error_type: str | None = None) -> None:
        """Count visibility extensions (failed ones with their error.type)."""
        if count:
            self._inst.counter(HEARTBEATS).add(count, self.attrs(HEARTBEATS, error=error_type))

    def deletes(self, count: int, error_type: str | None = None) -> None:
        """Count deletes (failed ones with their error.type)."""
        if count:
            self._inst.counter(DELETES).add(count, self.attrs(DELETES, error=error_type))

    def settled(self, count: int) -> None:
        """Messages that left the listener's hands (deleted, released or left to expire)."""
        if count:
            self._inst.updown(INFLIGHT).add(-count, self._queue_attrs)

    def max_extend_exceeded(self, count: int = 1) -> None:
        """Count handlers that outlived max_extend."""
        self._inst.counter(MAX_EXTEND_EXCEEDED).add(count, self._queue_attrs)


def creation_context(message: SqsMessage) -> SpanContext | None:
    """The producer's span context a message carries, if it carries a valid one."""
    context = message.context
    if context is None:
        return None
    span_context = trace.get_current_span(context).get_span_context()
    return span_context if span_context.is_valid else None


def flush_telemetry(timeout_seconds: float) -> bool:
    """Have the global tracer and meter providers export what they hold, within the timeout.

    Through the API only: a provider that can flush (the SDK's) is asked to, on a daemon thread,
    so a collector that does not answer cannot hold the caller (a draining process) past the
    timeout. True if everything was flushed in time (or there was nothing to flush).
    """
    providers = (trace.get_tracer_provider(), metrics.get_meter_provider())
    flushes = [getattr(provider, "force_flush", None) for provider in providers]
    calls = [flush for flush in flushes if callable(flush)]
    if not calls:
        return True
    millis = int(timeout_seconds * 1000)
    done = threading.Event()

    def run() -> None:
        for flush in calls:
            try:
                flush(millis)
            except Exception:  # telemetry never breaks the drain
                logger.debug("telemetry flush failed", exc_info=True)
        done.set()

    threading.Thread(target=run, name="sqsobs-telemetry-flush", daemon=True).start()
    return done.wait(timeout_seconds)
