"""What configure_telemetry() wires, resolved from its arguments and the ``OTEL_*`` variables.

Arguments win over the standard OpenTelemetry variables, which win over the defaults. Every
value is checked here, before anything starts, so a bad one raises
:class:`~sqsobs.errors.ConfigError` naming the argument or variable and leaves nothing running.

Example::

    options = resolve_options(otlp_protocol="http/protobuf", prometheus_port=0)
    options.traces_otlp, options.prometheus_port        # (True, 0)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlparse

from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased

from sqsobs._config import float_setting, int_setting, str_setting
from sqsobs.errors import ConfigError

__all__ = [
    "DEFAULT",
    "DEFAULT_PROMETHEUS_PORT",
    "EXEMPLAR_FILTERS",
    "PROTOCOLS",
    "Default",
    "TelemetryOptions",
    "resolve_options",
]

#: The Prometheus exporter's registered default port.
DEFAULT_PROMETHEUS_PORT = 9464
#: OTLP protocols: gRPC (port 4317) or HTTP with protobuf bodies (port 4318).
PROTOCOLS = ("grpc", "http/protobuf")
#: ``OTEL_METRICS_EXEMPLAR_FILTER`` values, as the SDK names them.
EXEMPLAR_FILTERS = ("trace_based", "always_on", "always_off")
_DEFAULT_ENDPOINTS = {"grpc": "http://localhost:4317", "http/protobuf": "http://localhost:4318"}
_KNOWN_EXPORTERS = {
    "OTEL_TRACES_EXPORTER": frozenset({"otlp", "console", "none"}),
    "OTEL_METRICS_EXPORTER": frozenset({"otlp", "console", "prometheus", "none"}),
}


class Default(Enum):
    """The type of :data:`DEFAULT`: "not given", where None already means "off"."""

    TOKEN = 0


#: ``prometheus_port`` not given: the environment (or the default port) decides.
DEFAULT = Default.TOKEN


@dataclass(frozen=True)
class TelemetryOptions:
    """The checked settings of one :func:`~sqsobs.configure_telemetry` call."""

    #: ``grpc`` or ``http/protobuf``.
    protocol: str
    #: The OTLP base URL given as an argument (None: the exporters read the variables).
    otlp_endpoint: str | None
    traces_otlp: bool
    traces_console: bool
    metrics_otlp: bool
    metrics_console: bool
    #: None: the SDK reads ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``.
    sampler: ParentBased | None
    #: None: the SDK reads ``OTEL_METRIC_EXPORT_INTERVAL`` (default 60 s).
    metric_export_interval_millis: float | None
    #: Which measurements keep exemplars: ``trace_based``, ``always_on`` or ``always_off``.
    exemplar_filter: str
    #: None: no Prometheus endpoint; 0: any free port.
    prometheus_port: int | None
    prometheus_host: str
    resource_attributes: dict[str, Any]

    @property
    def otlp(self) -> bool:
        """True when traces or metrics go to OTLP."""
        return self.traces_otlp or self.metrics_otlp

    @property
    def shown_endpoint(self) -> str:
        """The OTLP endpoint the exporters use, as the handle shows it."""
        chosen = self.otlp_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        return chosen or _DEFAULT_ENDPOINTS[self.protocol]


def resolve_options(
    *,
    service_name: str | None = None,
    otlp_endpoint: str | None = None,
    otlp_protocol: str | None = None,
    prometheus_port: int | Default | None = DEFAULT,
    prometheus_host: str | None = None,
    resource_attributes: Mapping[str, str] | None = None,
    trace_sample_ratio: float | None = None,
    metric_export_interval_seconds: float | None = None,
    console_exporter: bool = False,
) -> TelemetryOptions:
    """Check every argument and variable; raise ConfigError naming the first bad one."""
    protocol = str_setting(
        "otlp_protocol",
        otlp_protocol,
        env="OTEL_EXPORTER_OTLP_PROTOCOL",
        default="grpc",
        choices=PROTOCOLS,
    )
    listed_traces = _exporter_names("OTEL_TRACES_EXPORTER")
    trace_names = frozenset({"otlp"}) if listed_traces is None else listed_traces
    metric_names = _metric_exporter_names(prometheus_port)
    _check_endpoint(otlp_endpoint)
    attributes: dict[str, Any] = dict(resource_attributes or {})
    if service_name:
        attributes["service.name"] = service_name
    return TelemetryOptions(
        protocol=protocol,
        otlp_endpoint=otlp_endpoint,
        traces_otlp=otlp_endpoint is not None or "otlp" in trace_names,
        traces_console=console_exporter or "console" in trace_names,
        # An endpoint argument sends metrics to OTLP unless Prometheus is their path.
        metrics_otlp="otlp" in metric_names
        or (otlp_endpoint is not None and "prometheus" not in metric_names),
        metrics_console=console_exporter or "console" in metric_names,
        sampler=_sampler(trace_sample_ratio),
        metric_export_interval_millis=_interval_millis(metric_export_interval_seconds),
        exemplar_filter=str_setting(
            "OTEL_METRICS_EXEMPLAR_FILTER",
            None,
            env="OTEL_METRICS_EXEMPLAR_FILTER",
            default="trace_based",
            choices=EXEMPLAR_FILTERS,
        ),
        prometheus_port=_prometheus_port(prometheus_port, "prometheus" in metric_names),
        prometheus_host=str_setting(
            "prometheus_host",
            prometheus_host,
            env="OTEL_EXPORTER_PROMETHEUS_HOST",
            default="127.0.0.1",
        ),
        resource_attributes=attributes,
    )


def _exporter_names(variable: str) -> frozenset[str] | None:
    """The exporters ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` list; None when unset.

    ``none`` lists none. An exporter sqsobs cannot wire is an error: ignoring it would export
    nothing, silently.
    """
    raw = os.environ.get(variable, "")
    if not raw.strip():
        return None
    names = frozenset(part.strip().lower() for part in raw.split(",")) - {""}
    unknown = names - _KNOWN_EXPORTERS[variable]
    if unknown:
        known = ", ".join(sorted(_KNOWN_EXPORTERS[variable]))
        raise ConfigError(variable, f"unsupported exporter(s) {sorted(unknown)}; use {known}")
    return names - {"none"}


def _metric_exporter_names(prometheus_port: int | Default | None) -> frozenset[str]:
    """One metrics path unless ``OTEL_METRICS_EXPORTER`` lists more.

    Both paths ending in one Prometheus would count every series twice, so the default is one:
    OTLP (the OpenTelemetry default), or Prometheus alone when a ``prometheus_port`` is given.
    """
    listed = _exporter_names("OTEL_METRICS_EXPORTER")
    if listed is not None:
        return listed
    if isinstance(prometheus_port, int):
        return frozenset({"prometheus"})
    return frozenset({"otlp"})


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
        return None
    checked = float_setting("trace_sample_ratio", ratio, default=1.0, minimum=0.0, maximum=1.0)
    if checked == 1.0:
        # The same decisions as TraceIdRatioBased(1.0), without its per-span arithmetic.
        return ParentBased(ALWAYS_ON)
    return ParentBased(TraceIdRatioBased(checked))


def _interval_millis(seconds: float | None) -> float | None:
    if seconds is None:
        return None
    checked = float_setting("metric_export_interval_seconds", seconds, default=60.0, minimum=0.01)
    return checked * 1000.0


def _prometheus_port(port: int | Default | None, listed: bool) -> int | None:
    # The variable is checked whenever it is set: a bad value is an error even while unused.
    from_env = int_setting(
        "prometheus_port",
        None,
        env="OTEL_EXPORTER_PROMETHEUS_PORT",
        default=DEFAULT_PROMETHEUS_PORT,
        minimum=0,
        maximum=65535,
    )
    if port is None:
        return None
    if isinstance(port, Default):
        return from_env if listed else None
    return int_setting("prometheus_port", port, default=0, minimum=0, maximum=65535)
