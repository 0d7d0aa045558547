"""Trace context inside SQS message attributes, and the X-Ray ``AWSTraceHeader``.

The producer injects the current context with the global propagator (W3C ``traceparent`` /
``tracestate`` and ``baggage`` by default, ``OTEL_PROPAGATORS`` to change) as String message
attributes, field by field in priority order: ``traceparent`` first, then ``tracestate`` (only
with its ``traceparent``), then any other trace field, then ``baggage``, each as the room left
allows (10 attributes, the size limit). The user's attributes always win. A field left out is
counted (``sqsobs.propagation.skipped`` by reason and field) and logged at debug; the producer
then carries the trace context in ``AWSTraceHeader`` instead. The consumer extracts from the
message attributes, else from the SNS envelope of a message SNS delivered without raw delivery,
else from the ``AWSTraceHeader`` system attribute (request it with
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
from typing import Any, NamedTuple

from opentelemetry import propagate
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Setter

from sqsobs.errors import MessageError
from sqsobs.limits import MAX_MESSAGE_ATTRIBUTES, attribute_size, validate_attributes
from sqsobs.telemetry._instruments import get_instruments
from sqsobs.telemetry.catalog import (
    ATTR_DESTINATION,
    ATTR_PROPAGATION_FIELD,
    ATTR_PROPAGATION_REASON,
    ATTR_SYSTEM,
    PROPAGATION_SKIPPED,
    SYSTEM,
)

__all__ = [
    "FIELD_ALL",
    "BAGGAGE_FIELDS",
    "REASON_ATTRIBUTE_TAKEN",
    "REASON_ERROR",
    "REASON_INVALID",
    "REASON_MALFORMED",
    "REASON_NO_ROOM",
    "REASON_NO_ROOM_BYTES",
    "Injection",
    "inject_context",
    "inject_context_fields",
    "count_skip",
    "field_priority",
    "inject_context_size",
]

logger = logging.getLogger(__name__)

#: ``sqsobs.propagation.reason`` values: a field left out because 10 attributes would be exceeded,
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
#: ``sqsobs.propagation.field`` when the propagator itself failed (no field is known).
FIELD_ALL = "all"

#: Propagator fields that carry baggage only; every other field is a trace context.
BAGGAGE_FIELDS = frozenset({"baggage"})
# The W3C fields go first, in this order; other trace fields follow; baggage goes last.
_FIRST = ("traceparent", "tracestate")
# A field that only refines another goes in only with it (tracestate alone is meaningless).
_REFINES = {"tracestate": "traceparent"}


def field_priority(field: str) -> tuple[int, int]:
    if field in _FIRST:
        return 0, _FIRST.index(field)
    return (2, 0) if field in BAGGAGE_FIELDS else (1, 0)


class Injection(NamedTuple):
    """What :func:`inject_context_fields` added to a message's attributes."""

    #: Bytes the added fields count toward the message's size.
    size_bytes: int
    #: A trace-context field (not only baggage) went in.
    trace: bool
    #: The attributes already held a trace-context field of the user's own (theirs wins).
    user_trace: bool


_NOTHING = Injection(0, False, False)


class _AttributeSetter(Setter[MutableMapping[str, Any]]):
    def set(self, carrier: MutableMapping[str, Any], key: str, value: str) -> None:
        carrier[key] = {"DataType": "String", "StringValue": value}


_SETTER = _AttributeSetter()


def count_skip(destination: str, reason: str, field: str) -> None:
    get_instruments().counter(PROPAGATION_SKIPPED).add(
        1,
        {
            ATTR_SYSTEM: SYSTEM,
            ATTR_DESTINATION: destination,
            ATTR_PROPAGATION_REASON: reason,
            ATTR_PROPAGATION_FIELD: field,
        },
    )


def _skipped(destination: str, reason: str, field: str) -> None:
    count_skip(destination, reason, field)
    logger.debug("%s not injected into a message for %s: %s", field, destination, reason)


