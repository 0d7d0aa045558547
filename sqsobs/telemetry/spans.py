"""Span names, kinds and attributes from the OpenTelemetry messaging semantic conventions.

Span names are ``"{messaging.operation.name} {queue}"``; ``messaging.system`` is ``aws_sqs``;
``messaging.operation.type`` is one of create / send / receive / process / settle.

Example::

    with get_tracer().start_as_current_span(
        span_name(OP_SEND, "orders"), kind=SpanKind.CLIENT,
        attributes=messaging_attributes(OP_SEND, "orders", batch_count=10),
    ) as span:
        ...
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider

from sqsobs._version import __version__
from sqsobs.errors import SqsObsError
from sqsobs.telemetry.catalog import (
    ATTR_DESTINATION,
    ATTR_ERROR_TYPE,
    ATTR_OPERATION_NAME,
    ATTR_SYSTEM,
    SYSTEM,
)
from sqsobs.telemetry.instruments import INSTRUMENTATION_NAME

__all__ = [
    "ATTR_BATCH_COUNT",
    "ATTR_MESSAGE_ID",
    "ATTR_OPERATION_TYPE",
    "ATTR_QUEUE_URL",
    "KINDS",
    "OPERATION_TYPES",
    "OP_CREATE",
    "OP_DELETE",
    "OP_FLUSH",
    "OP_HEARTBEAT",
    "OP_PROCESS",
    "OP_RECEIVE",
    "OP_RELEASE",
    "OP_RETRY",
    "OP_SEND",
    "error_type",
    "get_tracer",
    "messaging_attributes",
    "record_error",
    "span_name",
]

ATTR_OPERATION_TYPE = "messaging.operation.type"
ATTR_BATCH_COUNT = "messaging.batch.message_count"
ATTR_MESSAGE_ID = "messaging.message.id"
ATTR_QUEUE_URL = "aws.sqs.queue.url"

OP_CREATE = "create"
OP_SEND = "send"
OP_RECEIVE = "receive"
OP_PROCESS = "process"
OP_DELETE = "delete"
OP_HEARTBEAT = "heartbeat"
OP_RELEASE = "release"
OP_FLUSH = "flush"
OP_RETRY = "retry"

#: messaging.operation.type per operation name (None: an sqsobs-internal span).
OPERATION_TYPES: dict[str, str | None] = {
    OP_CREATE: "create",
    OP_SEND: "send",
    OP_RECEIVE: "receive",
    OP_PROCESS: "process",
    OP_DELETE: "settle",
    OP_HEARTBEAT: "settle",
    OP_RELEASE: "settle",
    OP_FLUSH: None,
    OP_RETRY: None,
}

#: Span kind per operation name.
KINDS: dict[str, SpanKind] = {
    OP_CREATE: SpanKind.PRODUCER,
    OP_SEND: SpanKind.CLIENT,
    OP_RECEIVE: SpanKind.CLIENT,
    OP_PROCESS: SpanKind.CONSUMER,
    OP_DELETE: SpanKind.CLIENT,
    OP_HEARTBEAT: SpanKind.CLIENT,
    OP_RELEASE: SpanKind.CLIENT,
    OP_FLUSH: SpanKind.INTERNAL,
    OP_RETRY: SpanKind.INTERNAL,
}


def get_tracer(tracer_provider: TracerProvider | None = None) -> Tracer:
    """The sqsobs tracer on ``tracer_provider`` (default: the global one, proxied until set)."""
    return trace.get_tracer(INSTRUMENTATION_NAME, __version__, tracer_provider=tracer_provider)


def span_name(operation: str, queue: str) -> str:
    """``"{operation} {queue}"``, as the messaging conventions name spans."""
    return f"{operation} {queue}"


def messaging_attributes(
    operation: str,
    queue: str,
    *,
    queue_url: str | None = None,
    batch_count: int | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """The semantic-convention attributes of a span for ``operation`` on ``queue``."""
    attrs: dict[str, Any] = {
        ATTR_SYSTEM: SYSTEM,
        ATTR_OPERATION_NAME: operation,
        ATTR_DESTINATION: queue,
    }
    op_type = OPERATION_TYPES.get(operation)
    if op_type is not None:
        attrs[ATTR_OPERATION_TYPE] = op_type
    if queue_url is not None:
        attrs[ATTR_QUEUE_URL] = queue_url
    if batch_count is not None:
        attrs[ATTR_BATCH_COUNT] = batch_count
    if message_id is not None:
        attrs[ATTR_MESSAGE_ID] = message_id
    return attrs


def error_type(error: BaseException) -> str:
    """The low-cardinality ``error.type`` of an exception."""
    if isinstance(error, SqsObsError):
        code = getattr(error, "code", "")
        return str(code) if code else error.error_type
    return type(error).__qualname__


def record_error(span: Span, error: BaseException | str) -> None:
    """Mark ``span`` failed: ``error.type``, ERROR status, and the exception as an event."""
    if isinstance(error, BaseException):
        span.record_exception(error)
        kind = error_type(error)
    else:
        kind = error
    span.set_attribute(ATTR_ERROR_TYPE, kind)
    span.set_status(Status(StatusCode.ERROR, kind))
