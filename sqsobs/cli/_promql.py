"""PromQL built from the metric catalog: rates, quantiles, means and gauges per queue.

Every expression names a metric through its :class:`~sqsobs.telemetry.catalog.MetricSpec`
(``prometheus_name`` and attributes), so a renamed metric changes every query with it. Each
selector is scoped by the dashboards' variables: ``$service`` (the Prometheus ``job``) and
``$queue`` (``messaging.destination.name``).

Example::

    >>> per_queue("p99")
    '{{messaging_destination_name}} p99'
"""

from __future__ import annotations

from dataclasses import dataclass

from sqsobs.telemetry import catalog as c

__all__ = [
    "ERROR",
    "FAILED",
    "OK",
    "OPERATION",
    "PROPAGATION_REASON",
    "QUEUE",
    "REASON",
    "SERVICE_LABEL",
    "Query",
    "gauge",
    "mean",
    "per_queue",
    "percentiles",
    "quantile",
    "rate",
    "ratio",
    "selector",
    "unit",
]

#: The label that names the service: Prometheus' scrape ``job``.
SERVICE_LABEL = "job"


QUEUE = c.prometheus_label(c.ATTR_DESTINATION)
ERROR = c.prometheus_label(c.ATTR_ERROR_TYPE)
OPERATION = c.prometheus_label(c.ATTR_OPERATION_NAME)
REASON = c.prometheus_label(c.ATTR_FLUSH_REASON)
PROPAGATION_REASON = c.prometheus_label(c.ATTR_PROPAGATION_REASON)
#: Series of calls that succeeded (no ``error.type``).
OK = f'{ERROR}=""'
#: Series of calls that failed.
FAILED = f'{ERROR}!=""'
_SCOPE = f'{SERVICE_LABEL}=~"$service",{QUEUE}=~"$queue"'
_GRAFANA_UNITS = {"s": "s", "By": "bytes"}


@dataclass(frozen=True)
class Query:
    """One PromQL expression of a panel and its legend template."""

    expr: str
    legend: str


def selector(extra: str = "") -> str:
    """The label selector of the chosen services and queues, plus ``extra`` matchers."""
    return "{" + _SCOPE + (f",{extra}" if extra else "") + "}"


def rate(spec: c.MetricSpec, *, by: tuple[str, ...] = (QUEUE,), where: str = "") -> str:
    """Events per second (a histogram's observations), summed by the labels ``by``."""
    suffix = "_count" if spec.kind == "histogram" else ""
    inner = f"rate({spec.prometheus_name}{suffix}{selector(where)}[$__rate_interval])"
    return f"sum by ({', '.join(by)}) ({inner})" if by else f"sum({inner})"


def quantile(
    q: float, spec: c.MetricSpec, *, by: tuple[str, ...] = (QUEUE,), where: str = ""
) -> str:
    """The ``q`` quantile of a histogram, by the labels ``by``."""
    keys = ", ".join(("le", *by))
    bucket = f"rate({spec.prometheus_name}_bucket{selector(where)}[$__rate_interval])"
    return f"histogram_quantile({q}, sum by ({keys}) ({bucket}))"


def mean(spec: c.MetricSpec, *, by: tuple[str, ...] = (QUEUE,), where: str = "") -> str:
    """A histogram's mean observation, by the labels ``by``."""
    keys = ", ".join(by)
    total = f"rate({spec.prometheus_name}_sum{selector(where)}[$__rate_interval])"
    count = f"rate({spec.prometheus_name}_count{selector(where)}[$__rate_interval])"
    return f"sum by ({keys}) ({total}) / sum by ({keys}) ({count})"


def gauge(spec: c.MetricSpec) -> str:
    """An up-down counter's current value per queue."""
    return f"sum by ({QUEUE}) ({spec.prometheus_name}{selector()})"


def ratio(failed: c.MetricSpec, total: c.MetricSpec, total_where: str = "") -> str:
    """Failures per event over all chosen queues."""
    # No failure yet means no failure series at all: count it as zero, not as "no data".
    return f"({rate(failed, by=())} or vector(0)) / {rate(total, by=(), where=total_where)}"


def unit(spec: c.MetricSpec) -> str:
    """The Grafana unit of a catalog metric."""
    return _GRAFANA_UNITS.get(spec.unit, "short")


def per_queue(legend: str = "") -> str:
    """A legend template: the queue's name, then ``legend``."""
    return "{{" + QUEUE + "}}" + (f" {legend}" if legend else "")


def percentiles(
    spec: c.MetricSpec, where: str = "", qs: tuple[float, ...] = (0.5, 0.95, 0.99)
) -> tuple[Query, ...]:
    """One query per quantile in ``qs``, per queue, legends ``p50``, ``p95`` ..."""
    return tuple(Query(quantile(q, spec, where=where), per_queue(f"p{round(q * 100)}")) for q in qs)
