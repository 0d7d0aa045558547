"""Prometheus alerting rules: valid, unit-tested with promtool, about catalog metrics."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from sqsobs.cli._promql import RECORDING_RULES
from sqsobs.telemetry.catalog import CATALOG
from tests.helpers import require_binary

PROMETHEUS_DIR = Path(__file__).resolve().parent.parent / "dashboards" / "prometheus"
RULES = PROMETHEUS_DIR / "alerts.yml"
RECORDING = PROMETHEUS_DIR / "recording.yml"

#: The alerts the issue asks for, by what they watch.
REQUIRED = {
    "SqsobsMessageAgeHigh": "sqsobs_listener_message_age_seconds_bucket",
    "SqsobsHandlerFailureRatioHigh": "sqsobs_listener_handler_failures_total",
    "SqsobsProducerFailureRatioHigh": "sqsobs_producer_messages_failed_total",
    "SqsobsHeartbeatFailures": "sqsobs_listener_heartbeats_total",
    "SqsobsProducerBufferNearFull": "sqsobs_producer_buffer_depth",
    "SqsobsProducerBufferFull": "sqsobs_producer_messages_rejected_total",
    "SqsobsRetriesExhausted": "sqsobs_producer_messages_failed_total",
    # What an on-call engineer looks for first (issue 17).
    "SqsobsConsumerLagging": "sqsobs_listener_deletes_total",
    "SqsobsSqsCallErrors": "messaging_client_operation_duration_seconds_count",
    "SqsobsDeleteFailures": "sqsobs_listener_deletes_total",
    "SqsobsPropagationSkipped": "sqsobs_propagation_skipped_total",
    "SqsobsPollErrors": "sqsobs_listener_poll_errors_total",
    "SqsobsMaxExtendExceeded": "sqsobs_listener_max_extend_exceeded_total",
    # Running at scale (issue 12).
    "SqsobsListenersSaturated": "sqsobs_listener_workers_utilization_percent",
    "SqsobsDeadLetterQueueGrowing": "sqsobs_queue_dead_letter_messages",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("promtool"), *args],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )


def recorded() -> dict[str, str]:
    groups = yaml.safe_load(RECORDING.read_text())["groups"]
    return {rule["record"]: rule["expr"] for group in groups for rule in group["rules"]}


def alerts() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_promtool_test_rules() -> None:
    result = promtool("test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_test_rules_can_fail(tmp_path: Path) -> None:
    # The same unit tests against rules with one threshold loosened must fail.
    broken = RULES.read_text().replace("> 300\n", "> 3000\n")
    assert broken != RULES.read_text()
    (tmp_path / "alerts.yml").write_text(broken)
    (tmp_path / "recording.yml").write_text(RECORDING.read_text())
    (tmp_path / "alerts.test.yml").write_text((PROMETHEUS_DIR / "alerts.test.yml").read_text())
    result = subprocess.run(
        [require_binary("promtool"), "test", "rules", "alerts.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SqsobsMessageAgeHigh" in result.stdout + result.stderr


@pytest.mark.parametrize(("name", "metric"), sorted(REQUIRED.items()))
def test_required_alert_exists(name: str, metric: str) -> None:
    assert metric in alerts()[name]


def test_alerts_use_catalog_metrics_only() -> None:
    known = {spec.prometheus_name for spec in CATALOG}
    for name, expr in [*alerts().items(), *recorded().items()]:
        # Label names appear only in by (...) and {...}: drop those, keep the metric names.
        bare = re.sub(r"\bby \([^)]*\)|\{[^}]*\}", "", expr)
        metrics = re.findall(r"\b((?:sqsobs|messaging)_[a-z0-9_]+)", bare)
        assert metrics, name
        for metric in metrics:
            base = re.sub(r"_(bucket|count|sum)$", "", metric)
            assert metric in known or base in known, f"{name}: unknown metric {metric}"


def test_every_alert_is_unit_tested() -> None:
    tested = yaml.safe_load((PROMETHEUS_DIR / "alerts.test.yml").read_text())["tests"]
    firing = {
        case["alertname"]
        for test in tested
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert firing == set(alerts())


def test_recording_rules_are_what_the_dashboards_compute() -> None:
    # The expressions come from sqsobs.cli._promql, as the panels' do (there scoped by the
    # dashboard's variables); a rule renamed or changed here must change there too.
    assert recorded() == RECORDING_RULES
    result = promtool("check", "rules", "recording.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RECORDING_RULES)} rules found" in result.stdout


def test_prometheus_loads_the_recording_rules_before_the_alerts() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    assert config["rule_files"] == ["recording.yml", "alerts.yml"]
    tests = yaml.safe_load((PROMETHEUS_DIR / "alerts.test.yml").read_text())
    assert tests["rule_files"] == ["recording.yml", "alerts.yml"]
    recording_tests = [t for t in tests["tests"] if t.get("promql_expr_test")]
    assert {case["expr"] for t in recording_tests for case in t["promql_expr_test"]} == set(
        RECORDING_RULES
    )
