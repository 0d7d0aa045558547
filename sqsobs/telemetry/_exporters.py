"""The exporters and readers configure_telemetry() wires: OTLP, console, Prometheus.

Exporter packages are imported only when the exporter is built, so an application that turns
one off never loads it. An argument's OTLP endpoint is a base URL, as
``OTEL_EXPORTER_OTLP_ENDPOINT`` is: HTTP adds the per-signal path, gRPC uses it as it is.

Example::

    options = resolve_options(otlp_protocol="http/protobuf")
    span_exporters(options)     # [OTLPSpanExporter(...)]
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.sdk.metrics import (
    AlwaysOffExemplarFilter,
    AlwaysOnExemplarFilter,
    ExemplarFilter,
    TraceBasedExemplarFilter,
)
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter

from sqsobs.telemetry._options import TelemetryOptions

__all__ = [
    "PROMETHEUS_RESOURCE_LABELS",
    "exemplar_filter",
    "metric_exporters",
    "metric_readers",
    "serve_prometheus",
    "span_exporters",
]

logger = logging.getLogger(__name__)

#: Resource attributes the Prometheus endpoint puts on every series (``service_instance_id``).
PROMETHEUS_RESOURCE_LABELS = frozenset({"service.instance.id"})


def span_exporters(options: TelemetryOptions) -> list[SpanExporter]:
    """The span exporters ``options`` ask for, OTLP first."""
    exporters: list[SpanExporter] = []
    if options.traces_otlp:
        exporters.append(_otlp_span_exporter(options))
    if options.traces_console:
        exporters.append(ConsoleSpanExporter())
    return exporters


def metric_exporters(options: TelemetryOptions) -> list[MetricExporter]:
    """The pushing metric exporters ``options`` ask for, OTLP first (Prometheus is pulled)."""
    exporters: list[MetricExporter] = []
    if options.metrics_otlp:
        exporters.append(_otlp_metric_exporter(options))
    if options.metrics_console:
        exporters.append(ConsoleMetricExporter())
    return exporters


def metric_readers(
    options: TelemetryOptions, exporters: list[MetricExporter]
) -> tuple[list[MetricReader], MetricReader | None]:
    """A periodic reader per exporter, plus the Prometheus reader (also returned on its own)."""
    readers: list[MetricReader] = [
        PeriodicExportingMetricReader(
            exporter, export_interval_millis=options.metric_export_interval_millis
        )
        for exporter in exporters
    ]
    if options.prometheus_port is None:
        return readers, None
    from opentelemetry.exporter.prometheus import PrometheusMetricReader

    # service.instance.id on every series as well as on target_info: each process's series stay
    # apart wherever they are scraped or relabelled, and a sum over processes is a real sum.
    prometheus: MetricReader = PrometheusMetricReader(
        resource_attribute_filter=PROMETHEUS_RESOURCE_LABELS.__contains__
    )
    return [*readers, prometheus], prometheus


def exemplar_filter(name: str) -> ExemplarFilter:
    """The SDK's exemplar filter called ``name`` (one of ``EXEMPLAR_FILTERS``).

    ``trace_based`` (the default) keeps, per histogram bucket, a measurement made inside a
    sampled span, with that span's trace and span id: the OTLP exporters send them.
    """
    filters: dict[str, ExemplarFilter] = {
        "trace_based": TraceBasedExemplarFilter(),
        "always_on": AlwaysOnExemplarFilter(),
        "always_off": AlwaysOffExemplarFilter(),
    }
    return filters[name]


def serve_prometheus(host: str, port: int) -> tuple[Any, int | None]:
    """Start the /metrics HTTP server; a busy port is logged, never fatal to the application."""
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(port, addr=host)
    except OSError as error:
        logger.error("Prometheus endpoint not started on %s:%s: %s", host, port, error)
        return None, None
    return server, int(server.server_port)


def _signal_url(options: TelemetryOptions, path: str) -> str | None:
    endpoint = options.otlp_endpoint
    if not endpoint:
        return None  # the exporter reads the OTEL_EXPORTER_OTLP_* variables itself
    return endpoint if options.protocol == "grpc" else f"{endpoint.rstrip('/')}/{path}"


def _otlp_span_exporter(options: TelemetryOptions) -> SpanExporter:
    url = _signal_url(options, "v1/traces")
    if options.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpanExporter,
        )

        return GrpcSpanExporter(endpoint=url)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=url)


def _otlp_metric_exporter(options: TelemetryOptions) -> MetricExporter:
    url = _signal_url(options, "v1/metrics")
    if options.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetricExporter,
        )

        return GrpcMetricExporter(endpoint=url)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter(endpoint=url)
