"""Issue 11, dramatiq broker side: worker-side enqueues are stored before the original is acked
(item 5), delays past SQS's 15 minutes hop instead of waiting in worker memory (item 6), one
retry policy and a true ``SendFailed.attempts`` (item 7), flush timeouts against a stalled
server (item 8). Worker processes are real (tests/dramatiq_child.py), SIGKILL is real, the server
is the test server, faults come from tests/faultproxy.py.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from dramatiq.common import current_millis
from dramatiq.errors import QueueJoinTimeout
from dramatiq.middleware import CurrentMessage

from sqsobs import BufferFull, SendFailed
from sqsobs.dramatiq import BatchSQSBroker
from tests.conftest import REGION, SqsServer
from tests.faultproxy import Fault, FaultProxy
from tests.helpers import wait_for

CHILD = Path(__file__).with_name("dramatiq_child.py")
ROOT = CHILD.parent.parent

BrokerFactory = Callable[..., BatchSQSBroker]


@pytest.fixture
def make_broker(sqs_server: SqsServer, queue_name: str) -> Iterator[BrokerFactory]:
    brokers: list[BatchSQSBroker] = []

    def factory(**kwargs: Any) -> BatchSQSBroker:
        kwargs.setdefault("namespace", queue_name[:60])
        kwargs.setdefault("endpoint_url", sqs_server.endpoint_url)
        broker = BatchSQSBroker(region_name=REGION, **kwargs)
        brokers.append(broker)
        return broker

    yield factory
    for broker in brokers:
        broker.close(timeout_seconds=10)
        for queue in broker.queues.values():
            with contextlib.suppress(Exception):
                queue.delete()


@pytest.fixture
def proxy(sqs_server: SqsServer) -> Iterator[FaultProxy]:
    with FaultProxy(sqs_server.endpoint_url, seed=5) as running:
        yield running


@contextlib.contextmanager
def running_worker(broker: BatchSQSBroker, threads: int = 2) -> Iterator[dramatiq.Worker]:
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(timeout=5000)


def _entries(broker: BatchSQSBroker) -> list[dict[str, Any]]:
    """Every SendMessageBatch entry the broker's producer sends from now on."""
    entries: list[dict[str, Any]] = []
    broker.producer.client.meta.events.register(
        "provide-client-params.sqs.SendMessageBatch",
        lambda params, **_: entries.extend(params["Entries"]),
    )
    return entries


def _decoded(entry: dict[str, Any]) -> dramatiq.Message[Any]:
    return dramatiq.Message.decode(base64.b64decode(entry["MessageBody"]))


# --- item 5: worker-side enqueues are stored before the original is acked -------------------


def _run_child(sqs_server: SqsServer, mode: str, namespace: str) -> tuple[int, list[str], str]:
    environ = {**os.environ, "AWS_ENDPOINT_URL_SQS": sqs_server.endpoint_url}
    environ["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, str(CHILD), mode, namespace],
        env=environ,
        cwd=ROOT,
        text=True,
        capture_output=True,
        check=False,
        timeout=90,
    )
    return done.returncode, done.stdout.splitlines(), done.stderr


def test_item5_a_worker_killed_right_after_acking_a_retried_message_loses_no_task(
    sqs_server: SqsServer, sqs_client: Any, queue_name: str
) -> None:
    namespace = queue_name[:60]
    try:
        code, _, err = _run_child(sqs_server, "send", namespace)
        assert code == 0, err[-3000:]
        # The actor fails, Retries enqueues the copy, the original is acked, then SIGKILL.
        code, lines, err = _run_child(sqs_server, "first", namespace)
        assert code == -9, err[-3000:]
        assert lines[0] == "ran retries=0" and lines[-1] == "acked"
        at_delete = json.loads(
            next(ln for ln in lines if ln.startswith("at_delete ")).split(" ", 1)[1]
        )
        # When the original was deleted, the server already held the copy too (visible, or
        # already received by the worker's consumer).
        assert sum(at_delete.values()) == 2, at_delete
        # A second worker finds the copy: the task runs again and succeeds.
        code, lines, err = _run_child(sqs_server, "second", namespace)
        assert code == 0, err[-3000:]
        assert lines == ["ran retries=1"]
    finally:
        with contextlib.suppress(Exception):
            url = sqs_client.get_queue_url(QueueName=f"{namespace}_flaky")["QueueUrl"]
            sqs_client.delete_queue(QueueUrl=url)


def _fails_until_retried(broker: BatchSQSBroker, runs: list[int]) -> dramatiq.Actor[[], None]:
    """Actor ``copyfail``: fails on the original message, succeeds on a Retries copy."""
    broker.add_middleware(CurrentMessage())
    broker.failed_copy_visibility_seconds = 1  # stands in for 30 s so the test runs in seconds

    @dramatiq.actor(broker=broker, queue_name="copyfail", max_retries=3, min_backoff=100)
    def copyfail() -> None:
        message = CurrentMessage.get_current_message()
        assert message is not None
        runs.append(message.options.get("retries", 0))
        if runs[-1] == 0:
            raise RuntimeError("fails until retried")

    copyfail.send()
    assert broker.flush_all(timeout_seconds=10) is True
    return copyfail


def test_item5_a_copy_sqs_refused_keeps_the_original_and_producer_side_sends_stay_batched(
    make_broker: BrokerFactory, proxy: FaultProxy
) -> None:
    broker = make_broker(
        endpoint_url=proxy.endpoint_url,
        default_batch_interval=60,
        default_idle_timeout=0,
        max_retry_attempts=0,
    )
    runs: list[int] = []
    copyfail = _fails_until_retried(broker, runs)
    refused = proxy.add(Fault("error503", operations={"SendMessageBatch"}, count=1))
    with running_worker(broker):
        # The first retry copy is refused: the original must come back and run again.
        assert wait_for(lambda: 1 in runs, timeout=30)
        copyfail.send_with_options(args=(), delay=60_000)  # producer side: stays buffered
        time.sleep(0.3)
        assert broker.get_queue_status("copyfail")["buffer_size"] == 1
    assert refused.applied == 1
    assert runs == [0, 0, 1]  # original, original again (its copy was lost), the stored copy


