"""OTLP span exporters that encode with :mod:`sqsobs.telemetry._span_encoding` (part of setup).

Only :mod:`sqsobs.telemetry._setup` uses this module, and the exporter packages are imported
inside its functions, as setup does. The exporters are the stock ones; only the step that turns
spans into an ``ExportTraceServiceRequest`` changes, so endpoints, headers, TLS, compression,
timeouts, retries and the exporters' own metrics behave as documented upstream. If encoding
fails, the stock encoder is used for that batch. ``SQSOBS_FAST_SPAN_ENCODING=false`` turns the
whole thing off.

Example::

    exporter = fast_span_exporter("http/protobuf", "http://collector:4318/v1/traces")
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqsobs.telemetry._span_encoding import encode_spans_bytes

__all__ = ["fast_span_exporter"]

logger = logging.getLogger(__name__)

_lock = threading.Lock()


class _Encoded(Sequence[Any]):
    """The spans of one batch together with their encoded request (still a span sequence)."""

    def __init__(self, spans: Sequence[Any], payload: bytes) -> None:
        self.spans = spans
        self.payload = payload

    def __len__(self) -> int:
        return len(self.spans)

    def __getitem__(self, index: Any) -> Any:
        return self.spans[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.spans)


class _Serialized:
    """Stands in for the request message where the exporter only serialises it."""

    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    def SerializePartialToString(self) -> bytes:
        return self._payload

    def SerializeToString(self) -> bytes:
        return self._payload


def _encode(spans: Sequence[Any]) -> bytes | None:
    try:
        return encode_spans_bytes(spans)
    except Exception:  # a span we cannot encode: the stock encoder gets the batch
        logger.debug("fast span encoding failed; using the stock encoder", exc_info=True)
        return None


def _install_http_hook(module: Any) -> bool:
    """Let the HTTP exporter module's ``encode_spans`` pass pre-encoded batches through.

    Anything else (other exporters in the process) still goes to the original function.
    """
    with _lock:
        current = getattr(module, "encode_spans", None)
        if current is None:
            return False
        if getattr(current, "_sqsobs_passthrough", False):
            return True
        original: Callable[[Any], Any] = current

        def encode_spans(spans: Any) -> Any:
            if isinstance(spans, _Encoded):
                return _Serialized(spans.payload)
            return original(spans)

        encode_spans._sqsobs_passthrough = True  # type: ignore[attr-defined]
        module.encode_spans = encode_spans
        return True


def fast_span_exporter(protocol: str, url: str | None) -> Any:
    """The OTLP span exporter for ``protocol`` (``grpc`` or ``http/protobuf``), encoding fast."""
    if protocol == "grpc":
        return _grpc_exporter(url)
    return _http_exporter(url)


def _http_exporter(url: str | None) -> Any:
    from opentelemetry.exporter.otlp.proto.http import trace_exporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    if not _install_http_hook(trace_exporter):
        return trace_exporter.OTLPSpanExporter(endpoint=url)

    class FastOTLPSpanExporter(trace_exporter.OTLPSpanExporter):
        """The OTLP/HTTP span exporter with sqsobs' span encoder."""

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            payload = _encode(spans)
            batch = spans if payload is None else _Encoded(spans, payload)
            result: SpanExportResult = super().export(batch)
            return result

    return FastOTLPSpanExporter(endpoint=url)


def _grpc_exporter(url: str | None) -> Any:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    class FastOTLPSpanExporter(OTLPSpanExporter):
        """The OTLP/gRPC span exporter with sqsobs' span encoder."""

        def _translate_data(self, data: Sequence[Any]) -> Any:
            payload = _encode(data)
            if payload is None:
                return super()._translate_data(data)
            return ExportTraceServiceRequest.FromString(payload)

    return FastOTLPSpanExporter(endpoint=url)
