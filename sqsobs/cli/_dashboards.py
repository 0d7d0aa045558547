"""Grafana dashboards generated from the metric catalog.

Every PromQL expression is built from a :class:`~sqsobs.telemetry.catalog.MetricSpec` (its
``prometheus_name`` and attributes), so a renamed metric changes the dashboards with it. The JSON
is rendered with Grafana's ``grafana-foundation-sdk`` (the ``dashboards`` extra), imported only
when a dashboard is rendered, so the library itself does not need it.

Example::

    >>> from sqsobs.cli._dashboards import DASHBOARDS, write_dashboards
    >>> [d.uid for d in DASHBOARDS]
    ['sqsobs-overview', 'sqsobs-producer', 'sqsobs-listener']
    >>> write_dashboards("dashboards/grafana/dashboards")  # doctest: +SKIP

Variables: ``datasource`` (a Prometheus data source), ``service`` (the Prometheus ``job``, which
is the service name both when Prometheus scrapes the app and when an OpenTelemetry Collector
exports it) and ``queue`` (``messaging.destination.name``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqsobs.telemetry import OP_DELETE, OP_HEARTBEAT, OP_RECEIVE, OP_RELEASE, OP_SEND
from sqsobs.telemetry import catalog as c

__all__ = [
    "DASHBOARDS",
    "DashboardDef",
    "PanelDef",
    "Query",
    "dashboard_json",
    "label",
    "render",
    "write_dashboards",
]

#: The label that names the service: Prometheus' scrape ``job``.
SERVICE_LABEL = "job"


def label(attribute: str) -> str:
    """The Prometheus label an OpenTelemetry attribute becomes: ``error.type`` -> ``error_type``."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", attribute)


QUEUE = label(c.ATTR_DESTINATION)
ERROR = label(c.ATTR_ERROR_TYPE)
OPERATION = label(c.ATTR_OPERATION_NAME)
REASON = label(c.ATTR_FLUSH_REASON)
_SCOPE = f'{SERVICE_LABEL}=~"$service",{QUEUE}=~"$queue"'
_GRAFANA_UNITS = {"s": "s", "By": "bytes"}
#: Grafana's Explore on the trace data source (uid ``traces``) provisioned in the local stack.
TRACES_EXPLORE_URL = "/explore?left=%7B%22datasource%22:%22traces%22%7D"


@dataclass(frozen=True)
class Query:
    """One PromQL expression of a panel and its legend template."""

    expr: str
    legend: str


@dataclass(frozen=True)
class PanelDef:
    """A panel: title, what it answers, Grafana unit, queries and visualisation."""

    title: str
    description: str
    unit: str
    queries: tuple[Query, ...]
    style: Literal["timeseries", "stat"] = "timeseries"
    width: int = 12


@dataclass(frozen=True)
class DashboardDef:
    """A dashboard: identity, and rows of panels."""

    uid: str
    title: str
    description: str
    rows: tuple[tuple[str, tuple[PanelDef, ...]], ...]

    @property
    def filename(self) -> str:
        """The JSON file the dashboard is written to."""
        return f"{self.uid}.json"

    def panels(self) -> Iterator[PanelDef]:
        """Every panel, row by row."""
        for _, panels in self.rows:
            yield from panels


def _sel(extra: str = "") -> str:
    return "{" + _SCOPE + (f",{extra}" if extra else "") + "}"


def _rate(spec: c.MetricSpec, *, by: tuple[str, ...] = (QUEUE,), where: str = "") -> str:
    suffix = "_count" if spec.kind == "histogram" else ""
    inner = f"rate({spec.prometheus_name}{suffix}{_sel(where)}[$__rate_interval])"
    return f"sum by ({', '.join(by)}) ({inner})" if by else f"sum({inner})"


def _quantile(
    q: float, spec: c.MetricSpec, *, by: tuple[str, ...] = (QUEUE,), where: str = ""
) -> str:
    keys = ", ".join(("le", *by))
    bucket = f"rate({spec.prometheus_name}_bucket{_sel(where)}[$__rate_interval])"
    return f"histogram_quantile({q}, sum by ({keys}) ({bucket}))"


def _mean(spec: c.MetricSpec, *, by: tuple[str, ...] = (QUEUE,), where: str = "") -> str:
    keys = ", ".join(by)
    total = f"rate({spec.prometheus_name}_sum{_sel(where)}[$__rate_interval])"
    count = f"rate({spec.prometheus_name}_count{_sel(where)}[$__rate_interval])"
    return f"sum by ({keys}) ({total}) / sum by ({keys}) ({count})"


def _gauge(spec: c.MetricSpec) -> str:
    return f"sum by ({QUEUE}) ({spec.prometheus_name}{_sel()})"


