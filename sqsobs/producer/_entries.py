"""One SendMessageBatch entry: the message checked as SQS would, the user's fields, the trace.

The trace context goes into the message attributes as room allows (``traceparent`` first); when
it does not fit, or ``xray`` asks for it on every message, it also goes into the
``AWSTraceHeader`` system attribute, which counts toward neither the 10 attributes nor the size.

Example::

    size = check_message(info, "hello", None, delay_seconds=None, group_id=None,
                         deduplication_id=None)
    entry, size = build_entry("hello", None, size=5, destination="orders", room_bytes=1000,
                              context=context, delay_seconds=None, group_id=None,
                              deduplication_id=None, xray=False)
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from opentelemetry.context import Context

from sqsobs.errors import InvalidMessage
from sqsobs.limits import validate_message
from sqsobs.producer._resolve import QueueInfo
from sqsobs.telemetry import AWS_TRACE_HEADER, Injection, inject_context_fields, xray_trace_header

__all__ = ["Attributes", "build_entry", "check_message", "inject_trace"]

logger = logging.getLogger(__name__)

Attributes = Mapping[str, Mapping[str, Any]]


def check_message(
    info: QueueInfo,
    body: str,
    attributes: Attributes | None,
    *,
    delay_seconds: int | None,
    group_id: str | None,
    deduplication_id: str | None,
    size_limited: bool = True,
) -> int:
    """The message's size as SQS counts it; a :class:`~sqsobs.errors.MessageError` if SQS
    would reject it on ``info``'s queue (its size too, unless ``size_limited`` is False: a
    large payload goes to S3 and its pointer is checked instead)."""
    size = validate_message(
        body,
        attributes,
        max_size_bytes=info.max_message_bytes if size_limited else sys.maxsize,
        delay_seconds=delay_seconds,
        group_id=group_id,
        deduplication_id=deduplication_id,
        fifo=info.fifo,
    )
    if info.fifo and deduplication_id is None and not info.content_based_deduplication:
        raise InvalidMessage(
            f"{info.name} has no ContentBasedDeduplication: pass a deduplication_id"
        )
    return size


_NOTHING = Injection(0, False, False)


def inject_trace(
    final: dict[str, Any], context: Context, destination: str, room_bytes: int
) -> Injection:
    """Add the trace context's fields to ``final`` as room allows; say what went in."""
    try:
        return inject_context_fields(
            final, destination=destination, context=context, room_bytes=room_bytes
        )
    except Exception:  # a broken propagator must not stop the message
        logger.debug("trace context injection failed for %s", destination, exc_info=True)
        return _NOTHING


def build_entry(
    body: str,
    attributes: Attributes | None,
    *,
    size: int,
    destination: str,
    room_bytes: int,
    context: Context,
    delay_seconds: int | None,
    group_id: str | None,
    deduplication_id: str | None,
    xray: bool,
) -> tuple[dict[str, Any], int]:
    """The request entry (its ``Id`` set later) and the message's final size in bytes.

    ``AWSTraceHeader`` is set when ``xray`` says so, and whenever the trace context did not fit
    into the attributes (unless the user's attributes carry their own trace context).
    """
    final = dict(attributes) if attributes else {}
    injection = inject_trace(final, context, destination, room_bytes)
    size += injection.size_bytes
    entry: dict[str, Any] = {"Id": "", "MessageBody": body}
    if final:
        entry["MessageAttributes"] = final
    if delay_seconds is not None:
        entry["DelaySeconds"] = delay_seconds
    if group_id is not None:
        entry["MessageGroupId"] = group_id
    if deduplication_id is not None:
        entry["MessageDeduplicationId"] = deduplication_id
    if xray or not (injection.trace or injection.user_trace):
        header = xray_trace_header(context)
        if header is not None:
            entry["MessageSystemAttributes"] = {
                AWS_TRACE_HEADER: {"DataType": "String", "StringValue": header}
            }
    return entry, size
