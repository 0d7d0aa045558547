"""X-Ray's ``AWSTraceHeader``: a span context to the header and back.

SQS carries the header as a message *system* attribute: it does not count toward the 10
message attributes or the size limit, and Lambda and X-Ray read it. The producer may add it
(``xray_trace_header=True``); the consumer falls back to it when the message attributes carry
no trace context.

Example::

    >>> span = span_from_xray_header(
    ...     "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    ... )
    >>> f"{span.get_span_context().span_id:016x}"
    '53995c3f42cd8ad8'
"""

from __future__ import annotations

import re

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

__all__ = ["AWS_TRACE_HEADER", "span_from_xray_header", "xray_trace_header"]

#: The SQS message *system* attribute X-Ray and Lambda read.
AWS_TRACE_HEADER = "AWSTraceHeader"

_HEX = re.compile(r"[0-9a-fA-F]+")


def xray_trace_header(context: Context | None = None) -> str | None:
    """The current span's context in X-Ray's ``AWSTraceHeader`` format, or None if invalid.

    Set it as the entry's ``MessageSystemAttributes`` (``{"AWSTraceHeader": {"DataType":
    "String", "StringValue": header}}``): it does not count toward the 10 attributes or the size.
    """
    span_context = trace.get_current_span(context).get_span_context()
    if not span_context.is_valid:
        return None
    trace_id = f"{span_context.trace_id:032x}"
    sampled = "1" if span_context.trace_flags.sampled else "0"
    return (
        f"Root=1-{trace_id[:8]}-{trace_id[8:]};Parent={span_context.span_id:016x};Sampled={sampled}"
    )


def span_from_xray_header(header: str) -> NonRecordingSpan | None:
    """Parse ``Root=1-xxxxxxxx-yyyy...;Parent=zzzz...;Sampled=1`` (any order, extra keys ok)."""
    fields: dict[str, str] = {}
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        fields[key] = value
    root = fields.get("Root", "").split("-")
    parent = fields.get("Parent", "")
    if len(root) != 3 or root[0] != "1" or len(root[1]) != 8 or len(root[2]) != 24:
        return None
    if len(parent) != 16 or not _HEX.fullmatch(root[1] + root[2] + parent):
        return None
    trace_id = int(root[1] + root[2], 16)
    span_id = int(parent, 16)
    sampled = fields.get("Sampled") == "1"
    span_context = SpanContext(
        trace_id=trace_id,
        span_id=span_id,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT),
    )
    return NonRecordingSpan(span_context) if span_context.is_valid else None