def _ratio(failed: c.MetricSpec, total: c.MetricSpec, total_where: str = "") -> str:
    # No failure yet means no failure series at all: count it as zero, not as "no data".
    return f"({_rate(failed, by=())} or vector(0)) / {_rate(total, by=(), where=total_where)}"


def _unit(spec: c.MetricSpec) -> str:
    return _GRAFANA_UNITS.get(spec.unit, "short")


def _per_queue(legend: str = "") -> str:
    return "{{" + QUEUE + "}}" + (f" {legend}" if legend else "")


def _percentiles(
    spec: c.MetricSpec, where: str = "", qs: tuple[float, ...] = (0.5, 0.95, 0.99)
) -> tuple[Query, ...]:
    return tuple(
        Query(_quantile(q, spec, where=where), _per_queue(f"p{round(q * 100)}")) for q in qs
    )


_OK = f'{ERROR}=""'
_QE = (QUEUE, ERROR)
_LISTENER_CALLS = f'{OPERATION}=~"{"|".join((OP_RECEIVE, OP_DELETE, OP_HEARTBEAT, OP_RELEASE))}"'


def _producer() -> DashboardDef:
    flow = (
        PanelDef("Messages sent / s", c.SENT_MESSAGES.description, "short",
                 (Query(_rate(c.SENT_MESSAGES, where=_OK), _per_queue()),)),
        PanelDef("Failed, retried and rejected / s",
                 "Messages never delivered, sent again after a retryable failure, and refused "
                 "at send(), by error type.", "short",
                 (Query(_rate(c.MESSAGES_FAILED, by=_QE), _per_queue("failed {{error_type}}")),
                  Query(_rate(c.RETRIES, by=_QE), _per_queue("retried {{error_type}}")),
                  Query(_rate(c.MESSAGES_REJECTED, by=_QE),
                        _per_queue("rejected {{error_type}}")))),
        PanelDef("Buffer depth", c.BUFFER_DEPTH.description, "short",
                 (Query(_gauge(c.BUFFER_DEPTH), _per_queue()),)),
        PanelDef("Flushes / s by reason", c.FLUSHES.description, "short",
                 (Query(_rate(c.FLUSHES, by=(QUEUE, REASON)), _per_queue("{{" + REASON + "}}")),)),
    )  # fmt: skip
    batches = (
        PanelDef("Messages per batch", c.BATCH_MESSAGES.description, "short",
                 (Query(_mean(c.BATCH_MESSAGES), _per_queue("mean")),
                  *_percentiles(c.BATCH_MESSAGES, qs=(0.5,)))),
        PanelDef("Batch payload", c.BATCH_BYTES.description, _unit(c.BATCH_BYTES),
                 (Query(_mean(c.BATCH_BYTES), _per_queue("mean")),
                  *_percentiles(c.BATCH_BYTES, qs=(0.99,)))),
        PanelDef("Batch splits / s", c.BATCH_SPLITS.description, "short",
                 (Query(_rate(c.BATCH_SPLITS), _per_queue()),)),
        PanelDef("SendMessageBatch calls / s", "SQS send calls; compare with messages sent / s.",
                 "short", (Query(_rate(c.OPERATION_DURATION, where=f'{OPERATION}="{OP_SEND}"'),
                                 _per_queue()),)),
    )  # fmt: skip
    latency = (
        PanelDef("Time in buffer", c.BUFFER_TIME.description, "s", _percentiles(c.BUFFER_TIME)),
        PanelDef("Send latency", "Duration of SendMessageBatch calls.", "s",
                 _percentiles(c.OPERATION_DURATION, where=f'{OPERATION}="{OP_SEND}"')),
    )  # fmt: skip
    return DashboardDef(
        "sqsobs-producer",
        "sqsobs / Producer",
        "The batching producer: what goes in, how it is batched, what SQS accepted.",
        (("Flow", flow), ("Batches", batches), ("Latency", latency)),
    )


