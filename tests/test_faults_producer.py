"""BatchProducer through the fault proxy, and across a server kill: nothing accepted is lost.

Invariant, counted on the server: every future resolves; every message whose future gave a
MessageId is stored under that MessageId; a future that failed says why. A response lost after
SQS stored the batch (``reset_response``) is ambiguous: the retry stores a second copy, counted
here as a duplicate.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, wait
from typing import Any

import pytest

from sqsobs import BatchProducer, SendFailed
from sqsobs.testing import EmbeddedSQS
from tests.conftest import ClientFactory, SqsServer
from tests.faultproxy import Fault, FaultProxy
from tests.helpers import drain_queue, wait_for
from tests.soak_common import Ledger, kill_and_restart

SEND = {"SendMessageBatch"}


@pytest.fixture
def proxy(sqs_server: SqsServer) -> Iterator[FaultProxy]:
    with FaultProxy(sqs_server.endpoint_url, seed=20261123) as running:
        yield running


def _send_all(
    producer: BatchProducer, url: str, bodies: list[str], threads: int
) -> dict[str, Future[str]]:
    """Send ``bodies`` from ``threads`` caller threads; return body -> future."""
    futures: dict[str, Future[str]] = {}
    lock = threading.Lock()

    def run(part: list[str]) -> None:
        for body in part:
            future = producer.send(url, body)
            with lock:
                futures[body] = future

    workers = [threading.Thread(target=run, args=(bodies[i::threads],)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return futures


def _settle(ledger: Ledger, futures: dict[str, Future[str]], timeout: float) -> None:
    not_done = wait(list(futures.values()), timeout).not_done
    assert not not_done, f"{len(not_done)} futures never resolved"
    for body, future in futures.items():
        error = future.exception()
        if error is None:
            ledger.accepted(body, future.result())
        else:
            assert isinstance(error, SendFailed), error  # a typed reason, never a bare error
            ledger.failed(body, error)


def test_random_throttling_5xx_and_resets_lose_nothing(
    make_client: ClientFactory, proxy: FaultProxy, sqs_client: Any, queue_url: str
) -> None:
    for kind, probability in [
        ("throttle", 0.08),
        ("error500", 0.05),
        ("error503", 0.05),
        ("reset_request", 0.05),
        ("reset_response", 0.05),
    ]:
        proxy.add(Fault(kind, operations=SEND, probability=probability))  # type: ignore[arg-type]
    bodies = [f"p-{i:05d}" for i in range(800)]
    ledger = Ledger(sent=bodies)
    producer = BatchProducer(
        make_client(endpoint_url=proxy.endpoint_url),
        default_batch_interval=0.02,
        max_retry_attempts=8,
        retry_backoff_base_seconds=0.01,
        retry_backoff_max_seconds=0.2,
        flush_at_exit=False,
    )
    try:
        futures = _send_all(producer, queue_url, bodies, threads=4)
        _settle(ledger, futures, timeout=60)
    finally:
        producer.close()
    ledger.stored(drain_queue(sqs_client, queue_url))
    numbers = ledger.report()
    resets_after = proxy.count("SendMessageBatch", "reset_response")
    print(f"producer under random faults: {numbers}, reset_response={resets_after}")
    assert numbers["unresolved"] == 0
    assert numbers["lost"] == 0, numbers
    assert numbers["wrong_message_id"] == 0, numbers
    assert numbers["strays"] == 0
    # Every fault kind really happened, and was retried through.
    for kind in ("throttle", "error500", "error503", "reset_request", "reset_response"):
        assert proxy.count("SendMessageBatch", kind) > 0, kind
    assert numbers["accepted"] + numbers["failed"] == len(bodies)
    assert numbers["accepted"] >= len(bodies) * 0.99, ledger.errors
    # Only an ambiguous failure duplicates: at most one copy per entry of each reset response.
    assert numbers["duplicates"] <= 10 * resets_after
    status = producer.get_queue_status(queue_url)
    assert status["messages_sent"] == numbers["accepted"]
    assert status["messages_failed"] == numbers["failed"]


def test_persistent_faults_fail_every_future_with_its_reason(
    make_client: ClientFactory, proxy: FaultProxy, sqs_client: Any, queue_url: str
) -> None:
    """503 on every call: nothing stored, each future fails naming the code and the attempts."""
    proxy.add(Fault("error503", operations=SEND))
    reported: list[Any] = []
    producer = BatchProducer(
        make_client(endpoint_url=proxy.endpoint_url),
        default_batch_interval=0.01,
        max_retry_attempts=2,
        retry_backoff_base_seconds=0.01,
        on_failure=reported.append,
        flush_at_exit=False,
    )
    try:
        futures = [producer.send(queue_url, f"x-{i}") for i in range(25)]
        errors = [f.exception(timeout=20) for f in futures]
    finally:
        producer.close()
    assert all(isinstance(e, SendFailed) for e in errors)
    assert {(e.code, e.attempts) for e in errors if isinstance(e, SendFailed)} == {
        ("ServiceUnavailable", 3)
    }
    assert sorted(r.entry["MessageBody"] for r in reported) == sorted(f"x-{i}" for i in range(25))
    assert drain_queue(sqs_client, queue_url) == []


def test_lost_responses_are_the_only_source_of_duplicates(
    make_client: ClientFactory, proxy: FaultProxy, sqs_client: Any, queue_url: str
) -> None:
    """Three responses lost after SQS stored the batch: the retries store extra copies.

    The future holds the MessageId of the copy whose answer arrived; the other copies are the
    documented at-least-once duplicates. When even the last attempt's answer is lost, the future
    fails although SQS holds the message: failed, yet delivered (ambiguous by nature).
    """
    proxy.add(Fault("reset_response", operations=SEND, count=3))
    producer = BatchProducer(
        make_client(endpoint_url=proxy.endpoint_url),
        batch_size=10,
        default_batch_interval=5,
        max_retry_attempts=2,
        retry_backoff_base_seconds=0.01,
        flush_at_exit=False,
    )
    bodies = [f"d-{i}" for i in range(10)]
    ledger = Ledger(sent=bodies)
    try:
        futures = {body: producer.send(queue_url, body) for body in bodies}
        _settle(ledger, futures, timeout=20)
    finally:
        producer.close()
    ledger.stored(drain_queue(sqs_client, queue_url))
    numbers = ledger.report()
    print(f"three lost responses, one batch, two retries: {numbers}")
    # One batch of 10, sent 3 times (1 + 2 retries), every answer lost: 30 copies, 10 failures.
    assert numbers["failed"] == 10 and numbers["failed_but_delivered"] == 10
    assert numbers["duplicates"] == 20
    assert all("attempt" in why for why in ledger.errors.values())


@pytest.fixture
def own_server() -> Iterator[EmbeddedSQS]:
    """A server of this test's own, to kill and restart on the same port."""
    server = EmbeddedSQS().start()
    try:
        yield server
    finally:
        server.stop()


