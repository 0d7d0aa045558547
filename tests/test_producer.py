"""BatchProducer against the real test server: volume, sizes, backpressure, shutdown, fork."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from concurrent.futures import Future
from typing import Any

import pytest

from sqsobs import (
    BatchProducer,
    BufferFull,
    Cleared,
    InvalidMessage,
    MessageTooLarge,
    ProducerClosed,
    QueueDoesNotExist,
)
from sqsobs.limits import MAX_BATCH_PAYLOAD_BYTES, message_size
from tests.conftest import REGION
from tests.helpers import drain_queue, gated_client


def _name(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def _capture_batches(client: Any) -> list[list[dict[str, Any]]]:
    """Record the entries of every SendMessageBatch the client makes."""
    seen: list[list[dict[str, Any]]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(list(params["Entries"]))

    client.meta.events.register("provide-client-params.sqs.SendMessageBatch", record)
    return seen


def _drain_all(make_client: Any, urls: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Drain several queues at once, one client and thread per queue."""
    result: dict[str, list[dict[str, Any]]] = {}

    def drain(url: str) -> None:
        result[url] = drain_queue(make_client(), url)

    threads = [threading.Thread(target=drain, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


# A hang guard, not a speed check: 10,000 messages through moto take 30 s on a quiet machine and
# up to 3 times that when the machine is shared.
@pytest.mark.timeout(300)
def test_10000_messages_3_queues_8_threads_arrive_exactly_once(
    make_client: Any, make_queue: Any
) -> None:
    urls = [make_queue(f"-{i}") for i in range(3)]
    producer = BatchProducer(make_client(max_pool_connections=10), flush_at_exit=False)
    futures: dict[str, Future[str]] = {}
    lock = threading.Lock()

    def produce(thread: int) -> None:
        mine: dict[str, Future[str]] = {}
        for i in range(1250):
            body = f"t{thread}-m{i}"
            mine[body] = producer.send(
                urls[i % 3],
                body,
                attributes={
                    "thread": {"DataType": "Number", "StringValue": str(thread)},
                    "digest": {
                        "DataType": "String",
                        "StringValue": hashlib.md5(body.encode()).hexdigest(),
                    },
                },
            )
        with lock:
            futures.update(mine)

    started = time.monotonic()
    threads = [threading.Thread(target=produce, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    message_ids = {body: future.result(timeout=60) for body, future in futures.items()}
    sent_seconds = time.monotonic() - started
    producer.close()
    assert len(message_ids) == 10_000 and len(set(message_ids.values())) == 10_000

    received = _drain_all(make_client, urls)
    bodies: Counter[str] = Counter()
    for url, messages in received.items():
        for message in messages:
            body = message["Body"]
            bodies[body] += 1
            thread, index = body[1:].split("-m")
            assert urls[int(index) % 3] == url
            attrs = message["MessageAttributes"]
            assert attrs["thread"]["StringValue"] == thread
            assert attrs["digest"]["StringValue"] == hashlib.md5(body.encode()).hexdigest()
            assert message["MessageId"] == message_ids[body]
    assert len(bodies) == 10_000 and set(bodies.values()) == {1}
    metrics = producer.get_metrics()["metrics"]
    assert sum(metrics["messages_sent"].values()) == 10_000
    assert sum(metrics["messages_failed"].values()) == 0
    assert sent_seconds < 40


def test_mixed_sizes_near_the_byte_limit_all_arrive_and_splits_are_counted(
    make_client: Any, sqs_client: Any, queue_url: str, otel: Any
) -> None:
    client = make_client()
    batches = _capture_batches(client)
    rng = random.Random(7)
    bodies = [
        f"{i:04d}" + "x" * rng.choice([1_000, 150_000, 400_000, 700_000, 1_048_000])
        for i in range(24)
    ]
    producer = BatchProducer(
        client, default_batch_interval=0.5, default_idle_timeout=0.2, flush_at_exit=False
    )
    try:
        futures = [producer.send(queue_url, body) for body in bodies]
        assert all(f.result(timeout=30) for f in futures)
    finally:
        producer.close()
    for entries in batches:
        payload = sum(message_size(e["MessageBody"], e.get("MessageAttributes")) for e in entries)
        assert payload <= MAX_BATCH_PAYLOAD_BYTES
        assert len(entries) <= 10
    received = drain_queue(sqs_client, queue_url)
    assert sorted(m["Body"] for m in received) == sorted(bodies)
    splits = producer.get_queue_status(queue_url)["batch_split_count"]
    assert splits > 0
    name = _name(queue_url)
    assert (
        otel.total("sqsobs.producer.batch.splits", **{"messaging.destination.name": name}) == splits
    )
    # A split is a span: a child of its flush, covering the packing decision, with the counts.
    flushes = {s.context.span_id: s for s in otel.spans() if s.name == f"flush {name}"}
    split_spans = [s for s in otel.spans() if s.name == f"split {name}"]
    assert split_spans and all(s.attributes["sqsobs.split.batches"] >= 2 for s in split_spans)
    assert sum(s.attributes["sqsobs.split.count"] for s in split_spans) == splits
    for split in split_spans:
        flush = flushes[split.parent.span_id]
        assert flush.start_time <= split.start_time <= split.end_time <= flush.end_time
        assert split.attributes["sqsobs.split.reason"] == "batch_payload_limit"
        assert (
            split.attributes["sqsobs.split.sent_batches"]
            == flush.attributes["sqsobs.flush.batches"]
        )


def test_oversized_message_is_rejected_at_send_and_nothing_is_buffered(
    make_client: Any, make_queue: Any, otel: Any
) -> None:
    url = make_queue()
    small = make_queue("-small", MaximumMessageSize=2048)
    producer = BatchProducer(make_client(), flush_at_exit=False)
    try:
        with pytest.raises(MessageTooLarge) as caught:
            producer.send(url, "x" * (1_048_576 + 1))
        assert caught.value.limit_bytes == 1_048_576
        with pytest.raises(MessageTooLarge) as caught_small:
            producer.send(small, "y" * 2049)
        assert caught_small.value.limit_bytes == 2048
        with pytest.raises(InvalidMessage):
            producer.send(url, "nul \x00 is not allowed")
        assert producer.send(small, "y" * 1000).result(timeout=10)
        status = producer.get_queue_status(url)
        assert status["buffer_size"] == 0 and status["messages_rejected"] == 2
        assert status["oversized_message_dropped"] == 1
        assert producer.get_queue_status(small)["max_message_bytes"] == 2048
    finally:
        producer.close()
    rejected = otel.total(
        "sqsobs.producer.messages.rejected",
        **{"messaging.destination.name": _name(url), "error.type": "message_too_large"},
    )
    assert rejected == 1


def test_buffer_full_blocks_then_raises_after_the_configured_wait(
    make_client: Any, sqs_client: Any, queue_url: str
) -> None:
    client, gate = gated_client(make_client)
    producer = BatchProducer(
        client,
        max_buffer_size_per_queue=5,
        buffer_full_timeout_seconds=0.3,
        default_batch_interval=0,
        flush_at_exit=False,
    )
    try:
        futures = [producer.send(queue_url, f"m{i}") for i in range(5)]
        started = time.monotonic()
        with pytest.raises(BufferFull):
            producer.send(queue_url, "overflow")
        waited = time.monotonic() - started
        assert 0.25 <= waited < 2.0
        # A sender with a longer wait gets in as soon as room frees up.
        late: list[Future[str]] = []
        thread = threading.Thread(target=lambda: late.append(producer.send(queue_url, "late")))
        thread.start()
        time.sleep(0.1)
        assert not late  # still blocked
        gate.set()
        thread.join(5)
        assert all(f.result(timeout=10) for f in [*futures, *late])
        assert producer.get_queue_status(queue_url)["buffer_overflow_count"] == 2
    finally:
        gate.set()
        producer.close()
    assert sorted(m["Body"] for m in drain_queue(sqs_client, queue_url)) == sorted(
        [f"m{i}" for i in range(5)] + ["late"]
    )


def test_close_delivers_everything_buffered_and_send_after_close_raises(
    make_client: Any, sqs_client: Any, queue_url: str, otel: Any
) -> None:
    producer = BatchProducer(
        make_client(), default_batch_interval=60, default_idle_timeout=0, flush_at_exit=False
    )
    futures = [producer.send(queue_url, f"m{i}") for i in range(9)]  # under one batch
    time.sleep(0.2)
    assert producer.get_queue_status(queue_url)["buffer_size"] == 9
    assert producer.close(timeout=10) is True
    assert all(f.done() and f.result() for f in futures)
    assert producer.close() is True  # idempotent
    with pytest.raises(ProducerClosed):
        producer.send(queue_url, "late")
    assert len(drain_queue(sqs_client, queue_url)) == 9
    assert producer.get_metrics()["background_thread_alive"] is False
    name = {"messaging.destination.name": _name(queue_url)}
    assert otel.total("sqsobs.producer.flushes", **name, **{"sqsobs.flush.reason": "close"}) == 1


def test_process_exit_without_close_still_delivers(
    sqs_server: Any, sqs_client: Any, queue_url: str
) -> None:
    script = textwrap.dedent(
        f"""
        from sqsobs import BatchProducer
        producer = BatchProducer(default_batch_interval=60, default_idle_timeout=0)
        for i in range(9):  # under one batch: nothing goes out before exit
            producer.send({queue_url!r}, f"exit-{{i}}")
        print(producer.get_queue_status({queue_url!r})["buffer_size"])
        """
    )
    env = {**os.environ, "AWS_ENDPOINT_URL": sqs_server.endpoint_url, "AWS_DEFAULT_REGION": REGION}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "9"  # still buffered when the script ended
    assert sorted(m["Body"] for m in drain_queue(sqs_client, queue_url)) == sorted(
        f"exit-{i}" for i in range(9)
    )


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_starts_empty_and_nothing_is_sent_twice(
    sqs_server: Any, sqs_client: Any, queue_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sqs_server.endpoint_url)  # the producer's own client
    producer = BatchProducer(default_batch_interval=60, default_idle_timeout=0, flush_at_exit=False)
    parent = [producer.send(queue_url, f"parent-{i}") for i in range(5)]
    pid = os.fork()
    if pid == 0:  # the child: its own buffers and threads
        code = 1
        try:
            status = producer.get_queue_status(queue_url)
            child = [producer.send(queue_url, f"child-{i}") for i in range(3)]
            producer.close(timeout=20)
            ok = status["buffer_size"] == 0 and all(f.result(timeout=1) for f in child)
            code = (
                0
                if ok and producer.get_metrics()["metrics"]["messages_sent"][queue_url] == 3
                else 2
            )
        finally:
            os._exit(code)
    _, wait_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(wait_status) == 0
    producer.close(timeout=20)
    assert all(f.result(timeout=1) for f in parent)
    bodies = sorted(m["Body"] for m in drain_queue(sqs_client, queue_url))
    assert bodies == sorted([f"parent-{i}" for i in range(5)] + [f"child-{i}" for i in range(3)])


def test_flush_triggers_size_interval_idle_and_per_queue_overrides(
    make_client: Any, make_queue: Any, otel: Any
) -> None:
    size_q, interval_q, idle_q, now_q = (make_queue(f"-{s}") for s in ("s", "i", "d", "n"))
    producer = BatchProducer(
        make_client(),
        default_batch_interval=30,
        default_idle_timeout=0,
        group_batch_intervals={_name(interval_q): 0.3, now_q: 0},
        group_idle_timeouts={idle_q: 0.2},
        flush_at_exit=False,
    )
    try:
        started = time.monotonic()
        assert all(f.result(5) for f in [producer.send(size_q, f"s{i}") for i in range(10)])
        assert producer.send(now_q, "now").result(5)
        fast = time.monotonic() - started
        assert producer.send(interval_q, "i").result(5)
        assert producer.send(idle_q, "d").result(5)
        assert fast < 2
        assert producer.get_queue_status(interval_q)["batch_interval"] == 0.3
        assert producer.get_queue_status(idle_q)["idle_timeout"] == 0.2
    finally:
        producer.close()

    def reasons(url: str) -> set[str]:
        return {
            s.attributes["sqsobs.flush.reason"]
            for s in otel.spans()
            if s.name == f"flush {_name(url)}"
        }

    assert reasons(size_q) == {"size"}
    assert reasons(interval_q) == {"interval"}
    assert reasons(idle_q) == {"idle"}
    assert reasons(now_q) == {"interval"}


def test_clear_queue_buffer_fails_futures_with_cleared(
    make_client: Any, sqs_client: Any, queue_url: str, otel: Any
) -> None:
    producer = BatchProducer(
        make_client(), default_batch_interval=60, default_idle_timeout=0, flush_at_exit=False
    )
    try:
        futures = [producer.send(queue_url, f"m{i}") for i in range(7)]
        assert producer.clear_queue_buffer(queue_url) == 7
        assert producer.clear_queue_buffer("never-used") == 0
        assert all(isinstance(f.exception(timeout=1), Cleared) for f in futures)
        status = producer.get_queue_status(queue_url)
        assert status["messages_cleared"] == 7 and status["buffer_size"] == 0
    finally:
        producer.close()
    assert drain_queue(sqs_client, queue_url) == []
    kind = {"messaging.destination.name": _name(queue_url), "error.type": "cleared"}
    assert otel.total("sqsobs.producer.messages.failed", **kind) == 7


def test_queue_by_name_is_resolved_once_and_missing_queues_raise(
    make_client: Any, sqs_client: Any, queue_name: str, queue_url: str
) -> None:
    client = make_client()
    lookups: list[str] = []
    client.meta.events.register(
        "provide-client-params.sqs.GetQueueUrl",
        lambda params, **_: lookups.append(params["QueueName"]),
    )
    producer = BatchProducer(client, default_batch_interval=0, flush_at_exit=False)
    try:
        assert all(f.result(5) for f in [producer.send(queue_name, f"m{i}") for i in range(3)])
        with pytest.raises(QueueDoesNotExist):
            producer.send(f"{queue_name}-missing", "m")
        assert producer.get_metrics()["metrics"]["messages_rejected"][f"{queue_name}-missing"] == 1
    finally:
        producer.close()
    assert lookups == [queue_name, f"{queue_name}-missing"]
    assert len(drain_queue(sqs_client, queue_url)) == 3


def test_fifo_needs_group_and_deduplication(make_client: Any, make_queue: Any) -> None:
    url = make_queue(fifo=True)
    producer = BatchProducer(make_client(), default_batch_interval=0, flush_at_exit=False)
    try:
        with pytest.raises(InvalidMessage):
            producer.send(url, "no group")
        with pytest.raises(InvalidMessage):
            producer.send(url, "no dedup id", group_id="g")
        assert producer.send(url, "ok", group_id="g", deduplication_id="d1").result(5)
    finally:
        producer.close()


def test_close_with_a_stuck_server_times_out_yet_every_future_resolves(
    make_client: Any, sqs_client: Any, queue_url: str
) -> None:
    client, gate = gated_client(make_client)
    producer = BatchProducer(
        client, default_batch_interval=0, max_concurrent_sends=1, flush_at_exit=False
    )
    futures = [producer.send(queue_url, f"m{i}") for i in range(25)]
    started = time.monotonic()
    assert producer.close(timeout=0.3) is False
    assert time.monotonic() - started < 3
    with pytest.raises(ProducerClosed):
        producer.send(queue_url, "late")
    gate.set()
    outcomes = [f.exception(timeout=10) or f.result() for f in futures]
    delivered = [o for o in outcomes if isinstance(o, str)]
    assert all(isinstance(o, (str, ProducerClosed)) for o in outcomes)
    assert sorted(m["Body"] for m in drain_queue(sqs_client, queue_url)) == sorted(
        f"m{i}" for i, o in enumerate(outcomes) if isinstance(o, str)
    )
    assert delivered  # the request in flight at close() still completed


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_with_a_given_client_that_has_pooled_connections(
    make_client: Any, sqs_client: Any, queue_url: str
) -> None:
    producer = BatchProducer(make_client(), default_batch_interval=0, flush_at_exit=False)
    assert producer.send(queue_url, "before").result(timeout=10)  # the pool holds a connection
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            child = [producer.send(queue_url, f"child-{i}") for i in range(3)]
            ok = all(f.result(timeout=10) for f in child) and producer.close(timeout=10)
            code = 0 if ok else 2
        finally:
            os._exit(code)
    parent = [producer.send(queue_url, f"parent-{i}") for i in range(3)]
    _, wait_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(wait_status) == 0
    assert all(f.result(timeout=10) for f in parent)
    producer.close(timeout=10)
    bodies = sorted(m["Body"] for m in drain_queue(sqs_client, queue_url))
    expected = ["before"] + [f"{who}-{i}" for who in ("child", "parent") for i in range(3)]
    assert bodies == sorted(expected)
