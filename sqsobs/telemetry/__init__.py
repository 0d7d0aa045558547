"""The telemetry layer: what the producer, the listener and the dramatiq broker record with.

Everything here uses ``opentelemetry-api`` only; :func:`configure_telemetry` (loaded on first
use) is the one entry point that wires the SDK and its exporters. The names below are the
advanced tier of sqsobs' API: the semantic-convention span names, kinds and attributes, the
catalog's instruments and the trace-context propagation through message attributes, for anyone
instrumenting their own SQS calls the same way. The metric catalog itself is
:mod:`sqsobs.telemetry.catalog`.

Example::

    from sqsobs.telemetry import OP_SEND, get_tracer, messaging_attributes, span_name

    with get_tracer().start_as_current_span(
        span_name(OP_SEND, "orders"), attributes=messaging_attributes(OP_SEND, "orders")
    ):
        ...
"""

from __future__ import annotations

import typing

from sqsobs.telemetry._extraction import MAX_CONTEXT_VALUE_LENGTH, extract_context
from sqsobs.telemetry._instruments import (
    INSTRUMENTATION_NAME,
    SCHEMA_URL,
    Instruments,
    get_instruments,
)
from sqsobs.telemetry._links import add_message_links, message_link
from sqsobs.telemetry._propagation import (
    FIELD_ALL,
    REASON_ATTRIBUTE_TAKEN,
    REASON_ERROR,
    REASON_INVALID,
    REASON_MALFORMED,
    REASON_NO_ROOM,
    REASON_NO_ROOM_BYTES,
    Injection,
    inject_context,
    inject_context_fields,
    inject_context_size,
)
from sqsobs.telemetry._spans import (
    ATTR_BATCH_COUNT,
    ATTR_MESSAGE_ID,
    ATTR_OPERATION_TYPE,
    ATTR_QUEUE_URL,
    ATTR_REQUEST_ID,
    ATTR_SERVER_ADDRESS,
    ATTR_SERVER_PORT,
    KINDS,
    OP_CREATE,
    OP_DELETE,
    OP_FLUSH,
    OP_HEARTBEAT,
    OP_PROCESS,
    OP_RECEIVE,
    OP_RELEASE,
    OP_RETRY,
    OP_SEND,
    OP_SPLIT,
    OPERATION_TYPES,
    aws_request_id,
    error_type,
    get_tracer,
    messaging_attributes,
    metric_attributes,
    record_error,
    set_request_id,
    span_name,
)
from sqsobs.telemetry._xray import AWS_TRACE_HEADER, xray_trace_header

if typing.TYPE_CHECKING:
    from sqsobs.telemetry._handle import Telemetry
    from sqsobs.telemetry._setup import configure_telemetry


def __getattr__(name: str) -> object:
    # The SDK loads only when configure_telemetry is asked for (see sqsobs/__init__.py).
    if name == "configure_telemetry":
        from sqsobs.telemetry._setup import configure_telemetry

        return configure_telemetry
    if name == "Telemetry":
        from sqsobs.telemetry._handle import Telemetry

        return Telemetry
    raise AttributeError(f"module 'sqsobs.telemetry' has no attribute {name!r}")


__all__ = [
    "ATTR_BATCH_COUNT",
    "ATTR_MESSAGE_ID",
    "ATTR_OPERATION_TYPE",
    "ATTR_QUEUE_URL",
    "ATTR_REQUEST_ID",
    "ATTR_SERVER_ADDRESS",
    "ATTR_SERVER_PORT",
    "AWS_TRACE_HEADER",
    "FIELD_ALL",
    "INSTRUMENTATION_NAME",
    "Injection",
    "Instruments",
    "KINDS",
    "MAX_CONTEXT_VALUE_LENGTH",
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
    "REASON_ATTRIBUTE_TAKEN",
    "REASON_ERROR",
    "REASON_INVALID",
    "REASON_MALFORMED",
    "REASON_NO_ROOM",
    "REASON_NO_ROOM_BYTES",
    "SCHEMA_URL",
    "Telemetry",
    "add_message_links",
    "aws_request_id",
    "configure_telemetry",
    "error_type",
    "extract_context",
    "get_instruments",
    "get_tracer",
    "inject_context",
    "inject_context_fields",
    "inject_context_size",
    "message_link",
    "messaging_attributes",
    "metric_attributes",
    "record_error",
    "set_request_id",
    "span_name",
    "xray_trace_header",
]