def test_server_killed_and_restarted_mid_run(
    make_client: ClientFactory, own_server: EmbeddedSQS
) -> None:
    """Senders keep sending while the server is SIGKILLed and comes back empty.

    To count what the first server stored, the proxy holds new requests at its door, the first
    server is drained directly, and only then killed; the held requests then meet a dead server
    (connection reset), are retried, and land on the restarted one once its queue is recreated.
    """
    direct = make_client(endpoint_url=own_server.endpoint_url)
    name = f"restart-{os.getpid()}-{time.monotonic_ns()}"
    url = direct.create_queue(QueueName=name)["QueueUrl"]
    bodies = [f"r-{i:04d}" for i in range(600)]
    ledger = Ledger(sent=bodies)
    with FaultProxy(own_server.endpoint_url, seed=5) as proxy:
        proxy.add(Fault("throttle", operations=SEND, probability=0.05))
        producer = BatchProducer(
            make_client(endpoint_url=proxy.endpoint_url),
            default_batch_interval=0.02,
            max_retry_attempts=12,
            retry_backoff_base_seconds=0.05,
            retry_backoff_max_seconds=1.0,
            flush_at_exit=False,
        )
        futures: dict[str, Future[str]] = {}
        sender = threading.Thread(target=_paced, args=(producer, url, bodies, futures))
        try:
            sender.start()
            assert wait_for(lambda: len(futures) >= 200, timeout=30)
            proxy.add(Fault("stall", seconds=60))  # hold every new request at the door
            time.sleep(0.5)  # requests already past the door finish
            ledger.stored(drain_queue(direct, url))
            first = len(ledger.copies)
            kill_and_restart(own_server, down_seconds=1.0)
            direct.create_queue(QueueName=name)
            proxy.clear()  # the held requests go on, to the new server (some into a reset)
            proxy.add(Fault("throttle", operations=SEND, probability=0.05))
            sender.join(60)
            _settle(ledger, futures, timeout=60)
        finally:
            producer.close()
    ledger.stored(drain_queue(direct, url))
    numbers = ledger.report()
    print(f"server killed after {first} stored: {numbers}")
    assert 0 < first < len(bodies)
    assert numbers["unresolved"] == 0
    assert numbers["lost"] == 0, numbers
    assert numbers["wrong_message_id"] == 0, numbers
    assert numbers["accepted"] + numbers["failed"] == len(bodies)
    assert numbers["accepted"] >= len(bodies) * 0.95, ledger.errors


