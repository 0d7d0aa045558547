"""The Grafana dashboards: generated from the catalog, committed as generated, complete."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sqsobs import cli
from sqsobs.cli._dashboards import DASHBOARDS, render, write_dashboards
from sqsobs.telemetry import catalog as c
from sqsobs.telemetry.catalog import CATALOG

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD_DIR = ROOT / "dashboards"
_SUFFIXES = ("_bucket", "_count", "_sum")


def committed(uid: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DASHBOARD_DIR / f"{uid}.json").read_text())
    return data


def panel_exprs(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every query of every panel of a dashboard's JSON."""
    return [
        (panel["title"], target["expr"])
        for panel in board["panels"]
        for target in panel.get("targets", [])
    ]


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (identifiers followed by a label matcher)."""
    return set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", expr))


@pytest.mark.parametrize("definition", DASHBOARDS, ids=lambda d: d.uid)
def test_committed_json_is_what_the_code_generates(definition: Any) -> None:
    path = DASHBOARD_DIR / definition.filename
    assert path.read_text(encoding="utf-8") == render(definition), (
        f"{path} is stale: run `sqsobs dashboards`"
    )


def test_no_stray_dashboard_files() -> None:
    expected = {d.filename for d in DASHBOARDS}
    assert {p.name for p in DASHBOARD_DIR.glob("*.json")} == expected


@pytest.mark.parametrize("definition", DASHBOARDS, ids=lambda d: d.uid)
def test_every_query_selects_catalog_metrics_only(definition: Any) -> None:
    known = {spec.prometheus_name for spec in CATALOG}
    exprs = panel_exprs(committed(definition.uid))
    assert exprs
    for title, expr in exprs:
        names = metric_names(expr)
        assert names, (title, expr)
        for name in names:
            base = next((name[: -len(s)] for s in _SUFFIXES if name.endswith(s)), name)
            assert name in known or base in known, f"{title}: {name} is not in the catalog"
        # Every query is scoped by the dashboard's variables.
        assert '$service"' in expr and '$queue"' in expr, (title, expr)


@pytest.mark.parametrize("definition", DASHBOARDS, ids=lambda d: d.uid)
def test_variables_datasource_service_queue(definition: Any) -> None:
    board = committed(definition.uid)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert list(variables) == ["datasource", "service", "queue"]
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert "job" in variables["service"]["query"]
    assert "messaging_destination_name" in variables["queue"]["query"]
    assert "$service" in variables["queue"]["query"]
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_panel_ids_unique_and_grid_within_24_columns() -> None:
    for definition in DASHBOARDS:
        panels = committed(definition.uid)["panels"]
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids)), definition.uid
        for panel in panels:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, (definition.uid, panel["title"])


def _uses(board: dict[str, Any], title: str, *needles: str) -> None:
    queries = [e for t, e in panel_exprs(board) if t == title]
    assert queries, f"no panel {title!r}"
    text = "\n".join(queries)
    for needle in needles:
        assert needle in text, f"{title!r} does not use {needle!r}"


def test_producer_dashboard_covers_the_issue() -> None:
    board = committed("sqsobs-producer")
    _uses(board, "Buffer depth", c.BUFFER_DEPTH.prometheus_name)
    _uses(board, "Batch splits / s", c.BATCH_SPLITS.prometheus_name)
    _uses(board, "Flushes / s by reason", c.FLUSHES.prometheus_name, "sqsobs_flush_reason")
    _uses(board, "Messages per batch", c.BATCH_MESSAGES.prometheus_name)
    _uses(board, "Batch payload", c.BATCH_BYTES.prometheus_name)
    _uses(board, "Time in buffer", "0.5,", "0.95,", "0.99,", c.BUFFER_TIME.prometheus_name)
    _uses(board, "Messages sent / s", c.SENT_MESSAGES.prometheus_name)
    _uses(
        board,
        "Failed, retried and rejected / s",
        c.MESSAGES_FAILED.prometheus_name,
        c.RETRIES.prometheus_name,
        c.MESSAGES_REJECTED.prometheus_name,
    )
    _uses(board, "Send latency", 'messaging_operation_name="send"', "0.99,")
    _uses(board, "Offloaded to S3 / s", c.PAYLOADS_OFFLOADED.prometheus_name, "error_type")
    _uses(board, "Offloaded bytes / s", c.PAYLOADS_OFFLOADED_BYTES.prometheus_name)


def test_listener_dashboard_covers_the_issue() -> None:
    board = committed("sqsobs-listener")
    _uses(
        board,
        "Received and processed / s",
        c.CONSUMED_MESSAGES.prometheus_name,
        c.DELETES.prometheus_name,
    )
    _uses(board, "Process duration", c.PROCESS_DURATION.prometheus_name + "_bucket", "0.99,")
    _uses(board, "Handler failures / s by error type", "error_type")
    _uses(board, "Heartbeats / s", c.HEARTBEATS.prometheus_name)
    _uses(board, "In flight", c.INFLIGHT.prometheus_name)
    _uses(board, "Message age at receive", c.MESSAGE_AGE.prometheus_name + "_bucket")
    _uses(board, "Receive count", c.RECEIVE_COUNT.prometheus_name)
    _uses(board, "Empty receives / s", c.EMPTY_RECEIVES.prometheus_name)
    _uses(board, "Payloads fetched from S3 / s", c.PAYLOADS_FETCHED.prometheus_name, "error_type")
    _uses(board, "Payload bytes fetched / s", c.PAYLOADS_FETCHED_BYTES.prometheus_name)
    _uses(board, "Payload objects deleted / s", c.PAYLOADS_DELETED.prometheus_name)


def test_overview_dashboard_covers_the_issue() -> None:
    board = committed("sqsobs-overview")
    _uses(
        board,
        "Throughput in vs out",
        c.SENT_MESSAGES.prometheus_name,
        c.CONSUMED_MESSAGES.prometheus_name,
    )
    _uses(board, "End-to-end age", c.MESSAGE_AGE.prometheus_name + "_bucket")
    _uses(board, "Producer error ratio", c.MESSAGES_FAILED.prometheus_name, " / ")
    _uses(board, "Listener error ratio", c.HANDLER_FAILURES.prometheus_name, " / ")


def test_cli_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["dashboards", "--output", str(tmp_path), "--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert cli.main(["dashboards", "--output", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(d.filename for d in DASHBOARDS)
    assert cli.main(["dashboards", "--output", str(tmp_path), "--check"]) == 0
    first = tmp_path / DASHBOARDS[0].filename
    first.write_text(first.read_text().replace("Overview", "Overveiw"))
    assert cli.main(["dashboards", "--output", str(tmp_path), "--check"]) == 1


def test_write_dashboards_is_deterministic(tmp_path: Path) -> None:
    paths = write_dashboards(tmp_path / "a")
    again = write_dashboards(tmp_path / "b")
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]


def test_the_library_does_not_import_the_grafana_sdk() -> None:
    code = (
        "import sys, sqsobs, sqsobs.cli._dashboards, sqsobs.cli;"
        "print('grafana_foundation_sdk' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"


def test_module_entry_point() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sqsobs", "dashboards", "--output", str(DASHBOARD_DIR), "--check"],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr


def test_overview_has_what_on_call_looks_for_first() -> None:
    """An on-call engineer (ECS) first asks: falling behind? which SQS calls fail? traces broken?"""
    board = committed("sqsobs-overview")
    sent, deleted = c.SENT_MESSAGES.prometheus_name, c.DELETES.prometheus_name
    _uses(board, "Consumer lag (sent - processed) / s", sent, deleted, ") - (")
    _uses(
        board,
        "SQS call errors / s by operation",
        c.OPERATION_DURATION.prometheus_name + "_count",
        'error_type!=""',
        "messaging_operation_name",
    )
    _uses(board, "Poll errors / s", c.POLL_ERRORS.prometheus_name, "error_type")
    _uses(board, "Delete failures / s", deleted, 'error_type!=""')
    _uses(
        board,
        "Trace context skipped / s",
        c.PROPAGATION_SKIPPED.prometheus_name,
        "sqsobs_propagation_reason",
    )
    _uses(board, "Handlers past max_extend / s", c.MAX_EXTEND_EXCEEDED.prometheus_name)
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows[:2] == ["Summary", "On call"], rows  # right under the summary numbers
