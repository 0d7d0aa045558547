"""Links from a span that covers many messages to each message's creation context.

The messaging conventions put per-message values on the links of a batch span (``send``,
``receive``, a batch ``process``, ``delete``). Such a span is often sampled out (parent-based
ratio sampling in production), so the links are added only once the span is known to record:
a span that does not record costs no per-message work beyond the context it carries.

Example::

    span = tracer.start_span("receive orders", kind=SpanKind.CLIENT)
    add_message_links(span, ((creation_of(m), m.message_id) for m in messages))
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry.trace import Link, Span, SpanContext

from sqsobs.telemetry._spans import ATTR_MESSAGE_ID

__all__ = ["add_message_links", "message_link"]


def message_link(context: SpanContext, message_id: str | None) -> Link:
    """A link to a message's creation context, carrying the message's id.

    The conventions put per-message values on the links of a span that covers many messages.
    """
    if message_id is None:
        return Link(context)
    return Link(context, {ATTR_MESSAGE_ID: message_id})


def add_message_links(span: Span, links: Iterable[tuple[SpanContext | None, str | None]]) -> None:
    """Link ``span`` to each (creation context, message id), if ``span`` records.

    Pass a generator: a span sampled out consumes none of it, so nothing per message (not even
    the creation context's extraction) is built for it. Invalid and missing contexts are
    skipped. Samplers do not see these links (they decide at the span's start, on its name,
    kind and attributes; the SDK's ratio and parent-based samplers ignore links anyway).
    """
    if not span.is_recording():
        return
    for context, message_id in links:
        if context is not None and context.is_valid:
            span.add_link(context, None if message_id is None else {ATTR_MESSAGE_ID: message_id})
