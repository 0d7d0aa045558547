"""Worker capacity per listener: busy workers, slots, prefetched messages and the utilisation,
read from the worker pool at each collection (as the in-flight gauge is)."""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any

import pytest

from sqsobs import Listener, SqsMessage
from sqsobs.listener._capacity import BusyTime
from sqsobs.listener._workers import Job, WorkerPool
from sqsobs.telemetry.catalog import (
    INFLIGHT,
    PREFETCHED,
    WORKERS_BUSY,
    WORKERS_SLOTS,
    WORKERS_UTILIZATION,
)
from tests.helpers import Clock, wait_for
from tests.listener_support import SqsCalls, send_bodies


def test_utilisation_is_busy_time_over_the_last_minute() -> None:
    clock = Clock()
    busy = BusyTime(2, clock=clock)
    busy.change(1)  # one of two workers busy from t=0
    clock.now += 60
    assert busy.utilization() == pytest.approx(0.5)
    busy.change(0)
    clock.now += 30  # the window is [30 s, 90 s]: busy 30 s of 2 x 60 worker-seconds
    assert busy.utilization() == pytest.approx(0.25, abs=0.01)
    clock.now += 60
    assert busy.utilization() == 0.0
    busy.change(2)
    clock.now += 200  # no change for longer than the window
    assert busy.utilization() == 1.0


def test_utilisation_of_a_young_listener_counts_from_its_start() -> None:
    clock = Clock()
    busy = BusyTime(4, clock=clock)
    assert busy.utilization() == 0.0
    busy.change(4)
    clock.now += 10
    assert busy.utilization() == 1.0


def test_utilisation_under_many_short_handlers_is_their_share_of_time() -> None:
    # 10 ms handlers with 10 ms gaps on one worker for two minutes: half the time.
    clock = Clock()
    busy = BusyTime(1, clock=clock)
    for _ in range(6000):
        busy.change(1)
        clock.now += 0.01
        busy.change(0)
        clock.now += 0.01
    assert busy.utilization() == pytest.approx(0.5, abs=0.02)
    clock.now += 30  # then idle for half the window
    assert busy.utilization() == pytest.approx(0.25, abs=0.02)


def test_the_pool_counts_waiting_messages_not_jobs() -> None:
    pool = WorkerPool(2, stopping=lambda: False)  # no worker started: every job waits
    slots = pool.reserve(10)
    assert slots == 2

    def message(n: int) -> SqsMessage:
        return SqsMessage(message_id=f"m{n}", receipt_handle=f"r{n}", body="b")

    # A FIFO group is one job of several messages.
    pool.received(slots, [Job(lambda *_: None, [message(1)], None),
                          Job(lambda *_: None, [message(2), message(3)], None)])  # fmt: skip
    capacity = pool.capacity()
    assert (capacity.busy, capacity.slots, capacity.prefetched) == (0, 2, 3)
    assert capacity.utilization == 0.0
    assert pool.prefetched() == 2  # jobs


def gauge(otel: Any, spec: Any, queue: str) -> list[float]:
    return [p.value for p in otel.points(spec.name, **{"messaging.destination.name": queue})]


def test_capacity_gauges_read_the_worker_pool_and_stop_with_the_listener(
    make_client: Any, sqs_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    # A quick first message times a handler: only then does the pool prefetch.
    send_bodies(sqs_client, queue_url, ["warm"])
    started, release = threading.Semaphore(0), threading.Event()

    def handle(message: SqsMessage) -> bool:
        if message.body != "warm":
            started.release()
            release.wait(20)
        return True

    sqs = SqsCalls(make_client())
    listener = Listener(
        handle,
        queue_url=queue_url,
        mode="per_message",
        worker_threads=2,
        max_prefetch=3,
        wait_time=1,
        idle_sleep_max=0.0,
        client=sqs.client,
    )
    with listener:
        assert wait_for(lambda: sqs.deleted == 1, timeout=10)
        send_bodies(sqs_client, queue_url, [f"m{i}" for i in range(8)])
        for _ in range(2):
            assert started.acquire(timeout=10)
        assert gauge(otel, WORKERS_BUSY, queue_name) == [2]
        assert gauge(otel, WORKERS_SLOTS, queue_name) == [2]

        # What was received and not started waits for a worker: in flight minus busy (a
        # receive may return fewer than it asked for, so not always max_prefetch).
        def waiting() -> bool:
            inflight = gauge(otel, INFLIGHT, queue_name)
            return inflight[0] <= 5 and gauge(otel, PREFETCHED, queue_name) == [inflight[0] - 2]

        assert wait_for(waiting, timeout=5)
        threading.Event().wait(1.0)
        (utilisation,) = gauge(otel, WORKERS_UTILIZATION, queue_name)
        assert 40.0 <= utilisation <= 100.0  # both workers busy most of the time so far
        release.set()
        assert wait_for(lambda: sqs.deleted == 9, timeout=10)
        assert wait_for(lambda: gauge(otel, WORKERS_BUSY, queue_name) == [0], timeout=5)
        assert gauge(otel, PREFETCHED, queue_name) == [0]
        (later,) = gauge(otel, WORKERS_UTILIZATION, queue_name)
        assert later < utilisation  # idle time now counts
    for spec in (WORKERS_BUSY, WORKERS_SLOTS, PREFETCHED, WORKERS_UTILIZATION):
        assert gauge(otel, spec, queue_name) == [], spec.name
    pool = weakref.ref(listener._engine.pool)  # type: ignore[union-attr]
    del listener
    gc.collect()
    assert pool() is None  # the gauges never kept the pool alive


def test_batch_mode_counts_a_batch_as_one_busy_worker(
    make_client: Any, sqs_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    send_bodies(sqs_client, queue_url, [f"m{i}" for i in range(10)])
    started, release = threading.Event(), threading.Event()

    def handle(messages: list[SqsMessage]) -> None:
        started.set()
        release.wait(20)

    with Listener(
        handle,
        queue_url=queue_url,
        mode="batch",
        worker_threads=3,
        wait_time=1,
        client=make_client(),
    ):
        assert started.wait(10)
        assert gauge(otel, WORKERS_BUSY, queue_name) == [1]
        assert gauge(otel, WORKERS_SLOTS, queue_name) == [3]
        release.set()
