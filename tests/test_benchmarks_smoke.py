"""Smoke version of the benchmarks: few messages, correctness only (never speed).

Needs neither the seed packages' environments nor the network: the contenders here live in the
main environment, the null SQS and moto run on loopback.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from benchmarks import report, sqsobs_only
from benchmarks.contenders import (
    DRAMATIQ,
    RAW,
    RAW_LISTENER,
    RAW_PRODUCER,
    SQSOBS_BATCH_PRODUCER,
    listener_scenario,
    producer_scenario,
    sqsobs_listener_name,
)
from benchmarks.harness import Contender
from benchmarks.null_sqs import NullSQS
from benchmarks.targets import MotoTarget, NullTarget
from benchmarks.throughput import Throughput, summarise
from tests.conftest import SqsServer


@pytest.fixture(scope="module")
def null_sqs() -> Iterator[NullSQS]:
    with NullSQS() as server:
        yield server


def _client(endpoint_url: str) -> Any:
    return boto3.client("sqs", endpoint_url=endpoint_url, region_name="us-east-1")


def test_null_sqs_speaks_the_json_protocol_and_counts_calls(null_sqs: NullSQS) -> None:
    client = _client(null_sqs.endpoint_url)
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    url = client.create_queue(QueueName=name)["QueueUrl"]
    assert client.get_queue_url(QueueName=name)["QueueUrl"] == url
    null_sqs.reset()
    entries = [{"Id": str(i), "MessageBody": f"body {i}"} for i in range(10)]
    sent = client.send_message_batch(QueueUrl=url, Entries=entries)
    assert [e["Id"] for e in sent["Successful"]] == [str(i) for i in range(10)]
    received = client.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    assert len(received) == 10
    assert len({m["ReceiptHandle"] for m in received}) == 10
    assert "traceparent" in received[0]["MessageAttributes"]
    handles = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)]
    assert len(client.delete_message_batch(QueueUrl=url, Entries=handles)["Successful"]) == 10
    visibility = [dict(h, VisibilityTimeout=5) for h in handles[:3]]
    changed = client.change_message_visibility_batch(QueueUrl=url, Entries=visibility)
    assert len(changed["Successful"]) == 3
    # Drained: a receive answers empty (after its short long-poll).
    assert client.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []) == []
    with pytest.raises(client.exceptions.QueueDoesNotExist):
        client.get_queue_url(QueueName=f"missing-{uuid.uuid4().hex[:8]}")
    stats = null_sqs.stats()
    assert stats["calls"] == {
        "SendMessageBatch": 1,
        "ReceiveMessage": 2,
        "DeleteMessageBatch": 1,
        "ChangeMessageVisibilityBatch": 1,
        "GetQueueUrl": 1,
    }
    assert stats["entries"]["SendMessageBatch"] == 10
    assert stats["sent_per_queue"] == {name: 10}


def test_null_sqs_preload_and_stall(null_sqs: NullSQS) -> None:
    client = _client(null_sqs.endpoint_url)
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    null_sqs.preload(name, 25)
    url = client.get_queue_url(QueueName=name)["QueueUrl"]
    got = 0
    while batch := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        got += len(batch)
    assert got == 25
    null_sqs.stall(True)
    sender = threading.Thread(
        target=client.send_message, kwargs={"QueueUrl": url, "MessageBody": "held"}
    )
    try:
        sender.start()
        sender.join(0.3)
        assert sender.is_alive(), "a send must wait while the server is stalled"
        assert null_sqs.stats()["available"][name] == 0
    finally:
        null_sqs.stall(False)
    sender.join(5)
    assert not sender.is_alive()
    assert null_sqs.stats()["available"][name] == 1


def test_producer_and_listener_scenarios_on_the_null_sqs(null_sqs: NullSQS) -> None:
    target = NullTarget(null_sqs)
    producer = Throughput(
        "1 producer",
        "producer",
        4,
        [
            Contender(RAW_PRODUCER, RAW),
            Contender("dramatiq-sqs", DRAMATIQ, {"broker": "dramatiq-sqs"}, share=0.5),
        ],
    )
    listener = Throughput("2 listener", "listener", 1, [Contender(RAW_LISTENER, RAW)])
    samples = producer.run(target, 60, 1, {}) + listener.run(target, 60, 1, {})
    assert [s.problem for s in samples] == ["", "", ""]
    raw, dramatiq_sqs, drain = samples
    assert (raw.arrived, raw.calls_per_msg("send")) == (60, 0.1)
    assert (dramatiq_sqs.arrived, dramatiq_sqs.calls_per_msg("send")) == (30, 1.0)
    assert (drain.arrived, drain.left, drain.calls_per_msg("delete")) == (60, 0, 0.1)
    for sample in samples:
        assert sample.cpu_seconds > 0 and sample.wall_seconds > 0 and sample.peak_rss_kib > 0
    summaries = summarise(samples)
    table = report.producer_table(summaries)
    assert RAW_PRODUCER in table and "yes (1 runs)" in table
    assert RAW_LISTENER in report.listener_table(summaries)


def test_producer_scenario_on_moto_counts_delivery(
    sqs_server: SqsServer, null_sqs: NullSQS
) -> None:
    target = MotoTarget(sqs_server.endpoint_url, null_sqs)
    producer = Throughput("1 producer", "producer", 2, [Contender(RAW_PRODUCER, RAW)])
    listener = Throughput("2 listener", "listener", 1, [Contender(RAW_LISTENER, RAW)])
    samples = producer.run(target, 40, 1, {}) + listener.run(target, 30, 1, {})
    assert [s.problem for s in samples] == ["", ""]
    assert samples[0].arrived == 40
    assert samples[0].calls["SendMessageBatch"] == 4  # counted in the client process on moto
    assert (samples[1].arrived, samples[1].left) == (30, 0)


def test_a_failing_client_shows_as_a_failed_run(null_sqs: NullSQS) -> None:
    broken = Contender("broken", "benchmarks.clients.no_such_client")
    samples = Throughput("1 producer", "producer", 1, [broken]).run(NullTarget(null_sqs), 20, 1, {})
    assert not samples[0].ok
    assert samples[0].problem.startswith("client failed")
    assert "**no**: 1 of 1 runs failed" in report.producer_table(summarise(samples))
    checks = report.throughput_targets(summarise(samples))
    assert {check.met for check in checks} == {None}  # no sqsobs figures: nothing claimed


def test_sqsobs_listener_contender_with_telemetry_on_and_off(null_sqs: NullSQS) -> None:
    names = [sqsobs_listener_name("batch", "on"), sqsobs_listener_name("per-message", "off")]
    chosen = [c for c in listener_scenario().contenders if c.name in names]
    assert [c.name for c in chosen] == names
    listener = Throughput("2 listener", "listener", 1, chosen)
    samples = listener.run(NullTarget(null_sqs), 50, 1, {"otlp_endpoint": null_sqs.endpoint_url})
    assert [s.problem for s in samples] == ["", ""]
    on, off = samples
    assert (on.messages, off.messages) == (50, 25)  # per-message runs get half the messages
    assert on.extra["stats"]["succeeded"] == 50
    assert off.extra["stats"]["succeeded"] == 25
    assert on.calls_per_msg("receive") + on.calls_per_msg("delete") <= 0.25
    assert on.extra["otlp"]["spans"] > 0  # fully on: spans reach the OTLP sink
    assert "otlp" not in off.extra  # off: no SDK, nothing exported


def test_sqsobs_batch_producer_contender(null_sqs: NullSQS) -> None:
    chosen = [c for c in producer_scenario().contenders if c.name == SQSOBS_BATCH_PRODUCER]
    assert len(chosen) == 1
    producer = Throughput("1 producer", "producer", 4, chosen)
    otlp = {"otlp_endpoint": null_sqs.endpoint_url}
    (sample,) = producer.run(NullTarget(null_sqs), 80, 1, otlp)
    assert sample.problem == ""
    assert sample.arrived == 80
    # 4 queues x 20 messages: two full batches each, 8 calls. On a loaded machine a timer flush
    # may catch a queue mid-batch and split it (CI once counted 9 calls): one extra per queue at
    # most. A producer that did not batch would make 80.
    assert 0.1 <= sample.calls_per_msg("send") <= 0.15
    assert sample.extra["failed_futures"] == {}
    assert sample.extra["otlp"]["spans"] >= 80  # at least one create span per message


def test_memory_scenario_sees_backpressure_and_delivers_everything(null_sqs: NullSQS) -> None:
    section = sqsobs_only.memory_section(
        null_sqs, 1_500, null_sqs.endpoint_url, {"max_buffer_size_per_queue": 100}
    )
    data = section["data"]
    assert data["ok"], data["log"]
    assert data["send_blocked_while_stalled"] is True
    assert 100 <= data["accepted_while_stalled"] <= 100 + data["in_flight_bound"]
    assert data["arrived"] == 1_500
    assert [t["met"] for t in section["targets"]][:2] == [True, True]


def test_latency_scenario_records_time_in_buffer(null_sqs: NullSQS) -> None:
    counts = {"trickle": 12, "burst": 200}
    section = sqsobs_only.latency_section(null_sqs, counts, null_sqs.endpoint_url)
    trickle, burst = section["data"]["trickle"], section["data"]["burst"]
    assert trickle["ok"] and burst["ok"], (trickle["log"], burst["log"])
    assert (trickle["arrived"], burst["arrived"]) == (12, 200)
    assert len(section["targets"]) == 1  # a burst is reported, not held to the target
    # Ten messages 50 ms apart fill a batch: the first waited about 450 ms, none more than
    # the batch interval.
    assert 0 < trickle["p50_ms"] <= trickle["max_ms"] <= trickle["batch_interval_seconds"] * 1e3


def test_scaling_runs_listener_processes_side_by_side(null_sqs: NullSQS) -> None:
    from benchmarks import scaling

    runs = [scaling.run_once(null_sqs, "batch", count, 200) for count in (1, 2)]
    assert [sum(run.handled) for run in runs] == [200, 200]
    assert all(len(run.handled) == run.processes for run in runs)
    assert all(run.client_cpu_seconds > 0 and run.seconds > 0 for run in runs)
    rows = scaling.summarise(runs)
    assert [(r["processes"], r["all_handled"]) for r in rows] == [(1, True), (2, True)]
    assert rows[0]["speedup"] == 1.0
    table = scaling.markdown(rows)
    assert "| batch | 2 | 200 |" in table


def test_listener_threads_measures_each_part(
    null_sqs: NullSQS, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import listener_threads

    assert listener_threads.job_handoff(200) > 0
    for threaded, locked in ((False, False), (True, False), (True, True)):
        # Every message received is deleted, in one thread or two, with or without the lock.
        cpu = listener_threads.concurrent_calls(null_sqs, 50, threaded, one_call_at_a_time=locked)
        assert cpu > 0
        assert null_sqs.stats()["available"]["threads"] == 0
    assert set(listener_threads.instrument_calls(50)) == {"Histogram.record", "Counter.add"}
    monkeypatch.setenv("BOTO_DISABLE_CRT", "true")
    listener_threads.main(["--messages", "50", "--rounds", "1"])
    out = capsys.readouterr().out
    assert out.count("| --- |") == 3 and "two threads / one thread: median" in out
    assert "two threads, one call at a time / one thread: median" in out