def _listener() -> DashboardDef:
    ok_deletes = _rate(c.DELETES, where=_OK)
    flow = (
        PanelDef("Received and processed / s",
                 "Messages received from SQS, and messages handled and deleted.", "short",
                 (Query(_rate(c.CONSUMED_MESSAGES), _per_queue("received")),
                  Query(ok_deletes, _per_queue("processed")))),
        PanelDef("Handler failures / s by error type", c.HANDLER_FAILURES.description, "short",
                 (Query(_rate(c.HANDLER_FAILURES, by=_QE), _per_queue("{{error_type}}")),)),
        PanelDef("In flight", c.INFLIGHT.description, "short",
                 (Query(_gauge(c.INFLIGHT), _per_queue()),)),
        PanelDef("Empty receives / s", c.EMPTY_RECEIVES.description, "short",
                 (Query(_rate(c.EMPTY_RECEIVES), _per_queue()),)),
    )  # fmt: skip
    handling = (
        PanelDef("Process duration", c.PROCESS_DURATION.description, "s",
                 _percentiles(c.PROCESS_DURATION)),
        PanelDef("Heartbeats / s", c.HEARTBEATS.description, "short",
                 (Query(_rate(c.HEARTBEATS, by=_QE), _per_queue("{{error_type}}")),)),
        PanelDef("Message age at receive", c.MESSAGE_AGE.description, "s",
                 _percentiles(c.MESSAGE_AGE)),
        PanelDef("Receive count", c.RECEIVE_COUNT.description + " Above 1: redeliveries.",
                 "short", (Query(_mean(c.RECEIVE_COUNT), _per_queue("mean")),
                           *_percentiles(c.RECEIVE_COUNT, qs=(0.99,)))),
    )  # fmt: skip
    calls = (
        PanelDef("SQS calls / s by operation", "Receive, delete and visibility calls.", "short",
                 (Query(_rate(c.OPERATION_DURATION, by=(QUEUE, OPERATION),
                              where=_LISTENER_CALLS),
                        _per_queue("{{" + OPERATION + "}}")),), width=24),
    )  # fmt: skip
    return DashboardDef(
        "sqsobs-listener",
        "sqsobs / Listener",
        "The listener: what it receives, how handlers do, how long messages waited.",
        (("Flow", flow), ("Handling", handling), ("SQS calls", calls)),
    )


def _overview() -> DashboardDef:
    stats = (
        PanelDef("Sent", "Messages sent in the time range.", "short",
                 (Query(f"sum(increase({c.SENT_MESSAGES.prometheus_name}{_sel(_OK)}[$__range]))",
                        "sent"),), "stat", 6),
        PanelDef("Handled", "Messages handled and deleted in the time range.", "short",
                 (Query(f"sum(increase({c.DELETES.prometheus_name}{_sel(_OK)}[$__range]))",
                        "handled"),), "stat", 6),
        PanelDef("Producer error ratio", "Undelivered messages per message sent.",
                 "percentunit", (Query(_ratio(c.MESSAGES_FAILED, c.SENT_MESSAGES), "in"),),
                 "stat", 6),
        PanelDef("Listener error ratio", "Handler failures per message received.",
                 "percentunit", (Query(_ratio(c.HANDLER_FAILURES, c.CONSUMED_MESSAGES), "out"),),
                 "stat", 6),
    )  # fmt: skip
    flow = (
        PanelDef("Throughput in vs out", "Messages/s sent by producers and received by listeners.",
                 "short", (Query(_rate(c.SENT_MESSAGES, by=(), where=_OK), "in (sent)"),
                           Query(_rate(c.CONSUMED_MESSAGES, by=()), "out (received)"))),
        PanelDef("End-to-end age", "How long messages waited in SQS before a listener got them.",
                 "s", _percentiles(c.MESSAGE_AGE, qs=(0.5, 0.99))),
        PanelDef("Backlog in the process", "Messages buffered by producers and in flight in "
                 "listeners.", "short", (Query(_gauge(c.BUFFER_DEPTH), _per_queue("buffered")),
                                         Query(_gauge(c.INFLIGHT), _per_queue("in flight")))),
        PanelDef("Errors / s", "Undelivered messages and failed handlers.", "short",
                 (Query(_rate(c.MESSAGES_FAILED, by=(ERROR,)), "undelivered {{error_type}}"),
                  Query(_rate(c.HANDLER_FAILURES, by=(ERROR,)), "handler {{error_type}}"))),
    )  # fmt: skip
    return DashboardDef(
        "sqsobs-overview",
        "sqsobs / Overview",
        "Messages in vs out, how long they wait, how many fail.",
        (("Summary", stats), ("Flow", flow)),
    )


#: The dashboards, Overview first (it is Grafana's home dashboard in the local stack).
DASHBOARDS: tuple[DashboardDef, ...] = (_overview(), _producer(), _listener())


def _variables(sdk: Any) -> list[Any]:
    ds = sdk.DataSourceRef(type_val="prometheus", uid="${datasource}")
    probe = c.OPERATION_DURATION.prometheus_name + "_count"
    refresh = sdk.VariableRefresh.ON_TIME_RANGE_CHANGED
    service = (
        sdk.builders.QueryVariable("service").label("Service").datasource(ds)
        .query(f"label_values({probe}, {SERVICE_LABEL})")
        .multi(True).include_all(True).all_value(".*").refresh(refresh)
    )  # fmt: skip
    queue = (
        sdk.builders.QueryVariable("queue").label("Queue").datasource(ds)
        .query(f'label_values({probe}{{{SERVICE_LABEL}=~"$service"}}, {QUEUE})')
        .multi(True).include_all(True).all_value(".*").refresh(refresh)
    )  # fmt: skip
    source = sdk.builders.DatasourceVariable("datasource").label("Data source").type("prometheus")
    return [source, service, queue]