def inject_context(
    attributes: MutableMapping[str, Any],
    *,
    destination: str,
    context: Context | None = None,
    room_bytes: int | None = None,
) -> bool:
    """Add the context's propagation fields to ``attributes`` as room allows; return whether
    the trace context went in.

    Fields go in by priority (``traceparent``, ``tracestate``, other trace fields,
    ``baggage``): never over 10 attributes, never over ``room_bytes`` extra bytes, never
    replacing a user attribute, never a field SQS would reject. Each field left out is counted
    (``sqsobs.propagation.skipped`` by reason and field) and logged at debug; it never raises.
    Nothing is added when the context has nothing to propagate.

    Example::

        attributes = {"tenant": {"DataType": "String", "StringValue": "acme"}}
        with get_tracer().start_as_current_span(span_name(OP_CREATE, "orders")):
            inject_context(attributes, destination="orders")      # adds traceparent
        client.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)
    """
    return inject_context_fields(
        attributes, destination=destination, context=context, room_bytes=room_bytes
    ).trace


def inject_context_size(
    attributes: MutableMapping[str, Any],
    *,
    destination: str,
    context: Context | None = None,
    room_bytes: int | None = None,
) -> int:
    """:func:`inject_context`, returning the bytes the fields added (0: nothing injected)."""
    return inject_context_fields(
        attributes, destination=destination, context=context, room_bytes=room_bytes
    ).size_bytes


def inject_context_fields(
    attributes: MutableMapping[str, Any],
    *,
    destination: str,
    context: Context | None = None,
    room_bytes: int | None = None,
) -> Injection:
    """:func:`inject_context`, saying what went in: bytes, trace context, the user's own.

    Example::

        injection = inject_context_fields(attributes, destination="orders", room_bytes=1024)
        if not injection.trace and not injection.user_trace:
            ...  # carry the context another way (the producer sets AWSTraceHeader)
    """
    fields: dict[str, Any] = {}
    try:
        propagate.inject(fields, context=context, setter=_SETTER)
    except Exception:  # a broken propagator must not stop a send
        logger.debug("the propagator failed for %s", destination, exc_info=True)
        _skipped(destination, REASON_ERROR, FIELD_ALL)
        return _NOTHING
    if not fields:
        return _NOTHING
    added = 0
    trace_in = user_trace = False
    refused: dict[str, str] = {}
    for key in sorted(fields, key=field_priority) if len(fields) > 1 else fields:
        value = fields[key]
        reason = refused.get(_REFINES.get(key, ""))
        size = 0
        if reason is None:
            reason, size = _check(
                attributes, key, value, None if room_bytes is None else room_bytes - added
            )
        if reason is not None:
            refused[key] = reason
            user_trace |= reason == REASON_ATTRIBUTE_TAKEN and key not in BAGGAGE_FIELDS
            _skipped(destination, reason, key)
            continue
        attributes[key] = value
        added += size
        trace_in |= key not in BAGGAGE_FIELDS
    return Injection(added, trace_in, user_trace)


def _check(
    attributes: Mapping[str, Any], key: str, value: Mapping[str, Any], room_bytes: int | None
) -> tuple[str | None, int]:
    """(reason to leave the field out or None, its size in bytes)."""
    if key in attributes:
        return REASON_ATTRIBUTE_TAKEN, 0
    if len(attributes) >= MAX_MESSAGE_ATTRIBUTES:
        return REASON_NO_ROOM, 0
    if not _valid(key, value):
        return REASON_INVALID, 0
    size = attribute_size(key, value)
    if room_bytes is not None and size > room_bytes:
        return REASON_NO_ROOM_BYTES, 0
    return None, size


#: Field names already checked against SQS's attribute-name rules.
_VALID_NAMES: set[str] = set()


def _valid(name: str, attribute: Mapping[str, Any]) -> bool:
    """Whether SQS would accept the field; known-good names with printable ASCII go quickly.

    Printable ASCII is inside SQS's allowed characters, so such values need no full check
    (W3C trace context and baggage always look like this); anything else is validated.
    """
    try:
        if name not in _VALID_NAMES:
            validate_attributes({name: attribute})
            _VALID_NAMES.add(name)
            return True
        value = attribute.get("StringValue")
        if not (
            attribute.get("DataType") == "String"
            and isinstance(value, str)
            and value
            and value.isascii()
            and value.isprintable()
        ):
            validate_attributes({name: attribute})
    except MessageError:
        return False
    return True
