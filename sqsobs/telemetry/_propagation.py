"""Trace context inside SQS message attributes, and the X-Ray ``AWSTraceHeader``.

The producer injects the current context with the global propagator (W3C ``traceparent`` /
``tracestate`` and ``baggage`` by default, ``OTEL_PROPAGATORS`` to change) as String message
attributes. The user's attributes always win: when there is no room (10 attributes, or the size
limit), or a field name is taken, injection is skipped for that message, counted
(``sqsobs.propagation.skipped``) and logged at debug. The consumer extracts from the message
attributes, falling back to the ``AWSTraceHeader`` system attribute (request it with
``MessageSystemAttributeNames=["AWSTraceHeader"]``). Malformed or hostile values are ignored,
counted, and never raise.

Example::

    attrs = dict(user_attributes)
    inject_context(attrs, destination="orders")          # adds traceparent if there is room
    ctx = extract_context(received_message, destination="orders")
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from typing import Any

from opentelemetry import baggage, propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter

from sqsobs.errors import MessageError
from sqsobs.limits import MAX_MESSAGE_ATTRIBUTES, attribute_size, validate_attributes
from sqsobs.telemetry._instruments import get_instruments
from sqsobs.telemetry._xray import AWS_TRACE_HEADER, span_from_xray_header
from sqsobs.telemetry.catalog import (
    ATTR_DESTINATION,
    ATTR_PROPAGATION_REASON,
    ATTR_SYSTEM,
    PROPAGATION_SKIPPED,
    SYSTEM,
)

__all__ = [
    "MAX_CONTEXT_VALUE_LENGTH",
    "REASON_ATTRIBUTE_TAKEN",
    "REASON_ERROR",
    "REASON_INVALID",
    "REASON_MALFORMED",
    "REASON_NO_ROOM",
    "REASON_NO_ROOM_BYTES",
    "extract_context",
    "inject_context",
    "inject_context_size",
]

logger = logging.getLogger(__name__)

#: Longest context value read from a message; longer values are hostile and ignored.
MAX_CONTEXT_VALUE_LENGTH = 8192

#: ``sqsobs.propagation.reason`` values: injection skipped because 10 attributes would be exceeded,
REASON_NO_ROOM = "no_room"
#: ... because the message would exceed its size limit,
REASON_NO_ROOM_BYTES = "no_room_bytes"
#: ... because the user already set an attribute of that name (theirs wins),
REASON_ATTRIBUTE_TAKEN = "attribute_taken"
#: ... because the propagator produced a field SQS would reject,
REASON_INVALID = "invalid_field"
#: ... because the propagator raised;
REASON_ERROR = "error"
#: extraction ignored a malformed, oversized or wrongly typed context.
REASON_MALFORMED = "malformed"

# Propagator fields that carry baggage only; every other field is a trace context.
_BAGGAGE_FIELDS = frozenset({"baggage"})


class _AttributeSetter(Setter[MutableMapping[str, Any]]):
    def set(self, carrier: MutableMapping[str, Any], key: str, value: str) -> None:
        carrier[key] = {"DataType": "String", "StringValue": value}


class _AttributeGetter(Getter[Mapping[str, Any]]):
    """Reads only well-formed String attributes of a sane length; everything else is absent."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        attribute = carrier.get(key)
        if not isinstance(attribute, Mapping):
            return None
        data_type = attribute.get("DataType")
        if not isinstance(data_type, str) or not data_type.startswith("String"):
            return None
        value = attribute.get("StringValue")
        if not isinstance(value, str) or len(value) > MAX_CONTEXT_VALUE_LENGTH:
            return None
        return [value]

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return [key for key in carrier if isinstance(key, str)]


_SETTER = _AttributeSetter()
_GETTER = _AttributeGetter()


def _count_skip(destination: str, reason: str) -> None:
    get_instruments().counter(PROPAGATION_SKIPPED).add(
        1, {ATTR_SYSTEM: SYSTEM, ATTR_DESTINATION: destination, ATTR_PROPAGATION_REASON: reason}
    )


def _skipped(destination: str, reason: str) -> bool:
    _count_skip(destination, reason)
    logger.debug("trace context not injected into a message for %s: %s", destination, reason)
    return False


def inject_context(
    attributes: MutableMapping[str, Any],
    *,
    destination: str,
    context: Context | None = None,
    room_bytes: int | None = None,
) -> bool:
    """Add the context's propagation fields to ``attributes`` if they all fit; return whether.

    Nothing is added when the context has nothing to propagate. Fields are added all or
    nothing: never over 10 attributes, never over ``room_bytes`` extra bytes, never replacing a
    user attribute, never a field SQS would reject. A skip is counted
    (``sqsobs.propagation.skipped`` by reason) and logged at debug; it never raises.

    Example::

        attributes = {"tenant": {"DataType": "String", "StringValue": "acme"}}
        with get_tracer().start_as_current_span(span_name(OP_CREATE, "orders")):
            inject_context(attributes, destination="orders")      # adds traceparent
        client.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)
    """
    return (
        inject_context_size(
            attributes, destination=destination, context=context, room_bytes=room_bytes
        )
        > 0
    )


