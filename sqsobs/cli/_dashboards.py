"""Grafana dashboards as JSON, rendered with Grafana's ``grafana-foundation-sdk``.

The panels (:mod:`sqsobs.cli._panels`) are built from the metric catalog, so a renamed metric
changes the dashboards with it. The SDK (the ``dashboards`` extra) is imported only when a
dashboard is rendered, so the library itself does not need it.

Variables: ``datasource`` (a Prometheus data source), ``service`` (the Prometheus ``job``, which
is the service name both when Prometheus scrapes the app and when an OpenTelemetry Collector
exports it) and ``queue`` (``messaging.destination.name``).

Example::

    >>> from sqsobs.cli._dashboards import stale_dashboards, write_dashboards
    >>> write_dashboards("dashboards")  # doctest: +SKIP
    [PosixPath('dashboards/sqsobs-overview.json'), ...]
    >>> stale_dashboards("dashboards")  # doctest: +SKIP
    []
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqsobs.cli._panels import DASHBOARDS, DashboardDef, PanelDef
from sqsobs.cli._promql import QUEUE, SERVICE_LABEL
from sqsobs.telemetry import catalog as c

__all__ = ["DASHBOARDS", "dashboard_json", "render", "stale_dashboards", "write_dashboards"]

#: Grafana's Explore on the trace data source (uid ``traces``) provisioned in the local stack.
TRACES_EXPLORE_URL = "/explore?left=%7B%22datasource%22:%22traces%22%7D"


def _variables(sdk: Any) -> list[Any]:
    probe = c.OPERATION_DURATION.prometheus_name + "_count"
    service = _query_variable(sdk, "service", "Service", f"label_values({probe}, {SERVICE_LABEL})")
    queue = _query_variable(
        sdk, "queue", "Queue", f'label_values({probe}{{{SERVICE_LABEL}=~"$service"}}, {QUEUE})'
    )
    source = sdk.builders.DatasourceVariable("datasource").label("Data source").type("prometheus")
    return [source, service, queue]


def _query_variable(sdk: Any, name: str, title: str, query: str) -> Any:
    """A multi-value variable (``All`` matches everything) filled by a Prometheus query."""
    return (
        sdk.builders.QueryVariable(name)
        .label(title)
        .datasource(_datasource(sdk))
        .query(query)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .refresh(sdk.VariableRefresh.ON_TIME_RANGE_CHANGED)
    )


def _datasource(sdk: Any) -> Any:
    return sdk.DataSourceRef(type_val="prometheus", uid="${datasource}")


def _panel(sdk: Any, spec: PanelDef, panel_id: int) -> Any:
    if spec.style == "stat":
        panel = sdk.stat.Panel().reduce_options(
            sdk.common.ReduceDataOptions().calcs(["lastNotNull"]).values(False)
        )
    else:
        legend = (
            sdk.common.VizLegendOptions()
            .display_mode(sdk.LegendDisplayMode.LIST)
            .placement(sdk.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        tooltip = (
            sdk.common.VizTooltipOptions()
            .mode(sdk.TooltipDisplayMode.MULTI)
            .sort(sdk.SortOrder.DESCENDING)
        )
        panel = (
            sdk.timeseries.Panel()
            .fill_opacity(10)
            .show_points(sdk.VisibilityMode.NEVER)
            .legend(legend)
            .tooltip(tooltip)
        )
    panel = (
        panel.id(panel_id)
        .title(spec.title)
        .description(spec.description)
        .unit(spec.unit)
        .datasource(_datasource(sdk))
        .height(4 if spec.style == "stat" else 8)
        .span(spec.width)
    )
    for index, query in enumerate(spec.queries):
        target = sdk.prometheus.Dataquery().expr(query.expr).legend_format(query.legend)
        panel = panel.with_target(target.ref_id(chr(ord("A") + index)))
    return panel


def _sdk() -> Any:
    """The SDK's builders and enums in one namespace; ImportError says which extra to install."""
    try:
        from grafana_foundation_sdk.builders import common, prometheus, stat, timeseries
        from grafana_foundation_sdk.builders import dashboard as builders
        from grafana_foundation_sdk.models import common as common_models
        from grafana_foundation_sdk.models import dashboard as models
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            'rendering dashboards needs grafana-foundation-sdk: pip install "sqsobs[dashboards]"'
        ) from exc
    return SimpleNamespace(
        builders=builders,
        common=common,
        prometheus=prometheus,
        stat=stat,
        timeseries=timeseries,
        DataSourceRef=models.DataSourceRef,
        VariableRefresh=models.VariableRefresh,
        DashboardLinkType=models.DashboardLinkType,
        DashboardCursorSync=models.DashboardCursorSync,
        VisibilityMode=common_models.VisibilityMode,
        LegendDisplayMode=common_models.LegendDisplayMode,
        LegendPlacement=common_models.LegendPlacement,
        TooltipDisplayMode=common_models.TooltipDisplayMode,
        SortOrder=common_models.SortOrder,
    )


def dashboard_json(definition: DashboardDef) -> dict[str, Any]:
    """The Grafana JSON model of one dashboard."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    sdk = _sdk()
    board = (
        sdk.builders.Dashboard(definition.title)
        .uid(definition.uid)
        .description(definition.description)
        .tags(["sqsobs", "sqs"])
        .time("now-30m", "now")
        .refresh("10s")
        .timezone("browser")
        .readonly()
        .tooltip(sdk.DashboardCursorSync.CROSSHAIR)
        .variables(_variables(sdk))
        .link(
            sdk.builders.DashboardLink("sqsobs")
            .type(sdk.DashboardLinkType.DASHBOARDS)
            .tags(["sqsobs"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
        .link(
            sdk.builders.DashboardLink("Traces")
            .type(sdk.DashboardLinkType.LINK)
            .icon("external link")
            .tooltip("Search the traces in Grafana's Explore")
            .url(TRACES_EXPLORE_URL)
            .keep_time(True)
        )
    )
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


def stale_dashboards(directory: str | Path) -> list[Path]:
    """The dashboard files in ``directory`` that are missing or differ from what is generated."""
    target = Path(directory)
    return [
        target / definition.filename
        for definition in DASHBOARDS
        if not (target / definition.filename).is_file()
        or (target / definition.filename).read_text(encoding="utf-8") != render(definition)
    ]
