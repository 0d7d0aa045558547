"""sqsobs' OTLP span encoder writes what the stock encoder writes, field for field."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from sqsobs.telemetry._otlp_export import fast_span_exporter
from sqsobs.telemetry._span_encoding import encode_spans_bytes


class _Keep(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def _provider(keep: _Keep, resource: Resource, limits: SpanLimits | None = None) -> TracerProvider:
    provider = TracerProvider(resource=resource, span_limits=limits)
    provider.add_span_processor(SimpleSpanProcessor(keep))
    return provider


def _remote(trace_id: int, span_id: int, state: TraceState | None = None) -> SpanContext:
    return SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=TraceFlags(1), trace_state=state
    )


@pytest.fixture
def varied_spans() -> list[ReadableSpan]:
    """Spans using every field the encoder writes, from two resources and several scopes."""
    keep = _Keep()
    first = _provider(keep, Resource.create({"service.name": "a", "n": 3}, schema_url="s://r"))
    second = _provider(keep, Resource.create({"service.name": "b"}))
    limited = _provider(
        keep,
        Resource.create({"service.name": "a", "n": 3}, schema_url="s://r"),
        SpanLimits(max_span_attributes=2, max_events=1, max_links=1, max_event_attributes=1),
    )
    tracers = [
        first.get_tracer("sqsobs", "1.0"),
        first.get_tracer("sqsobs", "1.0"),  # an equal scope, a distinct object
        first.get_tracer("other", None, schema_url="s://scope", attributes={"k": "v"}),
        second.get_tracer("sqsobs", "1.0"),
        limited.get_tracer("limited"),
    ]
    values: dict[str, Any] = {
        "s": "text",
        "empty": "",
        "unicode": "żółć ✓",
        "t": True,
        "f": False,
        "zero": 0,
        "neg": -5,
        "big": 2**62,
        "x": 1.5,
        "x0": 0.0,
        "strs": ["a", ""],
        "ints": [1, -2, 0],
        "bools": [True, False],
        "floats": [0.5, -1.0],
        "raw": b"\x00\x01",
    }
    remote = trace.set_span_in_context(
        NonRecordingSpan(_remote(2**100 + 7, 99, TraceState([("vendor", "v1"), ("x", "y")])))
    )
    for index, kind in enumerate(SpanKind):
        tracer = tracers[index % len(tracers)]
        with tracer.start_as_current_span(f"parent {index}", kind=kind, attributes=values) as span:
            span.add_event("plain")
            span.add_event("with attrs", {"a": 1, "b": "two"}, timestamp=123)
            span.set_status(Status(StatusCode.ERROR, "it broke"))
            links = [
                Link(span.get_span_context()),
                Link(_remote(1, 2), {"why": "remote", "n": 0}),
            ]
            child = tracer.start_span("child", links=links, attributes={"a": "b", "c": "d"})
            child.set_status(Status(StatusCode.OK))
            child.end()
        tracer.start_span("remote parent", context=remote, kind=SpanKind.CONSUMER).end()
        tracer.start_span("", attributes={"only": None}).end()
    return keep.spans


def test_same_request_as_the_stock_encoder(varied_spans: list[ReadableSpan]) -> None:
    expected = encode_spans(varied_spans)
    assert len(expected.resource_spans) == 2
    ours = ExportTraceServiceRequest.FromString(encode_spans_bytes(varied_spans))
    assert ours == expected
    # And again: the caches must not change a second encoding.
    assert ExportTraceServiceRequest.FromString(encode_spans_bytes(varied_spans)) == expected


def test_each_span_alone_and_in_other_orders(varied_spans: list[ReadableSpan]) -> None:
    for span in varied_spans:
        assert ExportTraceServiceRequest.FromString(encode_spans_bytes([span])) == encode_spans(
            [span]
        )
    backwards = list(reversed(varied_spans))
    ours = ExportTraceServiceRequest.FromString(encode_spans_bytes(backwards))
    assert ours == encode_spans(backwards)
    assert encode_spans_bytes([]) == b""


class _Sink(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).bodies.append(self.rfile.read(length))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[str]:
    _Sink.bodies = []
    server = HTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1/traces"
    server.shutdown()
    server.server_close()


def test_http_exporter_posts_the_same_request(varied_spans: list[ReadableSpan], sink: str) -> None:
    exporter = fast_span_exporter("http/protobuf", sink)
    try:
        assert exporter.export(varied_spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert len(_Sink.bodies) == 1
    assert ExportTraceServiceRequest.FromString(_Sink.bodies[0]) == encode_spans(varied_spans)


def test_grpc_exporter_builds_the_same_request(varied_spans: list[ReadableSpan]) -> None:
    exporter = fast_span_exporter("grpc", "http://127.0.0.1:9")
    try:
        assert exporter._translate_data(varied_spans) == encode_spans(varied_spans)
    finally:
        exporter.shutdown()


def test_encoder_failure_falls_back_to_the_stock_encoder(
    varied_spans: list[ReadableSpan], sink: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(spans: Sequence[ReadableSpan]) -> bytes:
        raise RuntimeError("cannot encode")

    monkeypatch.setattr("sqsobs.telemetry._otlp_export.encode_spans_bytes", broken)
    exporter = fast_span_exporter("http/protobuf", sink)
    try:
        assert exporter.export(varied_spans[:3]) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert ExportTraceServiceRequest.FromString(_Sink.bodies[0]) == encode_spans(varied_spans[:3])
