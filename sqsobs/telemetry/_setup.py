"""configure_telemetry(): the OpenTelemetry SDK with OTLP and Prometheus, wired once per process.

This is the one entry point that wires the SDK: it resolves the settings
(:mod:`~sqsobs.telemetry._options`), builds the exporters (:mod:`~sqsobs.telemetry._exporters`)
and sets the global providers. Everything else records through ``opentelemetry-api``, so an
application that sets its own providers gets the same spans and metrics without calling this.

Example::

    import sqsobs

    telemetry = sqsobs.configure_telemetry("orders-service", prometheus_port=9464)
    ...
    telemetry.shutdown()          # also runs at exit, bounded in time
"""

from __future__ import annotations

import atexit
import logging
import threading
import uuid
from collections.abc import Mapping

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from sqsobs._config import bool_setting
from sqsobs.telemetry._agent import borrow, existing_providers
from sqsobs.telemetry._export_logs import install_export_log_limiter
from sqsobs.telemetry._exporters import (
    exemplar_filter,
    metric_exporters,
    metric_readers,
    serve_prometheus,
    span_exporters,
)
from sqsobs.telemetry._handle import Telemetry
from sqsobs.telemetry._options import DEFAULT, Default, TelemetryOptions, resolve_options

__all__ = ["configure_telemetry"]

logger = logging.getLogger(__name__)

#: Export failures are logged at most once per this many seconds (per kind of message).
EXPORT_ERROR_LOG_INTERVAL_SECONDS = 60.0

_lock = threading.Lock()
_active: Telemetry | None = None


def configure_telemetry(
    service_name: str | None = None,
    *,
    otlp_endpoint: str | None = None,
    otlp_protocol: str | None = None,
    prometheus_port: int | Default | None = DEFAULT,
    prometheus_host: str | None = None,
    resource_attributes: Mapping[str, str] | None = None,
    trace_sample_ratio: float | None = None,
    metric_export_interval_seconds: float | None = None,
    console_exporter: bool = False,
    logs: bool = True,
) -> Telemetry:
    """Set the global TracerProvider and MeterProvider; return their handle.

    - Traces: one ``TracerProvider`` with a batch span processor to OTLP.
    - Metrics: one ``MeterProvider`` with one path, so that no series can be counted twice:
      a periodic OTLP reader by default, or, when ``prometheus_port`` is given, a Prometheus
      reader served at ``http://{prometheus_host}:{prometheus_port}/metrics`` instead
      (``None``: off, ``0``: any free port, see :attr:`Telemetry.prometheus_port`).
      ``OTEL_METRICS_EXPORTER=otlp,prometheus`` asks for both.
    - Every span and series carries ``service.instance.id`` (unique per process unless given);
      duration histograms keep exemplars (``OTEL_METRICS_EXEMPLAR_FILTER``, default
      ``trace_based``) on the OTLP path.
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
    unless ``prometheus_port`` is given), ``OTEL_METRICS_EXEMPLAR_FILTER``,
    ``OTEL_PROPAGATORS`` (read by the API), ``OTEL_SDK_DISABLED=true`` (configure nothing).

    Export failures (no collector) never block or fail message flow: spans queue in memory and
    are dropped when the queue is full; failures are logged once per minute, not per batch.

    A second call is a no-op that returns the first handle (with a warning). If global providers
    are already set (``opentelemetry-instrument``, AWS's ADOT, or the application's own), sqsobs
    records into those and adds nothing; one log line names the arguments not applied, and the
    handle flushes those providers but leaves shutting them down to their owner.

    Example::

        telemetry = sqsobs.configure_telemetry("orders-service", prometheus_port=0)
        print(telemetry.prometheus_url)     # http://127.0.0.1:<a free port>/metrics
        ...
        telemetry.shutdown()                # also runs at exit, bounded in time
    """
    global _active  # noqa: PLW0603 - global providers can be set once per process
    with _lock:
        if _active is not None:
            logger.warning("configure_telemetry() already ran; returning the existing handle")
            return _active
        if logs:
            _configure_logging_unless_configured()
        providers = existing_providers()
        if providers is not None:
            port = None if isinstance(prometheus_port, Default) else prometheus_port
            asked = {
                "service_name": service_name,
                "otlp_endpoint": otlp_endpoint,
                "otlp_protocol": otlp_protocol,
                "prometheus_port": port,
                "prometheus_host": prometheus_host,
                "resource_attributes": resource_attributes,
                "trace_sample_ratio": trace_sample_ratio,
                "metric_export_interval_seconds": metric_export_interval_seconds,
                "console_exporter": console_exporter or None,
            }
            # The agent's exporters fail per batch too without a collector: same rate limit.
            install_export_log_limiter(EXPORT_ERROR_LOG_INTERVAL_SECONDS)
            _active = borrow(providers, {k: v for k, v in asked.items() if v is not None})
            return _active
        if bool_setting("OTEL_SDK_DISABLED", None, env="OTEL_SDK_DISABLED", default=False):
            logger.info("OTEL_SDK_DISABLED is true: telemetry is not configured")
            _active = Telemetry(service_name=service_name or "")
            return _active
        install_export_log_limiter(EXPORT_ERROR_LOG_INTERVAL_SECONDS)
        options = resolve_options(
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
        _active = _build(options)
        return _active


def _configure_logging_unless_configured() -> None:
    from sqsobs._logs import TraceContextFilter, configure_logging, owns

    root = logging.getLogger()
    # OpenTelemetry's own handler (an agent's log export) prints nothing: not the app's output.
    foreign = [
        handler
        for handler in root.handlers
        if not owns(handler) and not type(handler).__module__.startswith("opentelemetry.")
    ]
    if not foreign:
        configure_logging()
        return
    # The application set up logging itself: keep its handlers (a second one would print every
    # line twice) but give their records the trace ids.
    for handler in foreign:
        if not any(isinstance(f, TraceContextFilter) for f in handler.filters):
            handler.addFilter(TraceContextFilter())


def _resource(options: TelemetryOptions) -> Resource:
    """The resource of every span and metric: one ``service.instance.id`` per process.

    The SDK generates a UUID v4 unless one is given (``resource_attributes`` or
    ``OTEL_RESOURCE_ATTRIBUTES``); SDKs that do not get one here, as the specification advises.
    """
    resource = Resource.create(options.resource_attributes)
    if SERVICE_INSTANCE_ID in resource.attributes:
        return resource
    return resource.merge(Resource({SERVICE_INSTANCE_ID: str(uuid.uuid4())}))


def _build(options: TelemetryOptions) -> Telemetry:
    """Build the providers, set them globally, start the Prometheus endpoint: the handle."""
    resource = _resource(options)
    spans = span_exporters(options)
    tracer_provider = TracerProvider(
        resource=resource, sampler=options.sampler, shutdown_on_exit=False
    )
    for exporter in spans:
        tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    pushed = metric_exporters(options)
    readers, prometheus_reader = metric_readers(options, pushed)
    meter_provider = MeterProvider(
        metric_readers=readers,
        resource=resource,
        shutdown_on_exit=False,
        exemplar_filter=exemplar_filter(options.exemplar_filter),
    )
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    port = options.prometheus_port
    host = options.prometheus_host
    server, bound_port = serve_prometheus(host, port) if port is not None else (None, None)
    telemetry = Telemetry(
        service_name=str(resource.attributes.get("service.name", "")),
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        exporters=[*spans, *pushed],
        otlp_endpoint=options.shown_endpoint if options.otlp else None,
        otlp_protocol=options.protocol if options.otlp else None,
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
