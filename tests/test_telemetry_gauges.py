"""Buffer depth and in-flight are read from the real state when metrics are collected: right at
every collection, never kept alive by the metrics, gone once the producer or listener stopped."""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any

from sqsobs import BatchProducer, Listener
from sqsobs.telemetry import get_instruments
from sqsobs.telemetry.catalog import BUFFER_DEPTH, INFLIGHT
from sqsobs.types import SqsMessage
from tests.helpers import wait_for
from tests.listener_support import SqsCalls, send_bodies


def gauge(otel: Any, spec: Any, queue: str) -> list[float]:
    """The values the gauge reports for ``queue`` at one collection (empty: not reported)."""
    return [p.value for p in otel.points(spec.name, **{"messaging.destination.name": queue})]


def test_buffer_depth_is_what_the_buffer_holds_and_stops_with_the_producer(
    make_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    producer = BatchProducer(
        make_client(), default_batch_interval=60, default_idle_timeout=0, flush_at_exit=False
    )
    try:
        futures = [producer.send(queue_url, f"m{i}") for i in range(5)]
        assert gauge(otel, BUFFER_DEPTH, queue_name) == [5]
        assert gauge(otel, BUFFER_DEPTH, queue_name) == [5]  # read, not accumulated
        assert producer.flush(timeout_seconds=10)
        assert all(f.result(0) for f in futures)
        assert gauge(otel, BUFFER_DEPTH, queue_name) == [0]
        producer.send(queue_url, "late")
        assert gauge(otel, BUFFER_DEPTH, queue_name) == [1]
    finally:
        producer.close()
    assert gauge(otel, BUFFER_DEPTH, queue_name) == []  # a closed producer reports nothing


def test_the_gauges_do_not_keep_a_producer_alive(
    make_client: Any, queue_url: str, otel: Any
) -> None:
    producer = BatchProducer(make_client(), flush_at_exit=False)
    producer.send(queue_url, "m").result(10)
    buffers = weakref.ref(producer._buffers)
    producer.close()
    del producer
    gc.collect()
    assert buffers() is None


def test_inflight_is_what_the_handlers_hold_and_stops_with_the_listener(
    make_client: Any, sqs_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    send_bodies(sqs_client, queue_url, [f"m{i}" for i in range(3)])
    started, release = threading.Semaphore(0), threading.Event()

    def handler(message: SqsMessage) -> bool:
        started.release()
        release.wait(10)
        return True

    sqs = SqsCalls(make_client())
    listener = Listener(
        handler,
        queue_url=queue_url,
        mode="per_message",
        worker_threads=3,
        wait_time=1,
        idle_sleep_max=0.0,
        client=sqs.client,
    )
    with listener:
        for _ in range(3):
            assert started.acquire(timeout=10)
        assert gauge(otel, INFLIGHT, queue_name) == [3]
        release.set()
        assert wait_for(lambda: sqs.deleted == 3, timeout=10)
        assert wait_for(lambda: gauge(otel, INFLIGHT, queue_name) == [0], timeout=5)
    assert gauge(otel, INFLIGHT, queue_name) == []
    engine = weakref.ref(listener.telemetry)
    del listener
    gc.collect()
    assert engine() is None


class _Owner:
    """Something a gauge reads."""


def test_an_owner_that_died_unforgotten_stops_reporting(otel: Any) -> None:
    instruments = get_instruments()
    owner = _Owner()
    attributes = {"messaging.system": "aws_sqs", "messaging.destination.name": "gauge-owner"}
    instruments.observe(BUFFER_DEPTH, owner, lambda _: [(7, attributes)])
    assert gauge(otel, BUFFER_DEPTH, "gauge-owner") == [7]
    del owner
    gc.collect()
    assert gauge(otel, BUFFER_DEPTH, "gauge-owner") == []


def test_an_owner_that_fails_to_read_is_skipped_not_raised(otel: Any) -> None:
    instruments = get_instruments()
    broken, fine = _Owner(), _Owner()

    def explode(_: Any) -> list[tuple[float, dict[str, str]]]:
        raise RuntimeError("the state is gone")

    instruments.observe(BUFFER_DEPTH, broken, explode)
    instruments.observe(
        BUFFER_DEPTH, fine, lambda _: [(1, {"messaging.destination.name": "gauge-fine"})]
    )
    assert gauge(otel, BUFFER_DEPTH, "gauge-fine") == [1]
    instruments.forget(BUFFER_DEPTH, broken)
    instruments.forget(BUFFER_DEPTH, fine)
    assert gauge(otel, BUFFER_DEPTH, "gauge-fine") == []
