"""OTLP span encoding written straight to protobuf wire format: the stock encoder, 4-5x cheaper.

The OTLP exporters build one protobuf object per span, attribute, value and link before
serialising; with every message traced that is most of the export thread's CPU. This module
writes the same ``ExportTraceServiceRequest`` bytes directly (same fields, same presence
rules as ``opentelemetry.exporter.otlp.proto.common.trace_encoder.encode_spans``), caching
what repeats: the resource and scope blocks, span names and attribute keys.
``tests/test_span_encoding.py`` checks the output against the stock encoder.

It reads spans through the ``ReadableSpan`` interface only (duck-typed: no SDK import).

Example::

    payload = encode_spans_bytes(spans)     # bytes of an ExportTraceServiceRequest
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.trace import SpanKind

__all__ = ["encode_spans_bytes"]

# SpanFlags: the parent's "is remote" bit is known (0x100) and, if set, remote (0x200).
_FLAGS_HAS_IS_REMOTE = 0x100
_FLAGS_IS_REMOTE = 0x200
_KINDS = {
    SpanKind.INTERNAL: 1,
    SpanKind.SERVER: 2,
    SpanKind.CLIENT: 3,
    SpanKind.PRODUCER: 4,
    SpanKind.CONSUMER: 5,
}
_SMALL = [bytes((n,)) for n in range(128)]
_FIXED64 = struct.Struct("<Q").pack
_FIXED32 = struct.Struct("<I").pack
_DOUBLE = struct.Struct("<d").pack
#: Cached encodings are dropped when a cache grows past this (high-cardinality values).
_CACHE_LIMIT = 4096


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 as protobuf writes it: ten bytes, two's complement
    if value < 0x80:
        return _SMALL[value]
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    return tag + _varint(len(payload)) + payload


# Tags by message. Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
_T_REQUEST_RESOURCE_SPANS = _tag(1, 2)
_T_RS_RESOURCE, _T_RS_SCOPE_SPANS, _T_RS_SCHEMA = _tag(1, 2), _tag(2, 2), _tag(3, 2)
_T_RESOURCE_ATTRS = _tag(1, 2)
_T_SS_SCOPE, _T_SS_SPANS, _T_SS_SCHEMA = _tag(1, 2), _tag(2, 2), _tag(3, 2)
_T_SCOPE_NAME, _T_SCOPE_VERSION, _T_SCOPE_ATTRS = _tag(1, 2), _tag(2, 2), _tag(3, 2)
_T_TRACE_ID, _T_SPAN_ID, _T_TRACE_STATE, _T_PARENT_ID = (
    _tag(1, 2),
    _tag(2, 2),
    _tag(3, 2),
    _tag(4, 2),
)
_T_NAME, _T_KIND, _T_START, _T_END = _tag(5, 2), _tag(6, 0), _tag(7, 1), _tag(8, 1)
_T_ATTRS, _T_DROPPED_ATTRS, _T_EVENTS, _T_DROPPED_EVENTS = (
    _tag(9, 2),
    _tag(10, 0),
    _tag(11, 2),
    _tag(12, 0),
)
_T_LINKS, _T_DROPPED_LINKS, _T_STATUS, _T_FLAGS = _tag(13, 2), _tag(14, 0), _tag(15, 2), _tag(16, 5)
_T_EVENT_TIME, _T_EVENT_NAME, _T_EVENT_ATTRS, _T_EVENT_DROPPED = (
    _tag(1, 1),
    _tag(2, 2),
    _tag(3, 2),
    _tag(4, 0),
)
_T_LINK_TRACE, _T_LINK_SPAN, _T_LINK_ATTRS = _tag(1, 2), _tag(2, 2), _tag(4, 2)
_T_LINK_DROPPED, _T_LINK_FLAGS = _tag(5, 0), _tag(6, 5)
_T_STATUS_MESSAGE, _T_STATUS_CODE = _tag(2, 2), _tag(3, 0)
_T_KV_KEY, _T_KV_VALUE = _tag(1, 2), _tag(2, 2)
_T_ANY_STRING, _T_ANY_BOOL, _T_ANY_INT, _T_ANY_DOUBLE = (
    _tag(1, 2),
    _tag(2, 0),
    _tag(3, 0),
    _tag(4, 1),
)
_T_ANY_ARRAY, _T_ANY_KVLIST, _T_ANY_BYTES = _tag(5, 2), _tag(6, 2), _tag(7, 2)
_T_LIST_VALUES = _tag(1, 2)
_EMPTY_STATUS = _field(_T_STATUS, b"")


def _string(tag: bytes, text: str) -> bytes:
    return _field(tag, text.encode("utf-8"))


def _any_value(value: Any) -> bytes:
    """The AnyValue message's content for ``value`` (as the stock ``_encode_value``)."""
    if value is None:
        return b""
    # A oneof member is written even when it holds its type's default value.
    if isinstance(value, bool):
        return _T_ANY_BOOL + _SMALL[int(value)]
    if isinstance(value, str):
        return _string(_T_ANY_STRING, value)
    if isinstance(value, int):
        return _T_ANY_INT + _varint(value)
    if isinstance(value, float):
        return _T_ANY_DOUBLE + _DOUBLE(value)
    if isinstance(value, bytes):
        return _field(_T_ANY_BYTES, value)
    if isinstance(value, Sequence):
        items = b"".join(_field(_T_LIST_VALUES, _any_value(item)) for item in value)
        return _field(_T_ANY_ARRAY, items)
    if isinstance(value, Mapping):
        pairs = b"".join(_field(_T_LIST_VALUES, _key_value(str(k), v)) for k, v in value.items())
        return _field(_T_ANY_KVLIST, pairs)
    raise TypeError(f"invalid attribute value type {type(value).__name__}")


