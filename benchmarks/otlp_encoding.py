"""The OTLP span encoding's cost: the exporter's encoder vs building the request in place.

Run ``python -m benchmarks.otlp_encoding``. The batch listener's spans (100 batches of 10: a
``receive``, a batch ``process`` and a ``delete`` span each, 31 links per batch) are collected
in memory, then encoded by opentelemetry-exporter-otlp's ``encode_spans`` (what the OTLP span
exporters run in the span processor's thread) and by :func:`encode_in_place`, which fills one
``ExportTraceServiceRequest`` with ``add()`` instead of building every sub-message and copying it
into its parent at each of the four levels. Both serialise to the same bytes (checked first).
A measurement, not library code.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import SpanFlags
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from benchmarks.null_sqs import _make_pool

HAS_REMOTE = SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
IS_REMOTE = SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
KINDS = {k: k.value + 1 for k in trace.SpanKind}


def set_value(any_value: Any, value: Any) -> None:
    """An attribute value into an AnyValue (the types span attributes take here)."""
    if isinstance(value, bool):
        any_value.bool_value = value
    elif isinstance(value, str):
        any_value.string_value = value
    elif isinstance(value, int):
        any_value.int_value = value
    elif isinstance(value, float):
        any_value.double_value = value
    else:
        raise TypeError(type(value))


def put_attrs(repeated: Any, attributes: Any) -> None:
    """Attributes appended to a repeated KeyValue field, in their order."""
    if attributes:
        for key, value in attributes.items():
            kv = repeated.add()
            kv.key = key
            set_value(kv.value, value)


def flags(ctx: Any) -> int:
    """The span flags the upstream encoder sets: whether the context is remote."""
    return HAS_REMOTE | IS_REMOTE if ctx is not None and ctx.is_remote else HAS_REMOTE


def encode_in_place(spans: Sequence[Any]) -> ExportTraceServiceRequest:
    """The request upstream's ``encode_spans`` builds, built in place."""
    request = ExportTraceServiceRequest()
    groups: dict[Any, dict[Any, list[Any]]] = {}
    for span in spans:
        groups.setdefault(span.resource, {}).setdefault(
            span.instrumentation_scope or None, []
        ).append(span)
    for resource, scopes in groups.items():
        rs = request.resource_spans.add()
        put_attrs(rs.resource.attributes, resource.attributes)
        if resource.schema_url:
            rs.schema_url = resource.schema_url
        for scope, members in scopes.items():
            ss = rs.scope_spans.add()
            if scope is not None:
                ss.scope.name = scope.name
                if scope.version:
                    ss.scope.version = scope.version
                put_attrs(ss.scope.attributes, scope.attributes)
                if scope.schema_url:
                    ss.schema_url = scope.schema_url
            for span in members:
                pb = ss.spans.add()
                ctx = span.context
                pb.trace_id = ctx.trace_id.to_bytes(16, "big")
                pb.span_id = ctx.span_id.to_bytes(8, "big")
                if ctx.trace_state:
                    pb.trace_state = ",".join(f"{k}={v}" for k, v in ctx.trace_state.items())
                if span.parent:
                    pb.parent_span_id = span.parent.span_id.to_bytes(8, "big")
                pb.name = span.name
                pb.kind = KINDS[span.kind]
                pb.start_time_unix_nano = span.start_time
                pb.end_time_unix_nano = span.end_time
                put_attrs(pb.attributes, span.attributes)
                for event in span.events:
                    ev = pb.events.add()
                    ev.name = event.name
                    ev.time_unix_nano = event.timestamp
                    put_attrs(ev.attributes, event.attributes)
                    ev.dropped_attributes_count = event.dropped_attributes
                for link in span.links:
                    lk = pb.links.add()
                    lctx = link.context
                    lk.trace_id = lctx.trace_id.to_bytes(16, "big")
                    lk.span_id = lctx.span_id.to_bytes(8, "big")
                    put_attrs(lk.attributes, link.attributes)
                    lk.dropped_attributes_count = link.dropped_attributes
                    lk.flags = flags(lctx)
                pb.status.code = span.status.status_code.value
                if span.status.description:
                    pb.status.message = span.status.description
                pb.dropped_attributes_count = span.dropped_attributes
                pb.dropped_events_count = span.dropped_events
                pb.dropped_links_count = span.dropped_links
                pb.flags = flags(span.parent)
    return request


def main() -> None:
    """Collect the spans, check both encoders agree byte for byte, time them."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "bench", "service.instance.id": "x"})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    from sqsobs.listener._calls import BatchOutcome
    from sqsobs.listener._message import SqsMessage
    from sqsobs.listener._telemetry import ListenerTelemetry, creation_context
    from sqsobs.telemetry import OP_DELETE, extract_context

    raws = []
    now_ms = str(int(time.time() * 1000))
    for i, m in enumerate(_make_pool(sampled=True)[:10]):
        r = dict(m, MessageId=f"id-{i}", ReceiptHandle=f"rh-{i}")
        r["Attributes"] = {"SentTimestamp": now_ms, "ApproximateReceiveCount": "1"}
        raws.append(r)
    tel = ListenerTelemetry("bench-q", "http://127.0.0.1:9324/123456789012/bench-q")
    for _ in range(100):
        msgs = [SqsMessage.from_boto(r, context=extract_context(r, destination="q")) for r in raws]
        receive = tel.received(msgs, time.time_ns(), 0.001, "req")
        with tel.process_span(msgs, receive, batch=True):
            pass
        with tel.call_span(OP_DELETE, 10, [(creation_context(m), m.message_id) for m in msgs]) as s:
            tel.call_result(s, OP_DELETE, BatchOutcome(request_id="r"))
    spans = exporter.get_finished_spans()
    print(len(spans), "spans,", sum(len(s.links) for s in spans), "links")
    a = encode_spans(spans).SerializePartialToString()
    b = encode_in_place(spans).SerializePartialToString()
    print("bytes equal:", a == b, len(a), len(b))
    if a != b:
        raise SystemExit("the in-place encoding differs from the exporter's")
    for name, fn in (("upstream", encode_spans), ("in-place", encode_in_place)) * 3:
        t0 = time.thread_time()
        for _ in range(20):
            fn(spans).SerializePartialToString()
        dt = (time.thread_time() - t0) / 20
        print(f"{name}: {dt / 1000 * 1e6:.1f} µs/msg ({dt / len(spans) * 1e6:.1f} µs/span)")


if __name__ == "__main__":
    main()
