"""BatchProducer's lifecycle: one state moved forward only (running, closing, stopping, closed),
read by send(), close(), the flusher and the fork hooks; the flush/close contract."""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future
from typing import Any

import pytest

from sqsobs import BatchProducer, ProducerClosed
from sqsobs.producer._buffers import Buffers
from sqsobs.producer._lifecycle import ProducerState
from sqsobs.producer._settings import ProducerSettings
from tests.helpers import drain_queue, gated_client, wait_for

RUNNING = ProducerState.RUNNING
CLOSING = ProducerState.CLOSING
STOPPING = ProducerState.STOPPING
CLOSED = ProducerState.CLOSED


def test_the_state_moves_only_where_allowed_and_waiters_see_it() -> None:
    buffers = Buffers(ProducerSettings.resolve(environ={}))
    assert buffers.state is RUNNING
    assert buffers.move(CLOSING, allowed={RUNNING}) is True
    assert buffers.move(CLOSING, allowed={RUNNING}) is False  # what a second close() sees
    assert buffers.state is CLOSING
    assert buffers.wait_for(CLOSED, 0.05) is False

    def finish() -> None:
        assert buffers.move(STOPPING, allowed={CLOSING})
        assert buffers.move(CLOSED, allowed={STOPPING})

    timer = threading.Timer(0.1, finish)
    timer.start()
    assert buffers.wait_for(CLOSED, 5) is True
    timer.join()
    assert [state.accepts_messages for state in ProducerState] == [True, False, False, False]
    assert [state.flushing for state in ProducerState] == [True, True, False, False]


def test_flush_and_close_take_timeout_seconds_or_its_alias(sqs_client: Any, queue_url: str) -> None:
    producer = BatchProducer(sqs_client, default_batch_interval=60, flush_at_exit=False)
    future = producer.send(queue_url, "one")
    assert producer.flush(timeout_seconds=10) is True and future.result()
    assert producer.flush(timeout=10) is True
    assert producer.flush_all(timeout_seconds=10) is True
    assert producer.force_flush_queue(queue_url, timeout=10) is True
    assert producer.force_flush_queue("never-used", 0) is True
    with pytest.raises(TypeError, match="not both"):
        producer.flush(1, timeout=1)
    assert producer.closed is False
    assert producer.close(timeout_seconds=10) is True
    assert producer.closed is True
    assert producer.close(timeout=1) is True


def test_a_second_close_waits_for_the_first_and_returns_its_answer(
    make_client: Any, sqs_client: Any, queue_url: str
) -> None:
    client, gate = gated_client(make_client)
    producer = BatchProducer(
        client, default_batch_interval=0, max_concurrent_sends=1, flush_at_exit=False
    )
    futures = [producer.send(queue_url, f"m{i}") for i in range(3)]
    first: list[bool] = []
    closer = threading.Thread(target=lambda: first.append(producer.close(timeout_seconds=0.5)))
    closer.start()
    try:
        assert wait_for(lambda: producer.closed)
        # The first close() gives up on the stuck send; the second waits for it to finish.
        second = producer.close(timeout_seconds=20)
        closer.join(10)
        assert first == [False] and second is False
        assert producer.close() is False  # and so does every later call
    finally:
        gate.set()
        closer.join(10)
    outcomes = [f.exception(timeout=10) or f.result() for f in futures]
    assert all(isinstance(o, (str, ProducerClosed)) for o in outcomes)
    delivered = sorted(o for o in outcomes if isinstance(o, str))
    assert sorted(m["MessageId"] for m in drain_queue(sqs_client, queue_url)) == delivered


def test_a_send_waiting_for_room_is_refused_as_soon_as_close_begins(
    make_client: Any, queue_url: str
) -> None:
    client, gate = gated_client(make_client)
    producer = BatchProducer(
        client,
        default_batch_interval=0,
        max_buffer_size_per_queue=1,
        buffer_full_timeout_seconds=30,
        flush_at_exit=False,
    )
    in_flight = producer.send(queue_url, "in flight")  # held at the gate: the buffer is full
    refused: list[BaseException] = []

    def send_late() -> None:
        try:
            producer.send(queue_url, "late")
        except ProducerClosed as exc:
            refused.append(exc)

    sender = threading.Thread(target=send_late)
    sender.start()
    closer = threading.Thread(target=producer.close, kwargs={"timeout_seconds": 10})
    try:
        assert wait_for(lambda: producer.get_queue_status(queue_url)["buffer_overflow_count"] == 1)
        closer.start()
        sender.join(5)
        # Refused while close() still waits for the send in flight, not 30 s later.
        assert not sender.is_alive() and closer.is_alive()
        assert len(refused) == 1
    finally:
        gate.set()
        closer.join(15)
    assert in_flight.result(timeout=10)


def _in_child(check: Any) -> int:
    """Run ``check`` in a forked child; return the child's exit code (0: it returned True)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if check() else 2
        finally:
            os._exit(code)
    _, wait_status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(wait_status)


def _closed_here(producer: BatchProducer, queue_url: str) -> bool:
    """What a closed producer looks like: refuses sends, no threads, close() answers True."""
    try:
        producer.send(queue_url, "from the child")
    except ProducerClosed:
        refused = True
    else:
        refused = False
    metrics = producer.get_metrics()
    return (
        refused
        and producer.closed
        and metrics["closed"]
        and not metrics["background_thread_alive"]
        and producer.close(timeout_seconds=1) is True
    )


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_the_child_of_a_closed_producer_stays_closed(
    make_client: Any, sqs_client: Any, queue_url: str
) -> None:
    producer = BatchProducer(make_client(), default_batch_interval=0, flush_at_exit=False)
    assert producer.send(queue_url, "before").result(timeout=10)
    assert producer.close(timeout_seconds=10) is True
    assert _in_child(lambda: _closed_here(producer, queue_url)) == 0
    assert [m["Body"] for m in drain_queue(sqs_client, queue_url)] == ["before"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_the_child_of_a_closing_producer_is_closed_and_sends_nothing(
    make_client: Any, sqs_client: Any, queue_url: str
) -> None:
    client, gate = gated_client(make_client)
    producer = BatchProducer(client, default_batch_interval=0, flush_at_exit=False)
    stuck: Future[str] = producer.send(queue_url, "stuck")
    closer = threading.Thread(target=producer.close, kwargs={"timeout_seconds": 15})
    try:
        assert wait_for(lambda: producer.get_metrics()["in_flight_counts"].get(queue_url) == 1)
        closer.start()
        assert wait_for(lambda: producer.closed)
        # The close() under way belongs to the parent: the child does not reopen the producer.
        assert _in_child(lambda: _closed_here(producer, queue_url)) == 0
    finally:
        gate.set()
        closer.join(20)
    assert stuck.result(timeout=10)
    assert [m["Body"] for m in drain_queue(sqs_client, queue_url)] == ["stuck"]