def test_item5_an_enqueue_that_raises_on_a_worker_keeps_the_original(
    make_broker: BrokerFactory,
) -> None:
    broker = make_broker(default_batch_interval=60, default_idle_timeout=0)
    runs: list[int] = []
    _fails_until_retried(broker, runs)
    real_send = broker.producer.send
    raised: list[BaseException] = []

    def send_refusing_the_first_copy(*args: Any, **kwargs: Any) -> Any:
        if not raised:
            raised.append(BufferFull("injected: the buffer stayed full"))
            raise raised[0]
        return real_send(*args, **kwargs)

    broker.producer.send = send_refusing_the_first_copy  # type: ignore[method-assign]
    with running_worker(broker):
        assert wait_for(lambda: 1 in runs, timeout=30)
    assert raised and runs == [0, 0, 1]


# --- item 6: delays past SQS's 15 minutes hop ----------------------------------------------


def test_item6_a_long_delay_hops_until_its_eta_and_runs_once(make_broker: BrokerFactory) -> None:
    broker = make_broker(default_batch_interval=0, visibility_timeout=2)
    broker.max_sqs_delay_seconds = 1  # stands in for SQS's 900 s so the test runs in seconds
    entries = _entries(broker)
    runs: list[int] = []
    lock = threading.Lock()

    def later() -> None:
        with lock:
            runs.append(current_millis())  # the eta's clock: wall time, not a monotonic stopwatch

    decorate = dramatiq.actor(broker=broker, actor_name="later", queue_name="hop", max_retries=0)
    before = current_millis()
    message = decorate(later).send_with_options(delay=7_500)
    with running_worker(broker):
        assert wait_for(lambda: bool(runs), timeout=30)
        time.sleep(3)  # past another visibility timeout: a parked copy would run again
    assert before + 7_500 <= message.options["eta"]
    assert len(runs) == 1 and runs[0] >= message.options["eta"]
    hops = [entry for entry in entries if "eta" in _decoded(entry).options]
    assert len(hops) >= 3  # the first send and at least two hops
    assert all(entry.get("DelaySeconds", 0) <= 1 for entry in entries)
    assert {_decoded(entry).options["eta"] for entry in hops} == {message.options["eta"]}
    # With less than a second left, dramatiq holds it and enqueues it without its eta once due.
    assert len(entries) - len(hops) <= 1
    assert broker.get_queue_status("hop")["messages_sent"] == len(entries)


# --- item 7: one retry policy, true attempts ------------------------------------------------


def test_item7_the_broker_makes_one_request_per_attempt_and_reports_them(
    make_broker: BrokerFactory, proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    broker = make_broker(
        endpoint_url=proxy.endpoint_url,
        default_batch_interval=0,
        max_retry_attempts=2,
        retry_backoff_base_seconds=0.01,
    )
    proxy.add(Fault("error503", operations={"SendMessageBatch"}))
    actor = dramatiq.actor(broker=broker, actor_name="doomed", queue_name="doomed")(lambda: None)
    with caplog.at_level(logging.ERROR, logger="sqsobs.dramatiq"):
        actor.send()
        assert broker.flush_all(timeout_seconds=60) is True
    requests = proxy.count("SendMessageBatch", "error503")
    [record] = [r for r in caplog.records if "was not delivered" in r.getMessage()]
    _, retry_count, error = record.args  # type: ignore[misc]
    assert requests == 3  # 1 + max_retry_attempts, no botocore retries underneath
    assert isinstance(error, SendFailed) and error.attempts == requests and retry_count == 2


def test_item7_the_consumer_side_client_retries_a_little_the_producer_side_not_at_all(
    make_broker: BrokerFactory,
) -> None:
    broker = make_broker()
    consumer_config = broker.sqs.meta.client.meta.config
    producer_config = broker.producer.client.meta.config
    assert producer_config.retries["total_max_attempts"] == 1
    assert consumer_config.retries["total_max_attempts"] == 3
    assert consumer_config.read_timeout > 20  # longer than the longest receive long poll
    assert producer_config.read_timeout <= 10 and producer_config.connect_timeout <= 5


# --- item 8: flush timeouts against a stalled server ----------------------------------------


def test_item8_the_brokers_flush_and_join_honour_their_timeout_against_a_stalled_server(
    make_broker: BrokerFactory, proxy: FaultProxy
) -> None:
    broker = make_broker(endpoint_url=proxy.endpoint_url, default_batch_interval=60)
    actor = dramatiq.actor(broker=broker, actor_name="stuck", queue_name="stuck")(lambda: None)
    proxy.add(Fault("stall", operations={"SendMessageBatch"}, seconds=30))
    actor.send()
    try:
        for flush in (
            lambda: broker.flush_all(timeout_seconds=0.5),
            lambda: broker.force_flush_queue("stuck", timeout_seconds=0.5),
        ):
            started = time.monotonic()
            assert flush() is False
            assert time.monotonic() - started < 3
        started = time.monotonic()
        with pytest.raises(QueueJoinTimeout):
            broker.join("stuck", timeout=1)  # seconds, as dramatiq-sqs reads it
        assert time.monotonic() - started < 4
        proxy.release()
        assert broker.flush_all(timeout_seconds=20) is True
    finally:
        proxy.clear()
