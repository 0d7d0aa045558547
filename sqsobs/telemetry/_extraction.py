"""Trace context out of a received message: its attributes, its SNS envelope, its AWSTraceHeader.

The consumer reads the message attributes with the global propagator; for a message SNS
delivered without raw delivery, the ``MessageAttributes`` of the SNS envelope in its body; then
the ``AWSTraceHeader`` system attribute. Malformed, oversized or wrongly typed values are ignored,
counted (``sqsobs.propagation.skipped``, reason ``malformed``) and never raise.

Example::

    parent = extract_context(received_message, destination="orders")
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from opentelemetry import baggage, propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter

from sqsobs._sns import sns_envelope, sns_message_attributes
from sqsobs.telemetry._propagation import (
    BAGGAGE_FIELDS,
    FIELD_ALL,
    REASON_MALFORMED,
    count_skip,
    field_priority,
)
from sqsobs.telemetry._xray import AWS_TRACE_HEADER, span_from_xray_header

__all__ = ["MAX_CONTEXT_VALUE_LENGTH", "extract_context"]

logger = logging.getLogger(__name__)

#: Longest context value read from a message; longer values are hostile and ignored.
MAX_CONTEXT_VALUE_LENGTH = 8192


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


_GETTER = _AttributeGetter()


def extract_context(message: Mapping[str, Any], *, destination: str) -> Context | None:
    """The producer's context carried by a received message, or None.

    Reads ``MessageAttributes`` with the global propagator; for a message SNS delivered without
    raw delivery, the ``MessageAttributes`` of the SNS envelope in its body; then falls back to
    the ``AWSTraceHeader`` system attribute (keeping any baggage). Malformed values are ignored,
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
        count_skip(destination, REASON_MALFORMED, FIELD_ALL)
        logger.debug("ignored an unreadable trace context on %s", destination, exc_info=True)
        return None


_fields_cache: tuple[object, tuple[str, ...], frozenset[str]] = (None, (), frozenset())


def _fields() -> tuple[tuple[str, ...], frozenset[str]]:
    """The global propagator's (trace fields by priority, all fields), once per propagator."""
    global _fields_cache  # noqa: PLW0603 - a one-entry cache of the global propagator
    textmap = propagate.get_global_textmap()
    cached, trace_fields, every = _fields_cache
    if cached is not textmap:
        every = frozenset(textmap.fields)
        trace_fields = tuple(sorted(every - BAGGAGE_FIELDS, key=field_priority))
        _fields_cache = (textmap, trace_fields, every)
    return trace_fields, every


def _carrier(message: Mapping[str, Any], fields: frozenset[str]) -> Mapping[str, Any] | None:
    """The message attributes carrying the context: the message's own, else its SNS envelope's."""
    attributes = message.get("MessageAttributes")
    if isinstance(attributes, Mapping) and not fields.isdisjoint(attributes):
        return attributes
    envelope = sns_envelope(message.get("Body"))
    if envelope is not None:
        return sns_message_attributes(envelope)
    return attributes if isinstance(attributes, Mapping) else None


def _extract(message: Mapping[str, Any], destination: str) -> Context | None:
    trace_fields, every = _fields()
    carrier = _carrier(message, every)
    context: Context | None = None
    malformed: str | None = None
    if carrier:
        malformed = next((field for field in trace_fields if field in carrier), None)
        context = propagate.extract(carrier, getter=_GETTER)
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
        malformed = malformed or AWS_TRACE_HEADER
    if malformed is not None:
        count_skip(destination, REASON_MALFORMED, malformed)
        logger.debug("ignored a malformed %s on %s", malformed, destination)
    if context is not None and baggage.get_all(context):
        return context
    return None