def _paced(
    producer: BatchProducer, url: str, bodies: list[str], futures: dict[str, Future[str]]
) -> None:
    for index, body in enumerate(bodies):
        futures[body] = producer.send(url, body)
        if index % 20 == 19:
            time.sleep(0.02)  # a steady stream, so the kill lands mid-run


def test_fifo_deduplication_absorbs_lost_answers(
    make_client: ClientFactory, proxy: FaultProxy, sqs_client: Any, make_queue: Any
) -> None:
    """On a FIFO queue the retry of a batch whose answer was lost carries the same
    deduplication ids: SQS drops the second copy (within its 5-minute window), order holds."""
    url = make_queue(fifo=True, ContentBasedDeduplication="true")
    proxy.add(Fault("reset_response", operations=SEND, count=3))
    producer = BatchProducer(
        make_client(endpoint_url=proxy.endpoint_url),
        default_batch_interval=0.02,
        max_retry_attempts=5,
        retry_backoff_base_seconds=0.01,
        flush_at_exit=False,
    )
    bodies = [f"f-{i:03d}" for i in range(30)]
    try:
        futures = [producer.send(url, body, group_id="g") for body in bodies]
        assert all(f.result(timeout=20) for f in futures)
    finally:
        producer.close()
    assert proxy.count("SendMessageBatch", "reset_response") == 3
    assert [m["Body"] for m in drain_queue(sqs_client, url)] == bodies


def test_close_with_a_send_in_flight_and_the_server_gone_still_resolves_every_future(
    make_client: ClientFactory, own_server: EmbeddedSQS
) -> None:
    """close() times out while a batch hangs in flight; then the server dies and the request
    fails: its messages are not put back for a retry nobody would run, their futures fail."""
    direct = make_client(endpoint_url=own_server.endpoint_url)
    url = direct.create_queue(QueueName="closing")["QueueUrl"]
    with FaultProxy(own_server.endpoint_url, seed=1) as proxy:
        producer = BatchProducer(
            make_client(endpoint_url=proxy.endpoint_url),
            default_batch_interval=0.01,
            retry_backoff_base_seconds=0.01,
            flush_at_exit=False,
        )
        assert producer.send(url, "before").result(timeout=10)
        proxy.add(Fault("stall", operations=SEND, seconds=30))
        futures = [producer.send(url, f"c-{i}") for i in range(5)]
        assert wait_for(lambda: proxy.count("SendMessageBatch", "stall") == 1, timeout=5)
        assert producer.close(timeout=0.5) is False
        assert not any(f.done() for f in futures)  # in flight: neither sent nor failed yet
        assert own_server.process is not None
        os.kill(own_server.pid, signal.SIGKILL)
        own_server.process.wait(10)
        proxy.release()  # the held request meets a dead server
        errors = [f.exception(timeout=10) for f in futures]
    assert all(isinstance(e, SendFailed) for e in errors), errors
    assert producer.get_queue_status(url)["messages_failed"] == 5