def inject_context_size(
    attributes: MutableMapping[str, Any],
    *,
    destination: str,
    context: Context | None = None,
    room_bytes: int | None = None,
) -> int:
    """:func:`inject_context`, returning the bytes the fields added (0: nothing injected)."""
    fields: dict[str, Any] = {}
    try:
        propagate.inject(fields, context=context, setter=_SETTER)
    except Exception:  # a broken propagator must not stop a send
        logger.debug("the propagator failed for %s", destination, exc_info=True)
        return _skipped_size(destination, REASON_ERROR)
    if not fields:
        return 0
    if any(key in attributes for key in fields):
        return _skipped_size(destination, REASON_ATTRIBUTE_TAKEN)
    if len(attributes) + len(fields) > MAX_MESSAGE_ATTRIBUTES:
        return _skipped_size(destination, REASON_NO_ROOM)
    if not _plainly_valid(fields):
        try:
            validate_attributes(fields)
        except MessageError:
            return _skipped_size(destination, REASON_INVALID)
    extra = 0
    for key, value in fields.items():
        extra += attribute_size(key, value)
    if room_bytes is not None and extra > room_bytes:
        return _skipped_size(destination, REASON_NO_ROOM_BYTES)
    attributes.update(fields)
    return extra


def _skipped_size(destination: str, reason: str) -> int:
    _skipped(destination, reason)
    return 0


#: Field names already checked against SQS's attribute-name rules.
_VALID_NAMES: set[str] = set()


def _plainly_valid(fields: Mapping[str, Any]) -> bool:
    """True when every field is a known-good name with a printable-ASCII String value.

    Printable ASCII is inside SQS's allowed characters, so such fields need no full check
    (W3C trace context and baggage always look like this); anything else is validated.
    """
    for name, attribute in fields.items():
        if name not in _VALID_NAMES:
            try:
                validate_attributes({name: attribute})
            except MessageError:
                return False
            _VALID_NAMES.add(name)
        value = attribute.get("StringValue")
        if not (
            attribute.get("DataType") == "String"
            and isinstance(value, str)
            and value
            and value.isascii()
            and value.isprintable()
        ):
            return False
    return True


def extract_context(message: Mapping[str, Any], *, destination: str) -> Context | None:
    """The producer's context carried by a received message, or None.

    Reads ``MessageAttributes`` with the global propagator, then falls back to the
    ``AWSTraceHeader`` system attribute (keeping any baggage). Malformed values are ignored,
    counted (``sqsobs.propagation.skipped``, reason ``malformed``) and never raise.

    Example::

        for message in client.receive_message(
            QueueUrl=url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
        )["Messages"]:
            parent = extract_context(message, destination="orders")
            with get_tracer().start_as_current_span("process orders", context=parent):
                ...
    """
    try:
        return _extract(message, destination)
    except Exception:  # a hostile message must never reach the handler as an exception
        _count_skip(destination, REASON_MALFORMED)
        logger.debug("ignored an unreadable trace context on %s", destination, exc_info=True)
        return None


_fields_cache: tuple[object, frozenset[str]] = (None, frozenset())


def _trace_fields() -> frozenset[str]:
    """The global propagator's trace-context fields, computed once per propagator."""
    global _fields_cache  # noqa: PLW0603 - a one-entry cache of the global propagator
    textmap = propagate.get_global_textmap()
    cached, fields = _fields_cache
    if cached is not textmap:
        fields = frozenset(textmap.fields) - _BAGGAGE_FIELDS
        _fields_cache = (textmap, fields)
    return fields


def _extract(message: Mapping[str, Any], destination: str) -> Context | None:
    attributes = message.get("MessageAttributes")
    context: Context | None = None
    present = False
    if isinstance(attributes, Mapping) and attributes:
        present = any(field in attributes for field in _trace_fields())
        context = propagate.extract(attributes, getter=_GETTER)
        if trace.get_current_span(context).get_span_context().is_valid:
            return context
    system = message.get("Attributes")
    header = system.get(AWS_TRACE_HEADER) if isinstance(system, Mapping) else None
    if header is not None:
        xray_span = (
            span_from_xray_header(header)
            if isinstance(header, str) and len(header) <= MAX_CONTEXT_VALUE_LENGTH
            else None
        )
        if xray_span is not None:
            return trace.set_span_in_context(xray_span, context)
        present = True
    if present:
        _count_skip(destination, REASON_MALFORMED)
        logger.debug("ignored a malformed trace context on %s", destination)
    if context is not None and baggage.get_all(context):
        return context
    return None
