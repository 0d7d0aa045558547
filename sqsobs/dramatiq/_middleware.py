"""Worker-side tracing for dramatiq: each actor call runs in a ``process {queue}`` CONSUMER span.

The span's parent is the producer's ``create {queue}`` span, read from the SQS message
attributes (W3C ``traceparent``) or the ``AWSTraceHeader`` system attribute, so the actor's work
belongs to the trace of the request that enqueued it. A failing actor marks the span failed. Each
call's duration is recorded in ``messaging.process.duration`` (``error.type`` when it failed).
:class:`BatchSQSBroker` installs the middleware and receives messages with their attributes;
for a plain ``SQSBroker`` the span still appears, as a new trace.

Example::

    broker.add_middleware(TracingMiddleware())
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import dramatiq
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, SpanKind, TracerProvider

from sqsobs._urls import queue_name
from sqsobs.telemetry import (
    ATTR_MESSAGE_ID,
    OP_PROCESS,
    error_type,
    extract_context,
    get_instruments,
    get_tracer,
    messaging_attributes,
    metric_attributes,
    record_error,
)
from sqsobs.telemetry.catalog import PROCESS_DURATION

__all__ = ["TracingMiddleware", "creation_context", "received_context", "sqs_queue_name"]

logger = logging.getLogger(__name__)

ATTR_ACTOR = "sqsobs.dramatiq.actor"


def _queue_url(message: Any) -> str | None:
    url = getattr(getattr(message, "_sqs_message", None), "queue_url", None)
    return url if isinstance(url, str) and url else None


def sqs_queue_name(message: Any) -> str:
    """The SQS queue a received dramatiq message came from (else its dramatiq queue name)."""
    url = _queue_url(message)
    if url is not None:
        return queue_name(url)
    return str(message.queue_name)


def _carrier(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    carrier: dict[str, Any] = {}
    # Resource attributes load from the receive response; never trigger an extra call.
    meta = getattr(raw, "meta", None)
    data = getattr(meta, "data", None) or {}
    if isinstance(data, dict):
        carrier["MessageAttributes"] = data.get("MessageAttributes") or {}
        carrier["Attributes"] = data.get("Attributes") or {}
        carrier["MessageId"] = data.get("MessageId")
    return carrier


def received_context(message: Any) -> Context:
    """The producer's trace context a received message carries (an empty context if none)."""
    return creation_context(getattr(message, "_sqs_message", None), sqs_queue_name(message))


def creation_context(sqs_message: Any, queue: str) -> Context:
    """The producer's trace context a boto3 SQS ``Message`` from ``queue`` carries (an empty
    context if none), before it is decoded into a dramatiq message."""
    carrier = _carrier(sqs_message)
    parent = extract_context(carrier, destination=queue) if carrier else None
    return parent if parent is not None else Context()


@dataclass
class _Running:
    """One actor call under way: its span, the context token, and what its duration needs."""

    message_id: str
    span: Span
    token: object
    queue: str
    queue_url: str | None
    started: float


class TracingMiddleware(dramatiq.Middleware):
    """Opens a ``process {queue}`` span around each actor call, parented on the producer.

    Example::

        broker = dramatiq_sqs.SQSBroker(namespace="my-app")   # BatchSQSBroker adds it itself
        broker.add_middleware(TracingMiddleware(), before=type(broker.middleware[0]))
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self._tracer = get_tracer(tracer_provider)
        self._durations = get_instruments(meter_provider).histogram(PROCESS_DURATION)
        self._local = threading.local()
        # Built once per (queue, URL, actor) and (queue, URL, error.type), not per message.
        self._span_attrs: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self._metric_attrs: dict[tuple[str, str | None, str | None], dict[str, Any]] = {}

    def _span_attributes(self, queue: str, queue_url: str | None, actor: str) -> dict[str, Any]:
        """The attributes every process span of this queue and actor starts with (shared)."""
        key = (queue, queue_url, actor)
        attributes = self._span_attrs.get(key)
        if attributes is None:
            attributes = messaging_attributes(OP_PROCESS, queue, queue_url=queue_url)
            attributes[ATTR_ACTOR] = actor
            self._span_attrs[key] = attributes
        return attributes

    def _stack(self) -> list[_Running]:
        stack: list[_Running] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        """Start the span and make it current for the actor."""
        try:
            queue = sqs_queue_name(message)
            queue_url = _queue_url(message)
            carrier = _carrier(getattr(message, "_sqs_message", None))
            parent = extract_context(carrier, destination=queue) if carrier else None
            span = self._tracer.start_span(
                f"{OP_PROCESS} {queue}",
                context=parent,
                kind=SpanKind.CONSUMER,
                attributes=self._span_attributes(queue, queue_url, str(message.actor_name)),
            )
            message_id = carrier.get("MessageId")
            # Per message, and only on a span that records (sampled out: nothing built).
            if isinstance(message_id, str) and span.is_recording():
                span.set_attribute(ATTR_MESSAGE_ID, message_id)
            token = otel_context.attach(trace.set_span_in_context(span))
            running = _Running(
                str(message.message_id), span, token, queue, queue_url, time.perf_counter()
            )
            self._stack().append(running)
        except Exception:  # tracing must never stop a message from being processed
            logger.debug("could not start the process span", exc_info=True)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        """End the span; a failed actor call marks it failed."""
        self._finish(message, exception, skipped=False)

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        """End the span of a message another middleware skipped."""
        self._finish(message, None, skipped=True)

    def _finish(self, message: Any, exception: BaseException | None, *, skipped: bool) -> None:
        stack = self._stack()
        if not stack or stack[-1].message_id != str(message.message_id):
            return
        running = stack.pop()
        span = running.span
        try:
            if exception is not None:
                record_error(span, exception)
            if skipped:
                span.set_attribute("sqsobs.dramatiq.skipped", True)
            else:
                self._record_duration(running, exception)
            span.end()
        finally:
            otel_context.detach(running.token)  # type: ignore[arg-type]

    def _record_duration(self, running: _Running, exception: BaseException | None) -> None:
        kind = error_type(exception) if exception is not None else None
        key = (running.queue, running.queue_url, kind)
        attributes = self._metric_attrs.get(key)
        if attributes is None:
            attributes = metric_attributes(
                PROCESS_DURATION,
                running.queue,
                operation=OP_PROCESS,
                error_type=kind,
                queue_url=running.queue_url,
            )
            self._metric_attrs[key] = attributes
        self._durations.record(time.perf_counter() - running.started, attributes)
