"""Trace context inside SQS message attributes, and the X-Ray ``AWSTraceHeader``.

The producer injects the current context with the global propagator (W3C ``traceparent`` /
``tracestate`` and ``baggage`` by default) as String message attributes. The user's attributes
always win: when there is no room (10 attributes, or the size limit), injection is skipped for that
message, counted and logged at debug. The consumer extracts from the message attributes, falling
back to the ``AWSTraceHeader`` system attribute. Malformed or hostile values are ignored, counted,
and never raise.

Example::

    attrs = dict(user_attributes)
    inject_context(attrs, destination="orders")          # adds traceparent if there is room
    ctx = extract_context(received_message, destination="orders")
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, MutableMapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from sqsobs.limits import MAX_MESSAGE_ATTRIBUTES, attribute_size
from sqsobs.telemetry.catalog import (
    ATTR_DESTINATION,
    ATTR_PROPAGATION_REASON,
    ATTR_SYSTEM,
    PROPAGATION_SKIPPED,
    SYSTEM,
)
from sqsobs.telemetry.instruments import get_instruments

__all__ = [
    "AWS_TRACE_HEADER",
    "MAX_CONTEXT_VALUE_LENGTH",
    "extract_context",
    "inject_context",
    "xray_trace_header",
]

logger = logging.getLogger(__name__)

#: The SQS message *system* attribute X-Ray and Lambda read.
AWS_TRACE_HEADER = "AWSTraceHeader"
#: Longest context value read from a message; longer values are hostile and ignored.
MAX_CONTEXT_VALUE_LENGTH = 8192

_XRAY = re.compile(
    r"^Root=1-([0-9a-f]{8})-([0-9a-f]{24});Parent=([0-9a-f]{16});Sampled=([01])(;.*)?$"
)


class _AttributeSetter(Setter[MutableMapping[str, Any]]):
    def set(self, carrier: MutableMapping[str, Any], key: str, value: str) -> None:
        carrier[key] = {"DataType": "String", "StringValue": value}


class _AttributeGetter(Getter[Mapping[str, Any]]):
    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        attribute = carrier.get(key)
        if not isinstance(attribute, Mapping):
            return None
        value = attribute.get("StringValue")
        if not isinstance(value, str) or len(value) > MAX_CONTEXT_VALUE_LENGTH:
            return None
        return [value]

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return list(carrier.keys())


_SETTER = _AttributeSetter()
_GETTER = _AttributeGetter()


def _count_skip(destination: str, reason: str) -> None:
    get_instruments().counter(PROPAGATION_SKIPPED).add(
        1, {ATTR_SYSTEM: SYSTEM, ATTR_DESTINATION: destination, ATTR_PROPAGATION_REASON: reason}
    )


def inject_context(
    attributes: MutableMapping[str, Any],
    *,
    destination: str,
    context: Context | None = None,
    room_bytes: int | None = None,
) -> bool:
    """Add the context's propagation fields to ``attributes`` if they all fit; return whether.

    Nothing is added when the current context has nothing to propagate. Fields are added all or
    nothing: never over 10 attributes, never over ``room_bytes`` extra bytes, never replacing a
    user attribute. A skip is counted (``sqsobs.propagation.skipped``) and logged at debug.
    """
    fields: dict[str, Any] = {}
    propagate.inject(fields, context=context, setter=_SETTER)
    if not fields:
        return False
    if any(key in attributes for key in fields):
        return _skipped(destination, "attribute_taken")
    if len(attributes) + len(fields) > MAX_MESSAGE_ATTRIBUTES:
        return _skipped(destination, "no_room")
    if room_bytes is not None:
        extra = sum(attribute_size(key, value) for key, value in fields.items())
        if extra > room_bytes:
            return _skipped(destination, "no_room_bytes")
    attributes.update(fields)
    return True


def _skipped(destination: str, reason: str) -> bool:
    _count_skip(destination, reason)
    logger.debug("trace context not injected into a message for %s: %s", destination, reason)
    return False


def xray_trace_header(context: Context | None = None) -> str | None:
    """The current span's context in X-Ray's ``AWSTraceHeader`` format, or None if invalid."""
    span_context = trace.get_current_span(context).get_span_context()
    if not span_context.is_valid:
        return None
    trace_id = f"{span_context.trace_id:032x}"
    sampled = "1" if span_context.trace_flags.sampled else "0"
    return (
        f"Root=1-{trace_id[:8]}-{trace_id[8:]};Parent={span_context.span_id:016x};Sampled={sampled}"
    )


def extract_context(message: Mapping[str, Any], *, destination: str) -> Context | None:
    """The producer's context carried by a received message, or None.

    Reads ``MessageAttributes`` with the global propagator, then falls back to the
    ``AWSTraceHeader`` system attribute. Malformed values are ignored and counted.
    """
    try:
        return _extract(message, destination)
    except Exception:  # a hostile message must never reach the handler as an exception
        _count_skip(destination, "malformed")
        logger.debug("ignored an unreadable trace context on %s", destination, exc_info=True)
        return None


def _extract(message: Mapping[str, Any], destination: str) -> Context | None:
    attributes = message.get("MessageAttributes")
    present = False
    if isinstance(attributes, Mapping) and attributes:
        present = "traceparent" in attributes
        context = propagate.extract(attributes, getter=_GETTER)
        if trace.get_current_span(context).get_span_context().is_valid:
            return context
    system = message.get("Attributes")
    header = system.get(AWS_TRACE_HEADER) if isinstance(system, Mapping) else None
    if isinstance(header, str):
        xray_context = _from_xray(header)
        if xray_context is not None:
            return xray_context
        present = True
    if present:
        _count_skip(destination, "malformed")
    return None


def _from_xray(header: str) -> Context | None:
    match = _XRAY.match(header) if len(header) <= MAX_CONTEXT_VALUE_LENGTH else None
    if match is None:
        return None
    span_context = SpanContext(
        trace_id=int(match.group(1) + match.group(2), 16),
        span_id=int(match.group(3), 16),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if match.group(4) == "1" else 0),
    )
    if not span_context.is_valid:
        return None
    return trace.set_span_in_context(NonRecordingSpan(span_context))
