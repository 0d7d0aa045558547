"""configure_telemetry(): the OpenTelemetry SDK with OTLP and Prometheus, wired once per process.

This is the only sqsobs module that imports the SDK and exporters. Everything else records
through ``opentelemetry-api``, so an application that sets its own providers gets the same
spans and metrics without calling this.

Example::

    import sqsobs

    telemetry = sqsobs.configure_telemetry("orders-service", prometheus_port=9464)
    ...
    telemetry.shutdown()          # also runs at exit, bounded in time
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Mapping
from enum import Enum
from typing import Any
from urllib.parse import urlparse

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased

from sqsobs._config import bool_setting, float_setting, int_setting, str_setting
from sqsobs.errors import ConfigError
from sqsobs.telemetry._export_logs import install_export_log_limiter
from sqsobs.telemetry._handle import Telemetry

__all__ = ["DEFAULT_PROMETHEUS_PORT", "PROTOCOLS", "Telemetry", "configure_telemetry"]

logger = logging.getLogger(__name__)

#: The Prometheus exporter's registered default port.
DEFAULT_PROMETHEUS_PORT = 9464
#: OTLP protocols: gRPC (port 4317) or HTTP with protobuf bodies (port 4318).
PROTOCOLS = ("grpc", "http/protobuf")
_DEFAULT_ENDPOINTS = {"grpc": "http://localhost:4317", "http/protobuf": "http://localhost:4318"}
#: Export failures are logged at most once per this many seconds (per kind of message).
EXPORT_ERROR_LOG_INTERVAL_SECONDS = 60.0


class _Default(Enum):
    TOKEN = 0


_DEFAULT = _Default.TOKEN
_lock = threading.Lock()
_active: Telemetry | None = None


def configure_telemetry(
    service_name: str | None = None,
    *,
    otlp_endpoint: str | None = None,
    otlp_protocol: str | None = None,
    prometheus_port: int | _Default | None = _DEFAULT,
    prometheus_host: str | None = None,
    resource_attributes: Mapping[str, str] | None = None,
    trace_sample_ratio: float | None = None,
    metric_export_interval_seconds: float | None = None,
    console_exporter: bool = False,
    logs: bool = True,
) -> Telemetry:
    """Set the global TracerProvider and MeterProvider; return their handle.

    - Traces: one ``TracerProvider`` with a batch span processor to OTLP.
    - Metrics: one ``MeterProvider`` with a periodic OTLP reader and a Prometheus reader served
      at ``http://{prometheus_host}:{prometheus_port}/metrics`` (``prometheus_port=None``: off,
      ``0``: any free port, see :attr:`Telemetry.prometheus_port`).
    - ``logs``: also :func:`sqsobs.configure_logging` (``LOG_*`` variables apply), unless the
      root logger already has the application's handlers: those are kept and only get the
      ``trace_id`` / ``span_id`` record attributes.

    Arguments win over the standard variables, which win over the defaults:
    ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_ENDPOINT`` (and the
    per-signal ``..._TRACES_/..._METRICS_ENDPOINT``, headers, timeout, certificates read by the
    exporters), ``OTEL_EXPORTER_OTLP_PROTOCOL`` (default ``grpc``), ``OTEL_TRACES_SAMPLER`` /
    ``OTEL_TRACES_SAMPLER_ARG``, ``OTEL_METRIC_EXPORT_INTERVAL`` (ms, default 60 s),
    ``OTEL_EXPORTER_PROMETHEUS_HOST`` (default ``127.0.0.1``) / ``_PORT`` (default 9464),
    ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` (lists of ``otlp``, ``console``,
    ``prometheus`` or ``none``; a metrics list without ``prometheus`` turns the endpoint off
    unless ``prometheus_port`` is given),
    ``OTEL_PROPAGATORS`` (read by the API), ``OTEL_SDK_DISABLED=true`` (configure nothing).

    Export failures (no collector) never block or fail message flow: spans queue in memory and
    are dropped when the queue is full; failures are logged once per minute, not per batch.

    A second call is a no-op that returns the first handle (with a warning). If the application
    already set global providers, :class:`~sqsobs.ConfigError` is raised: sqsobs records into
    those, so there is nothing to configure.
    """
    global _active  # noqa: PLW0603 - global providers can be set once per process
    with _lock:
        if _active is not None:
            logger.warning("configure_telemetry() already ran; returning the existing handle")
            return _active
        _refuse_foreign_providers()
        if logs:
            _configure_logging_unless_configured()
        if bool_setting("OTEL_SDK_DISABLED", None, env="OTEL_SDK_DISABLED", default=False):
            logger.info("OTEL_SDK_DISABLED is true: telemetry is not configured")
            _active = Telemetry(service_name=service_name or "")
            return _active
        _active = _build(
            service_name=service_name,
            otlp_endpoint=otlp_endpoint,
            otlp_protocol=otlp_protocol,
            prometheus_port=prometheus_port,
            prometheus_host=prometheus_host,
            resource_attributes=resource_attributes,
            trace_sample_ratio=trace_sample_ratio,
            metric_export_interval_seconds=metric_export_interval_seconds,
            console_exporter=console_exporter,
        )
        return _active


def _configure_logging_unless_configured() -> None:
    from sqsobs._logs import TraceContextFilter, configure_logging, owns

    root = logging.getLogger()
    foreign = [handler for handler in root.handlers if not owns(handler)]
    if not foreign:
        configure_logging()
        return
    # The application set up logging itself: keep its handlers (a second one would print every
    # line twice) but give their records the trace ids.
    for handler in foreign:
        if not any(isinstance(f, TraceContextFilter) for f in handler.filters):
            handler.addFilter(TraceContextFilter())


def _refuse_foreign_providers() -> None:
    tracer_provider = trace.get_tracer_provider()
    meter_provider = metrics.get_meter_provider()
    if not isinstance(tracer_provider, trace.ProxyTracerProvider) or (
        type(meter_provider).__name__ != "_ProxyMeterProvider"
    ):
        raise ConfigError(
            "configure_telemetry",
            "global OpenTelemetry providers are already set by the application; sqsobs records "
            "into them, so do not call configure_telemetry()",
        )


def _build(
    *,
    service_name: str | None,
    otlp_endpoint: str | None,
    otlp_protocol: str | None,
    prometheus_port: int | _Default | None,
    prometheus_host: str | None,
    resource_attributes: Mapping[str, str] | None,
    trace_sample_ratio: float | None,
    metric_export_interval_seconds: float | None,
    console_exporter: bool,
) -> Telemetry:
    install_export_log_limiter(EXPORT_ERROR_LOG_INTERVAL_SECONDS)
    protocol = str_setting(
        "otlp_protocol",
        otlp_protocol,
        env="OTEL_EXPORTER_OTLP_PROTOCOL",
        default="grpc",
        choices=PROTOCOLS,
    )
    trace_names = _exporter_names("OTEL_TRACES_EXPORTER", default=("otlp",))
    metric_names = _exporter_names("OTEL_METRICS_EXPORTER", default=("otlp", "prometheus"))
    traces_otlp = otlp_endpoint is not None or "otlp" in trace_names
    metrics_otlp = otlp_endpoint is not None or "otlp" in metric_names
    # Every setting is checked before anything starts, so a bad one leaves nothing running.
    _check_endpoint(otlp_endpoint)
    sampler = _sampler(trace_sample_ratio)
    fast_encoding = bool_setting(
        "SQSOBS_FAST_SPAN_ENCODING", None, env="SQSOBS_FAST_SPAN_ENCODING", default=True
    )
    interval_millis = _interval_millis(metric_export_interval_seconds)
    port = _prometheus_port(prometheus_port, "prometheus" in metric_names)
    host = str_setting(
        "prometheus_host", prometheus_host, env="OTEL_EXPORTER_PROMETHEUS_HOST", default="127.0.0.1"
    )
    attributes: dict[str, Any] = dict(resource_attributes or {})
    if service_name:
        attributes["service.name"] = service_name
    resource = Resource.create(attributes)

    span_exporters: list[SpanExporter] = []
    if traces_otlp:
        span_exporters.append(_otlp_span_exporter(protocol, otlp_endpoint, fast_encoding))
    if console_exporter or "console" in trace_names:
        span_exporters.append(ConsoleSpanExporter())
    tracer_provider = TracerProvider(resource=resource, sampler=sampler, shutdown_on_exit=False)
    for exporter in span_exporters:
        tracer_provider.add_span_processor(BatchSpanProcessor(exporter))

    metric_exporters: list[MetricExporter] = []
    if metrics_otlp:
        metric_exporters.append(_otlp_metric_exporter(protocol, otlp_endpoint))
    if console_exporter or "console" in metric_names:
        metric_exporters.append(ConsoleMetricExporter())
    readers: list[MetricReader] = [
        PeriodicExportingMetricReader(exporter, export_interval_millis=interval_millis)
        for exporter in metric_exporters
    ]
    prometheus_reader = _prometheus_reader() if port is not None else None
    if prometheus_reader is not None:
        readers.append(prometheus_reader)
    meter_provider = MeterProvider(
        metric_readers=readers, resource=resource, shutdown_on_exit=False
    )

    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    server, bound_port = _serve_prometheus(host, port) if port is not None else (None, None)
    telemetry = Telemetry(
        service_name=str(resource.attributes.get("service.name", "")),
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        exporters=[*span_exporters, *metric_exporters],
        otlp_endpoint=(
            _shown_endpoint(protocol, otlp_endpoint) if traces_otlp or metrics_otlp else None
        ),
        otlp_protocol=protocol if traces_otlp or metrics_otlp else None,
        prometheus_host=host if server is not None else None,
        prometheus_port=bound_port,
        prometheus_server=server,
        prometheus_reader=prometheus_reader,
    )
    atexit.register(telemetry.shutdown)
    logger.info(
        "telemetry configured: service=%s otlp=%s %s prometheus=%s",
        telemetry.service_name,
        telemetry.otlp_protocol,
        telemetry.otlp_endpoint,
        telemetry.prometheus_url,
    )
    return telemetry


_KNOWN_EXPORTERS = {
    "OTEL_TRACES_EXPORTER": frozenset({"otlp", "console", "none"}),
    "OTEL_METRICS_EXPORTER": frozenset({"otlp", "console", "prometheus", "none"}),
}


def _exporter_names(variable: str, *, default: tuple[str, ...]) -> frozenset[str]:
    """The exporters ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` list (``none``: none).

    An exporter sqsobs cannot wire is an error: ignoring it would export nothing, silently.
    """
    raw = os.environ.get(variable, "")
    if not raw.strip():
        return frozenset(default)
    names = frozenset(part.strip().lower() for part in raw.split(",")) - {""}
    unknown = names - _KNOWN_EXPORTERS[variable]
    if unknown:
        known = ", ".join(sorted(_KNOWN_EXPORTERS[variable]))
        raise ConfigError(variable, f"unsupported exporter(s) {sorted(unknown)}; use {known}")
    return names - {"none"}


def _check_endpoint(endpoint: str | None) -> None:
    """An OTLP endpoint must be an http(s) URL with a host, as the OTLP exporter spec says."""
    setting = "otlp_endpoint" if endpoint is not None else "OTEL_EXPORTER_OTLP_ENDPOINT"
    value = endpoint if endpoint is not None else os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not value:
        return
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(setting, f"must be an http:// or https:// URL, got {value!r}")


def _sampler(ratio: float | None) -> ParentBased | None:
    if ratio is None:
        return None  # the SDK reads OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG
    checked = float_setting("trace_sample_ratio", ratio, default=1.0, minimum=0.0, maximum=1.0)
    if checked == 1.0:
        # The same decisions as TraceIdRatioBased(1.0), without its per-span arithmetic.
        return ParentBased(ALWAYS_ON)
    return ParentBased(TraceIdRatioBased(checked))


def _interval_millis(seconds: float | None) -> float | None:
    if seconds is None:
        return None  # the SDK reads OTEL_METRIC_EXPORT_INTERVAL (default 60 s)
    checked = float_setting("metric_export_interval_seconds", seconds, default=60.0, minimum=0.01)
    return checked * 1000.0


def _prometheus_port(port: int | _Default | None, listed: bool) -> int | None:
    if port is None:
        return None
    if isinstance(port, _Default):
        if not listed:
            return None
        return int_setting(
            "prometheus_port",
            None,
            env="OTEL_EXPORTER_PROMETHEUS_PORT",
            default=DEFAULT_PROMETHEUS_PORT,
            minimum=0,
            maximum=65535,
        )
    return int_setting("prometheus_port", port, default=0, minimum=0, maximum=65535)


def _signal_url(protocol: str, endpoint: str, path: str) -> str:
    # OTEL_EXPORTER_OTLP_ENDPOINT semantics: a base URL; HTTP adds the per-signal path.
    return endpoint if protocol == "grpc" else f"{endpoint.rstrip('/')}/{path}"


def _shown_endpoint(protocol: str, endpoint: str | None) -> str:
    chosen = endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return chosen or _DEFAULT_ENDPOINTS[protocol]


def _otlp_span_exporter(protocol: str, endpoint: str | None, fast: bool = True) -> SpanExporter:
    url = _signal_url(protocol, endpoint, "v1/traces") if endpoint else None
    if fast:
        # Same exporter, same bytes on the wire; encoding spans costs a fifth of the CPU.
        from sqsobs.telemetry._otlp_export import fast_span_exporter

        exporter: SpanExporter = fast_span_exporter(protocol, url)
        return exporter
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpanExporter,
        )

        return GrpcSpanExporter(endpoint=url)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=url)


def _otlp_metric_exporter(protocol: str, endpoint: str | None) -> MetricExporter:
    url = _signal_url(protocol, endpoint, "v1/metrics") if endpoint else None
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetricExporter,
        )

        return GrpcMetricExporter(endpoint=url)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter(endpoint=url)


def _prometheus_reader() -> MetricReader:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader

    return PrometheusMetricReader()


def _serve_prometheus(host: str, port: int) -> tuple[Any, int | None]:
    """Start the /metrics HTTP server; a busy port is logged, never fatal to the application."""
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(port, addr=host)
    except OSError as error:
        logger.error("Prometheus endpoint not started on %s:%s: %s", host, port, error)
        return None, None
    return server, int(server.server_port)
