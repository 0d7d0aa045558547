"""Span names, kinds and attributes from the OpenTelemetry messaging semantic conventions.

Span names are ``"{messaging.operation.name} {queue}"``; ``messaging.system`` is ``aws_sqs``;
``messaging.operation.type`` is one of create / send / receive / process / settle. Span kinds follow
the conventions for batch publishing with per-message "create" spans: create is PRODUCER, send,
receive and settle calls are CLIENT, process is CONSUMER, flush, split and retry are INTERNAL.

Example::

    with get_tracer().start_as_current_span(
        span_name(OP_SEND, "orders"), kind=SpanKind.CLIENT,
        attributes=messaging_attributes(OP_SEND, "orders", batch_count=10),
    ) as span:
        ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.trace import (
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    TracerProvider,
)

from sqsobs._version import __version__
from sqsobs.errors import SqsObsError
from sqsobs.telemetry._instruments import INSTRUMENTATION_NAME, SCHEMA_URL
from sqsobs.telemetry.catalog import (
    ATTR_DESTINATION,
    ATTR_ERROR_TYPE,
    ATTR_OPERATION_NAME,
    ATTR_OPERATION_TYPE,
    ATTR_SERVER_ADDRESS,
    ATTR_SERVER_PORT,
    ATTR_SYSTEM,
    SYSTEM,
    MetricSpec,
)

__all__ = [
    "ATTR_BATCH_COUNT",
    "ATTR_MESSAGE_ID",
    "ATTR_OPERATION_TYPE",
    "ATTR_QUEUE_URL",
    "ATTR_REQUEST_ID",
    "ATTR_SERVER_ADDRESS",
    "ATTR_SERVER_PORT",
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
    "OP_SPLIT",
    "aws_request_id",
    "error_type",
    "get_tracer",
    "messaging_attributes",
    "metric_attributes",
    "record_error",
    "set_request_id",
    "span_name",
]

ATTR_BATCH_COUNT = "messaging.batch.message_count"
ATTR_MESSAGE_ID = "messaging.message.id"
ATTR_QUEUE_URL = "aws.sqs.queue.url"
#: The AWS request id of the SQS call a span made (``x-amzn-requestid``).
ATTR_REQUEST_ID = "aws.request_id"

OP_CREATE = "create"
OP_SEND = "send"
OP_RECEIVE = "receive"
OP_PROCESS = "process"
OP_DELETE = "delete"
OP_HEARTBEAT = "heartbeat"
OP_RELEASE = "release"
OP_FLUSH = "flush"
OP_SPLIT = "split"
OP_RETRY = "retry"

#: messaging.operation.type per operation name (None: an sqsobs-internal span).
OPERATION_TYPES: dict[str, str | None] = {
    OP_CREATE: "create",
    OP_SEND: "send",
    OP_RECEIVE: "receive",
    OP_PROCESS: "process",
    OP_DELETE: "settle",
    # Extending visibility keeps a message leased; it settles nothing (semconv: settle means
    # acknowledging or rejecting), so it carries no operation type rather than a wrong one.
    OP_HEARTBEAT: None,
    OP_RELEASE: "settle",
    OP_FLUSH: None,
    OP_SPLIT: None,
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
    OP_SPLIT: SpanKind.INTERNAL,
    OP_RETRY: SpanKind.INTERNAL,
}


def get_tracer(tracer_provider: TracerProvider | None = None) -> Tracer:
    """The sqsobs tracer on ``tracer_provider`` (default: the global one, proxied until set).

    Example::

        with get_tracer().start_as_current_span("checkout"):
            producer.send("orders", body)     # the message carries this trace
    """
    return trace.get_tracer(
        INSTRUMENTATION_NAME, __version__, tracer_provider=tracer_provider, schema_url=SCHEMA_URL
    )


def span_name(operation: str, queue: str) -> str:
    """``"{operation} {queue}"``, as the messaging conventions name spans.

    Example::

        >>> span_name(OP_SEND, "orders")
        'send orders'
    """
    return f"{operation} {queue}"


def messaging_attributes(
    operation: str,
    queue: str,
    *,
    queue_url: str | None = None,
    batch_count: int | None = None,
    message_id: str | None = None,
    server_address: str | None = None,
    server_port: int | None = None,
) -> dict[str, Any]:
    """The semantic-convention attributes of a span for ``operation`` on ``queue``.

    ``server.address`` / ``server.port`` ("conditionally required if available") are taken from
    ``queue_url`` unless given.

    Example::

        >>> attributes = messaging_attributes(OP_SEND, "orders", batch_count=10)
        >>> attributes["messaging.operation.type"], attributes["messaging.batch.message_count"]
        ('send', 10)
    """
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
        if server_address is None:
            server_address, server_port = _server_of(queue_url, server_port)
    if server_address:
        attrs[ATTR_SERVER_ADDRESS] = server_address
        if server_port is not None:
            attrs[ATTR_SERVER_PORT] = server_port
    if batch_count is not None:
        attrs[ATTR_BATCH_COUNT] = batch_count
    if message_id is not None:
        attrs[ATTR_MESSAGE_ID] = message_id
    return attrs


def _server_of(url: str, port: int | None) -> tuple[str | None, int | None]:
    try:
        parts = urlsplit(url)
        return parts.hostname, port if port is not None else parts.port
    except ValueError:  # a malformed URL costs the attribute, never the span
        return None, port


def metric_attributes(
    spec: MetricSpec,
    queue: str,
    *,
    operation: str | None = None,
    error_type: str | None = None,
    queue_url: str | None = None,
    **extra: str,
) -> dict[str, str | int]:
    """The attributes to record on catalog instrument ``spec``, and only those it declares.

    ``messaging.operation.type`` is derived from ``operation``; ``error.type`` is set only when
    given (the conventions forbid it on success); ``server.address`` / ``server.port`` come from
    ``queue_url`` (two regions' queues of one name stay apart). ``extra`` holds the ``sqsobs.*``
    attributes by their Python-safe keyword (``flush_reason=...`` for ``sqsobs.flush.reason``).

    Example::

        inst.counter(FLUSHES).add(1, metric_attributes(FLUSHES, "orders", flush_reason="size"))
    """
    if operation is None and ATTR_OPERATION_NAME in spec.attributes:
        raise ValueError(f"{spec.name} requires messaging.operation.name: pass operation=")
    address, port = _server_of(queue_url, None) if queue_url else (None, None)
    candidates: dict[str, str | int | None] = {
        ATTR_SYSTEM: SYSTEM,
        ATTR_DESTINATION: queue,
        ATTR_OPERATION_NAME: operation,
        ATTR_OPERATION_TYPE: OPERATION_TYPES.get(operation) if operation else None,
        ATTR_ERROR_TYPE: error_type,
        ATTR_SERVER_ADDRESS: address,
        ATTR_SERVER_PORT: port,
    }
    for keyword, value in extra.items():
        key = f"sqsobs.{keyword.replace('_', '.')}"
        if key not in spec.attributes:
            raise ValueError(f"{spec.name} has no attribute {key!r}")
        candidates[key] = value
    return {
        key: value
        for key, value in candidates.items()
        if value is not None and key in spec.attributes
    }


def error_type(error: BaseException) -> str:
    """The low-cardinality ``error.type`` of an exception: an SQS error code, else its class.

    Example::

        >>> error_type(TimeoutError())
        'TimeoutError'
    """
    if isinstance(error, SqsObsError):
        code = getattr(error, "code", "")
        return str(code) if code else error.error_type
    return type(error).__qualname__


def record_error(span: Span, error: BaseException | str) -> None:
    """Mark ``span`` failed: ``error.type``, ERROR status, and the exception as an event.

    Example::

        with get_tracer().start_as_current_span(span_name(OP_PROCESS, "orders")) as span:
            try:
                handle(message)
            except Exception as error:
                record_error(span, error)
                raise
    """
    if isinstance(error, BaseException):
        span.record_exception(error)
        kind = error_type(error)
    else:
        kind = error
    span.set_attribute(ATTR_ERROR_TYPE, kind)
    span.set_status(Status(StatusCode.ERROR, kind))


def aws_request_id(source: object) -> str | None:
    """The AWS request id of a boto3 response, or of the botocore error behind an exception.

    Follows an exception's ``__cause__`` (sqsobs raises its errors ``from`` botocore's).

    Example::

        >>> aws_request_id({"ResponseMetadata": {"RequestId": "79b9da39"}})
        '79b9da39'
    """
    for _ in range(4):  # the response, or an error and a few of its causes
        response = source if isinstance(source, Mapping) else getattr(source, "response", None)
        if isinstance(response, Mapping):
            metadata = response.get("ResponseMetadata")
            request_id = metadata.get("RequestId") if isinstance(metadata, Mapping) else None
            if isinstance(request_id, str) and request_id:
                return request_id
        source = getattr(source, "__cause__", None)
        if source is None:
            return None
    return None


def set_request_id(span: Span, source: object) -> None:
    """Set ``aws.request_id`` on ``span`` from a response or an error, when there is one."""
    request_id = aws_request_id(source)
    if request_id is not None:
        span.set_attribute(ATTR_REQUEST_ID, request_id)
