"""What every span and metric of a listener shares, and the telemetry of its settle calls.

:class:`CallTelemetry` builds each attribute dict once per listener and queue (a message then
costs a few dictionary look-ups) and records the batch calls that settle messages: heartbeats,
deletes and releases, each a CLIENT span with a duration point. :class:`ListenerTelemetry`
(``_telemetry.py``) adds the receive and process side.

Example::

    tel = CallTelemetry("orders", queue_url)
    with tel.call_span(OP_DELETE, 10) as span:
        outcome = delete_batch(client, queue_url, handles)
        tel.call_result(span, OP_DELETE, outcome)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from typing import Any

from opentelemetry.trace import Span, SpanContext

from sqsobs._suppress import suppress_other_instrumentation
from sqsobs.listener._calls import BatchOutcome
from sqsobs.telemetry import (
    ATTR_BATCH_COUNT,
    ATTR_REQUEST_ID,
    KINDS,
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
    DELETES,
    HEARTBEATS,
    MAX_EXTEND_EXCEEDED,
    OPERATION_DURATION,
    SYSTEM,
    MetricSpec,
)

__all__ = ["CallTelemetry"]


class CallTelemetry:
    """Attribute caches of one listener on one queue, and the spans of its settle calls."""

    def __init__(self, queue: str, queue_url: str) -> None:
        self.queue = queue
        self.queue_url = queue_url
        self._tracer = get_tracer()
        self._inst = get_instruments()
        self._queue_attrs = {ATTR_SYSTEM: SYSTEM, ATTR_DESTINATION: queue}
        self._attrs: dict[tuple[str, str | None, str | None], dict[str, Any]] = {}
        self._span_attrs: dict[str, dict[str, Any]] = {}

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