def _panel(sdk: Any, spec: PanelDef, panel_id: int) -> Any:
    if spec.style == "stat":
        panel = sdk.stat.Panel().reduce_options(
            sdk.common.ReduceDataOptions().calcs(["lastNotNull"]).values(False)
        )
    else:
        panel = (
            sdk.timeseries.Panel().fill_opacity(10).show_points(sdk.VisibilityMode.NEVER)
            .legend(sdk.common.VizLegendOptions().display_mode(sdk.LegendDisplayMode.LIST)
                    .placement(sdk.LegendPlacement.BOTTOM).show_legend(True))
            .tooltip(sdk.common.VizTooltipOptions().mode(sdk.TooltipDisplayMode.MULTI)
                     .sort(sdk.SortOrder.DESCENDING))
        )  # fmt: skip
    panel = (
        panel.id(panel_id).title(spec.title).description(spec.description).unit(spec.unit)
        .datasource(sdk.DataSourceRef(type_val="prometheus", uid="${datasource}"))
        .height(4 if spec.style == "stat" else 8).span(spec.width)
    )  # fmt: skip
    for index, query in enumerate(spec.queries):
        target = sdk.prometheus.Dataquery().expr(query.expr).legend_format(query.legend)
        panel = panel.with_target(target.ref_id(chr(ord("A") + index)))
    return panel


def _sdk() -> Any:
    try:
        from grafana_foundation_sdk.builders import common, prometheus, stat, timeseries
        from grafana_foundation_sdk.builders import dashboard as builders
        from grafana_foundation_sdk.models import common as common_models
        from grafana_foundation_sdk.models import dashboard as models
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            'rendering dashboards needs grafana-foundation-sdk: pip install "sqsobs[dashboards]"'
        ) from exc
    sdk: Any = type("Sdk", (), {})()
    sdk.builders, sdk.common, sdk.prometheus = builders, common, prometheus
    sdk.stat, sdk.timeseries = stat, timeseries
    sdk.DataSourceRef, sdk.VariableRefresh = models.DataSourceRef, models.VariableRefresh
    sdk.DashboardLinkType, sdk.DashboardCursorSync = (
        models.DashboardLinkType,
        models.DashboardCursorSync,
    )
    for name in ("VisibilityMode", "LegendDisplayMode", "LegendPlacement", "TooltipDisplayMode",
                 "SortOrder"):  # fmt: skip
        setattr(sdk, name, getattr(common_models, name))
    return sdk


def dashboard_json(definition: DashboardDef) -> dict[str, Any]:
    """The Grafana JSON model of one dashboard."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    sdk = _sdk()
    board = (
        sdk.builders.Dashboard(definition.title).uid(definition.uid)
        .description(definition.description).tags(["sqsobs", "sqs"])
        .time("now-30m", "now").refresh("10s").timezone("browser").readonly()
        .tooltip(sdk.DashboardCursorSync.CROSSHAIR)
        .variables(_variables(sdk))
        .link(sdk.builders.DashboardLink("sqsobs").type(sdk.DashboardLinkType.DASHBOARDS)
              .tags(["sqsobs"]).as_dropdown(True).include_vars(True).keep_time(True))
        .link(sdk.builders.DashboardLink("Traces").type(sdk.DashboardLinkType.LINK)
              .icon("external link").tooltip("Search the traces in Grafana's Explore")
              .url(TRACES_EXPLORE_URL).keep_time(True))
    )  # fmt: skip
    panel_id = 0
    for title, panels in definition.rows:
        panel_id += 1
        # Expanded rows keep their panels at the top level, as Grafana saves them.
        board = board.with_row(sdk.builders.Row(title).collapsed(False).id(panel_id))
        for panel in panels:
            panel_id += 1
            board = board.with_panel(_panel(sdk, panel, panel_id))
    model: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return model


def render(definition: DashboardDef) -> str:
    """The dashboard's JSON text exactly as committed under ``dashboards/``."""
    return json.dumps(dashboard_json(definition), indent=2, sort_keys=True) + "\n"


def write_dashboards(directory: str | Path) -> list[Path]:
    """Write every dashboard as ``<uid>.json`` into ``directory``; return the paths."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for definition in DASHBOARDS:
        path = target / definition.filename
        path.write_text(render(definition), encoding="utf-8")
        written.append(path)
    return written