def _key_value(key: str, value: Any) -> bytes:
    head = _string(_T_KV_KEY, key) if key else b""
    return head + _field(_T_KV_VALUE, _any_value(value))


_kv_cache: dict[tuple[str, type, Any], bytes] = {}


def _attribute(tag: bytes, key: str, value: Any) -> bytes:
    """One KeyValue field (``tag``: the repeated attributes field of the enclosing message)."""
    if isinstance(value, (str, bool, int, float)):
        cache_key = (key, type(value), value)
        found = _kv_cache.get(cache_key)
        if found is None:
            if len(_kv_cache) >= _CACHE_LIMIT:
                _kv_cache.clear()
            found = _kv_cache[cache_key] = _field(tag, _key_value(key, value))
        return found
    return _field(tag, _key_value(key, value))


def _attributes(tag: bytes, attributes: Mapping[str, Any] | None) -> bytes:
    if not attributes:
        return b""
    if tag is _T_ATTRS:
        return b"".join([_attribute(tag, key, value) for key, value in attributes.items()])
    return b"".join([_field(tag, _key_value(key, value)) for key, value in attributes.items()])


_name_cache: dict[str, bytes] = {}


def _name(text: str) -> bytes:
    found = _name_cache.get(text)
    if found is None:
        if len(_name_cache) >= _CACHE_LIMIT:
            _name_cache.clear()
        found = _name_cache[text] = _string(_T_NAME, text) if text else b""
    return found


def _events(events: Sequence[Any]) -> bytes:
    parts = []
    for event in events:
        body = _T_EVENT_TIME + _FIXED64(event.timestamp) if event.timestamp else b""
        if event.name:
            body += _string(_T_EVENT_NAME, event.name)
        body += _attributes(_T_EVENT_ATTRS, event.attributes)
        if event.dropped_attributes:
            body += _T_EVENT_DROPPED + _varint(event.dropped_attributes)
        parts.append(_field(_T_EVENTS, body))
    return b"".join(parts)


_LINK_TRACE_HEAD = _T_LINK_TRACE + _SMALL[16]
_LINK_SPAN_HEAD = _T_LINK_SPAN + _SMALL[8]
_LINK_LOCAL_FLAGS = _T_LINK_FLAGS + _FIXED32(_FLAGS_HAS_IS_REMOTE)
_LINK_REMOTE_FLAGS = _T_LINK_FLAGS + _FIXED32(_FLAGS_HAS_IS_REMOTE | _FLAGS_IS_REMOTE)


def _links(links: Sequence[Any]) -> bytes:
    parts = []
    for link in links:
        context = link.context
        body = (
            _LINK_TRACE_HEAD
            + context.trace_id.to_bytes(16, "big")
            + _LINK_SPAN_HEAD
            + context.span_id.to_bytes(8, "big")
        )
        if link.attributes:
            body += _attributes(_T_LINK_ATTRS, link.attributes)
        if link.dropped_attributes:
            body += _T_LINK_DROPPED + _varint(link.dropped_attributes)
        body += _LINK_REMOTE_FLAGS if context.is_remote else _LINK_LOCAL_FLAGS
        parts.append(_T_LINKS + _varint(len(body)) + body)
    return b"".join(parts)


def _status(status: Any) -> bytes:
    if status is None:
        return b""
    code = status.status_code.value
    description = status.description
    if not code and not description:
        return _EMPTY_STATUS
    body = _string(_T_STATUS_MESSAGE, description) if description else b""
    if code:
        body += _T_STATUS_CODE + _varint(code)
    return _field(_T_STATUS, body)


def _plain_attributes(span: Any) -> Mapping[str, Any]:
    """The span's attributes; the SDK's own dict when reachable (its read-only view is slow)."""
    bounded = getattr(span, "_attributes", None)
    plain = getattr(bounded, "_dict", None)
    if isinstance(plain, dict):
        return plain
    return span.attributes or {}


_TRACE_ID_HEAD = _T_TRACE_ID + _SMALL[16]
_SPAN_ID_HEAD = _T_SPAN_ID + _SMALL[8]
_PARENT_ID_HEAD = _T_PARENT_ID + _SMALL[8]
_LOCAL_PARENT_FLAGS = _T_FLAGS + _FIXED32(_FLAGS_HAS_IS_REMOTE)
_REMOTE_PARENT_FLAGS = _T_FLAGS + _FIXED32(_FLAGS_HAS_IS_REMOTE | _FLAGS_IS_REMOTE)
_KIND_FIELDS = {kind: _T_KIND + _SMALL[value] for kind, value in _KINDS.items()}


