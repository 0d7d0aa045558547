"""Smoke version of the transport benchmarks: few calls, correctness only (never speed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks import contenders, issue15, run, transport
from benchmarks.null_sqs import NullSQS
from benchmarks.targets import MotoTarget, NullTarget
from benchmarks.throughput import Throughput, summarise
from tests.conftest import SqsServer


@pytest.fixture(scope="module")
def null_sqs() -> Iterator[NullSQS]:
    with NullSQS() as server:
        yield server


def test_scenario_6_measures_every_client_on_the_null_sqs(null_sqs: NullSQS) -> None:
    section = transport.section(null_sqs, calls=20, runs=1)
    expected = [v.name for v in transport.VARIANTS if transport.crt_installed() or not v.needs_crt]
    assert list(section["data"]) == expected
    for name, figures in section["data"].items():
        assert len(figures["send_us"]) == 1 and figures["send_us"][0] > 0, name
        assert len(figures["receive_delete_us"]) == 1 and figures["receive_delete_us"][0] > 0
        assert name in section["markdown"]
    assert "failed" not in section["markdown"]
    assert section["targets"][0]["met"] is not None


def test_lean_contenders_deliver_and_count_their_calls(null_sqs: NullSQS) -> None:
    names = [contenders.broker_name("on", "lean"), contenders.broker_name("production", "lean")]
    chosen = [c for c in contenders.producer_scenario().contenders if c.name in names]
    assert [c.name for c in chosen] == names
    otlp = {"otlp_endpoint": null_sqs.endpoint_url}
    samples = Throughput("1 producer", "producer", 2, chosen).run(NullTarget(null_sqs), 60, 1, otlp)
    assert [s.problem for s in samples] == ["", ""]
    on, production = samples
    assert on.arrived == production.arrived == 60
    assert on.calls_per_msg("send") == pytest.approx(0.1, abs=0.05)
    assert on.extra["otlp"]["spans"] >= 60  # every create span sampled
    assert production.extra["otlp"]["spans"] < on.extra["otlp"]["spans"]  # 10 % sampled


def test_lean_listener_contender(null_sqs: NullSQS) -> None:
    name = contenders.sqsobs_listener_name("per-message", "production", "lean")
    chosen = [c for c in contenders.listener_scenario().contenders if c.name == name]
    otlp = {"otlp_endpoint": null_sqs.endpoint_url}
    (sample,) = Throughput("2 listener", "listener", 1, chosen).run(
        NullTarget(null_sqs), 40, 1, otlp
    )
    assert sample.problem == ""
    assert sample.extra["stats"]["succeeded"] == sample.messages == 20  # half, per-message


def test_lean_calls_are_counted_in_the_client_on_moto(
    sqs_server: SqsServer, null_sqs: NullSQS
) -> None:
    chosen = [
        c
        for c in contenders.producer_scenario().contenders
        if c.name == contenders.broker_name("off", "lean")
    ]
    target = MotoTarget(sqs_server.endpoint_url, null_sqs)
    (sample,) = Throughput("1 producer", "producer", 1, chosen).run(target, 30, 1, {})
    assert sample.problem == ""
    assert sample.arrived == 30
    assert sample.calls["SendMessageBatch"] == 3  # counted by the lean transport's hook


def test_issue_15_targets_name_every_row_and_claim_nothing_unmeasured() -> None:
    checks = issue15.targets(summarise([]))
    assert len(checks) >= 20
    assert {check.met for check in checks} == {None}
    text = " ".join(check.target for check in checks)
    for row in ("telemetry off, CPU/msg", "lean transport, telemetry on, msg/s vs the raw boto3",
                "production profile", "receive+delete calls/msg"):  # fmt: skip
        assert row in text


def test_contender_filter_keeps_whole_names_with_commas() -> None:
    settings, _ = run.parse_args(["--contenders", "raw; lean transport, telemetry on"])
    assert settings.contenders == ["raw", "lean transport, telemetry on"]
    kept = run.chosen(contenders.producer_scenario().contenders, settings.contenders)
    assert [c.name for c in kept] == [contenders.RAW_PRODUCER, contenders.SQSOBS_PRODUCER_LEAN_ON]
    assert len(run.chosen(contenders.producer_scenario().contenders, [])) > 2


def test_only_lean_contenders_sign_with_awscrt() -> None:
    from benchmarks.throughput import _env

    assert _env({"transport": "lean"}) == {}
    assert _env({"transport": "boto3"}) == {"BOTO_DISABLE_CRT": "true"}
    assert _env({}) == {"BOTO_DISABLE_CRT": "true"}  # the raw loop, the seeds
