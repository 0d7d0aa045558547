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
    "BACKLOG_PER_WORKER",
    "DLQ",
    "ERROR",
    "FAILED",
    "OK",
    "OPERATION",
    "PROPAGATION_REASON",
    "PROTECTION_REQUEST",
    "QUEUE",
    "QUEUE_STATE",
    "REASON",
    "RECORDING_RULES",
    "SERVICE_LABEL",
    "VISIBLE",
    "WORKER_UTILIZATION",
    "Query",
    "backlog_per_worker",
    "gauge",
    "mean",
    "per_queue",
    "percentiles",
    "quantile",
    "queue_gauge",
    "rate",
    "ratio",
    "selector",
    "unit",
    "worker_utilization",
]

#: The label that names the service: Prometheus' scrape ``job``.
SERVICE_LABEL = "job"


QUEUE = c.prometheus_label(c.ATTR_DESTINATION)
ERROR = c.prometheus_label(c.ATTR_ERROR_TYPE)
OPERATION = c.prometheus_label(c.ATTR_OPERATION_NAME)
REASON = c.prometheus_label(c.ATTR_FLUSH_REASON)
PROPAGATION_REASON = c.prometheus_label(c.ATTR_PROPAGATION_REASON)
QUEUE_STATE = c.prometheus_label(c.ATTR_QUEUE_STATE)
DLQ = c.prometheus_label(c.ATTR_DLQ_NAME)
PROTECTION_REQUEST = c.prometheus_label(c.ATTR_PROTECTION_REQUEST)
#: Messages waiting to be received: SQS's ApproximateNumberOfMessages.
VISIBLE = f'{QUEUE_STATE}="visible"'
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


def selector(extra: str = "", *, scoped: bool = True) -> str:
    """The label selector of the chosen services and queues, plus ``extra`` matchers.

    ``scoped=False``: no dashboard variables (for recording rules and autoscalers).
    """
    matchers = [m for m in (_SCOPE if scoped else "", extra) if m]
    return "{" + ",".join(matchers) + "}" if matchers else ""


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


def queue_gauge(
    spec: c.MetricSpec, *, by: tuple[str, ...] = (QUEUE,), where: str = "", scoped: bool = True
) -> str:
    """A gauge every instance reports alike (a queue's backlog): the largest, by ``by``."""
    return f"max by ({', '.join(by)}) ({spec.prometheus_name}{selector(where, scoped=scoped)})"


def backlog_per_worker(*, scoped: bool = True) -> str:
    """Messages waiting per worker slot across every instance on the queue.

    The visible messages of the queue (read by any instance with ``backlog_metrics``) over the
    sum of the instances' ``worker_threads``: what KEDA and ECS target tracking scale on.
    """
    slots = f"{c.WORKERS_SLOTS.prometheus_name}{selector(scoped=scoped)}"
    backlog = queue_gauge(c.QUEUE_MESSAGES, where=VISIBLE, scoped=scoped)
    return f"{backlog} / sum by ({QUEUE}) ({slots})"


def worker_utilization(*, scoped: bool = True) -> str:
    """The instances' mean utilisation on the queue, as a ratio (0-1)."""
    busy = f"{c.WORKERS_UTILIZATION.prometheus_name}{selector(scoped=scoped)}"
    return f"avg by ({QUEUE}) ({busy}) / 100"


#: The names of the recording rules in ``dashboards/prometheus/recording.yml``.
BACKLOG_PER_WORKER = "queue:sqsobs_backlog_per_worker:ratio"
WORKER_UTILIZATION = "queue:sqsobs_worker_utilization:ratio"
#: Recording rule name -> expression (``tests/test_alerts.py`` holds the file to these).
RECORDING_RULES = {
    BACKLOG_PER_WORKER: backlog_per_worker(scoped=False),
    WORKER_UTILIZATION: worker_utilization(scoped=False),
}


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