def _span(span: Any) -> bytes:
    context = span.get_span_context()
    parent = span.parent
    parts = [
        _TRACE_ID_HEAD + context.trace_id.to_bytes(16, "big"),
        _SPAN_ID_HEAD + context.span_id.to_bytes(8, "big"),
    ]
    trace_state = context.trace_state
    if trace_state:
        state = ",".join([f"{key}={value}" for key, value in trace_state.items()])
        if state:
            parts.append(_string(_T_TRACE_STATE, state))
    if parent is not None:
        parts.append(_PARENT_ID_HEAD + parent.span_id.to_bytes(8, "big"))
    parts.append(_name(span.name))
    parts.append(_KIND_FIELDS[span.kind])
    if span.start_time:
        parts.append(_T_START + _FIXED64(span.start_time))
    if span.end_time:
        parts.append(_T_END + _FIXED64(span.end_time))
    for key, value in _plain_attributes(span).items():
        parts.append(_attribute(_T_ATTRS, key, value))
    if span.dropped_attributes:
        parts.append(_T_DROPPED_ATTRS + _varint(span.dropped_attributes))
    events = getattr(span, "_events", None)
    if events is None:
        events = span.events
    if events:
        parts.append(_events(events))
    if span.dropped_events:
        parts.append(_T_DROPPED_EVENTS + _varint(span.dropped_events))
    links = getattr(span, "_links", None)
    if links is None:
        links = span.links
    if links:
        parts.append(_links(links))
    if span.dropped_links:
        parts.append(_T_DROPPED_LINKS + _varint(span.dropped_links))
    parts.append(_status(span.status))
    if parent is not None and parent.is_remote:
        parts.append(_REMOTE_PARENT_FLAGS)
    else:
        parts.append(_LOCAL_PARENT_FLAGS)
    return _field(_T_SS_SPANS, b"".join(parts))


_block_cache: dict[int, tuple[Any, bytes]] = {}


def _cached(obj: Any, build: Callable[[Any], bytes]) -> bytes:
    """The encoding of a resource or scope, built once per object."""
    key = id(obj)
    found = _block_cache.get(key)
    if found is None or found[0] is not obj:
        if len(_block_cache) >= _CACHE_LIMIT:
            _block_cache.clear()
        found = _block_cache[key] = (obj, build(obj))
    return found[1]


def _resource(resource: Any) -> bytes:
    return _field(_T_RS_RESOURCE, _attributes(_T_RESOURCE_ATTRS, resource.attributes))


def _scope(scope: Any) -> bytes:
    if scope is None:
        return _field(_T_SS_SCOPE, b"")
    body = _string(_T_SCOPE_NAME, scope.name) if scope.name else b""
    if scope.version:
        body += _string(_T_SCOPE_VERSION, scope.version)
    body += _attributes(_T_SCOPE_ATTRS, scope.attributes)
    out = _field(_T_SS_SCOPE, body)
    if scope.schema_url:
        out += _string(_T_SS_SCHEMA, scope.schema_url)
    return out


def encode_spans_bytes(spans: Sequence[Any]) -> bytes:
    """The serialised ``ExportTraceServiceRequest`` for ``spans`` (SDK ``ReadableSpan``\\ s).

    Spans are grouped by resource, then instrumentation scope, in order of first appearance,
    as the stock encoder groups them (by equality; hashed once per distinct object here).
    """
    # Keyed by id() of the first equal object: hashing a Resource serialises it to JSON.
    groups: dict[int, tuple[Any, dict[int, tuple[Any, list[bytes]]]]] = {}
    canonical: dict[int, Any] = {}
    by_value: dict[Any, Any] = {}
    for span in spans:
        resource = span.resource
        known = canonical.get(id(resource))
        resource = _canonical(resource, canonical, by_value) if known is None else known
        group = groups.get(id(resource))
        if group is None:
            group = groups[id(resource)] = (resource, {})
        scope = span.instrumentation_scope or None
        if scope is not None:
            known = canonical.get(id(scope))
            scope = _canonical(scope, canonical, by_value) if known is None else known
        scoped = group[1].get(id(scope))
        if scoped is None:
            scoped = group[1][id(scope)] = (scope, [])
        scoped[1].append(_span(span))
    out = []
    for resource, scopes in groups.values():
        body = [_cached(resource, _resource)]
        for scope, encoded in scopes.values():
            head = _cached(scope, _scope)
            body.append(_field(_T_RS_SCOPE_SPANS, head + b"".join(encoded)))
        if resource.schema_url:
            body.append(_string(_T_RS_SCHEMA, resource.schema_url))
        out.append(_field(_T_REQUEST_RESOURCE_SPANS, b"".join(body)))
    return b"".join(out)


def _canonical(obj: Any, canonical: dict[int, Any], by_value: dict[Any, Any]) -> Any:
    """The first object equal to ``obj`` seen in this batch (hashing a Resource is costly)."""
    first = by_value.setdefault((type(obj), obj), obj)
    canonical[id(obj)] = first
    return first
