"""Issue 11, producer side: nothing lost on the paths real deployments take.

Each test names its item: SIGTERM on a plain script (item 1), producers nobody references
(item 2), ``send()`` waiting for room while ``close()`` begins (item 3), a failing dispatch
(item 4), ``SendFailed.attempts`` counting the HTTP requests made (item 7), and flush timeouts
against a stalled server (item 8). Processes are real (tests/producer_child.py), signals are
real, the server is the test server, faults come from tests/faultproxy.py.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from sqsobs import BatchProducer, ProducerClosed, SendFailed
from sqsobs.producer._buffers import Buffers
from sqsobs.producer._lifecycle import ProducerState
from sqsobs.producer._messages import PendingMessage
from sqsobs.producer._resolve import QueueInfo
from sqsobs.producer._settings import ProducerSettings
from sqsobs.producer._telemetry import QueueTelemetry
from sqsobs.telemetry import get_instruments
from tests.conftest import SqsServer
from tests.faultproxy import Fault, FaultProxy
from tests.helpers import drain_queue, wait_for

CHILD = Path(__file__).with_name("producer_child.py")
ROOT = CHILD.parent.parent


@pytest.fixture
def proxy(sqs_server: SqsServer) -> Iterator[FaultProxy]:
    with FaultProxy(sqs_server.endpoint_url, seed=11) as running:
        yield running


# --- child processes ------------------------------------------------------------------------


class Child:
    """A tests/producer_child.py process whose stdout lines are collected as they come."""

    def __init__(self, sqs_server: SqsServer, *args: str, **env: str) -> None:
        environ = {
            **os.environ,
            "AWS_ENDPOINT_URL_SQS": sqs_server.endpoint_url,
            "PYTHONPATH": str(ROOT),
            **env,
        }
        self.lines: list[str] = []
        self.errors: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD), *args],
            env=environ,
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in (
                (self.process.stdout, self.lines),
                (self.process.stderr, self.errors),
            )
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    @property
    def stderr(self) -> str:
        return "\n".join(self.errors)

    def numbers(self, kind: str) -> set[int]:
        return {int(line.split()[1]) for line in list(self.lines) if line.startswith(f"{kind} ")}

    def report(self) -> dict[str, Any]:
        found = [line for line in self.lines if line.startswith("report ")]
        assert found, f"no report; stderr: {self.stderr[-3000:]}"
        state: dict[str, Any] = json.loads(found[-1].split(" ", 1)[1])
        return state

    def sigterm_when(self, ready: Callable[[], bool]) -> int:
        """Send SIGTERM once ``ready()`` holds; return the exit code."""
        try:
            assert wait_for(ready, timeout=30), self.stderr[-3000:]
            self.process.send_signal(signal.SIGTERM)
        finally:
            code = self.finish()
        return code

    def finish(self, timeout: float = 60) -> int:
        try:
            self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        for reader in self._readers:
            reader.join(5)
        return self.process.returncode


def _stored(sqs_client: Any, queue_url: str) -> set[int]:
    return {int(m["Body"][1:]) for m in drain_queue(sqs_client, queue_url)}


# --- item 1: SIGTERM on a plain script ------------------------------------------------------


def test_item1_sigterm_mid_stream_flushes_every_accepted_message_and_exits_143(
    sqs_server: SqsServer, sqs_client: Any, queue_url: str
) -> None:
    child = Child(sqs_server, "stream", queue_url)
    code = child.sigterm_when(lambda: len(child.numbers("accepted")) >= 25)
    accepted, failed = child.numbers("accepted"), child.numbers("failed")
    stored = _stored(sqs_client, queue_url)
    lost = sorted(accepted - stored - failed)
    assert accepted and not lost, f"{len(lost)} of {len(accepted)} accepted messages lost: {lost}"
    assert code == 143, child.stderr[-3000:]
    assert child.report()["unresolved"] == 0
    assert child.report()["threads"] == []


def test_item1_sigterm_during_close_in_the_main_thread_exits_once_close_is_done(
    sqs_server: SqsServer, sqs_client: Any, queue_url: str
) -> None:
    child = Child(sqs_server, "sigterm_in_close", queue_url)
    code = child.sigterm_when(lambda: "closing" in child.lines)
    assert code == 143, child.stderr[-3000:]
    assert _stored(sqs_client, queue_url) == {0, 1, 2, 3, 4}  # the close was not cut short
    assert "closed" not in child.lines  # the exit came as close() returned
    assert child.report()["unresolved"] == 0


def test_item1_an_application_handler_installed_later_wins_and_the_exit_still_flushes(
    sqs_server: SqsServer, sqs_client: Any, queue_url: str
) -> None:
    child = Child(sqs_server, "stream_app_handler", queue_url)
    code = child.sigterm_when(lambda: len(child.numbers("accepted")) >= 25)
    assert code == 0, child.stderr[-3000:]  # the application's handler ended the loop
    assert child.numbers("accepted") == _stored(sqs_client, queue_url)
    assert child.report()["sigterm_handler"] == "__main__"


def test_item1_the_opt_out_leaves_sigterm_alone(
    sqs_server: SqsServer, sqs_client: Any, queue_url: str
) -> None:
    child = Child(sqs_server, "stream", queue_url, SQSOBS_INSTALL_SIGNAL_HANDLER="false")
    code = child.sigterm_when(lambda: len(child.numbers("accepted")) >= 5)
    assert code == -signal.SIGTERM  # Python's default: killed by the signal, no exit hooks
    assert not any(line.startswith("report ") for line in child.lines)


def test_item1_run_listeners_in_the_same_process_drains_then_the_exit_flushes(
    sqs_server: SqsServer, sqs_client: Any, make_queue: Any
) -> None:
    queue_url, other_url = make_queue(), make_queue("-listen")
    child = Child(sqs_server, "listeners", queue_url, other_url)
    code = child.sigterm_when(lambda: "listening" in child.lines)
    assert code == 0, child.stderr[-3000:]  # run_listeners() drained and returned
    assert _stored(sqs_client, queue_url) == {0, 1, 2, 3, 4}
    # run_listeners() put back the handler it found: the producer's.
    assert "after_listeners sqsobs.producer._process_hooks" in child.lines


# --- item 2: producers nobody references ----------------------------------------------------


def test_item2_a_function_local_producer_never_closed_delivers_everything_at_exit(
    sqs_server: SqsServer, sqs_client: Any, queue_url: str
) -> None:
    child = Child(sqs_server, "unreferenced", queue_url)
    code = child.finish()
    assert code == 0, child.stderr[-3000:]
    assert _stored(sqs_client, queue_url) == set(range(45))
    assert child.report() == {
        "unresolved": 0,
        "threads": [],  # the exit hook stopped its threads: none leaked
        "sigterm_handler": "signal",  # the default is back once the last producer closed
    }


# --- item 3: send() waiting for room races close() ------------------------------------------


def _queue_buffer(buffers: Buffers) -> Any:
    info = QueueInfo(url="http://sqs/1/q", name="q", fifo=False, max_message_bytes=1024)
    return buffers.open_queue("q", info, QueueTelemetry("q", info.url, get_instruments()))


def _message() -> PendingMessage:
    return PendingMessage({"MessageBody": "x"}, 1, Future(), None, time.monotonic())


def test_item3_a_waiter_woken_by_room_after_close_began_is_refused() -> None:
    """The seam itself: room appears and the state leaves RUNNING before the waiter runs."""
    buffers = Buffers(ProducerSettings.resolve(max_buffer_size_per_queue=1, environ={}))
    buffer = _queue_buffer(buffers)
    buffers.accept(buffer, _message(), 0)
    outcome: list[BaseException | int] = []

    def send_late() -> None:
        try:
            outcome.append(buffers.accept(buffer, _message(), 30))
        except ProducerClosed as exc:
            outcome.append(exc)

    sender = threading.Thread(target=send_late)
    sender.start()
    assert wait_for(lambda: buffer.waiters == 1)
    with buffers.lock:  # the waiter can only run once both changes are made
        buffer.unresolved -= 1  # the message in flight was delivered: there is room ...
        buffers.state = ProducerState.STOPPING  # ... and close() stopped the flusher
        buffers.room.notify_all()
    sender.join(5)
    assert len(outcome) == 1 and isinstance(outcome[0], ProducerClosed)
    assert len(buffer.pending) == 1  # nothing appended after the flusher stopped


def test_item3_send_racing_close_is_refused_or_resolved_never_stranded(
    make_client: Any, queue_url: str
) -> None:
    client = make_client()
    rng = random.Random(3)
    for _ in range(40):
        producer = BatchProducer(
            client,
            default_batch_interval=0,
            max_buffer_size_per_queue=1,
            buffer_full_timeout_seconds=10,
            flush_at_exit=False,
        )
        results: list[Future[str] | BaseException] = []

        def send(
            producer: BatchProducer = producer,
            results: list[Future[str] | BaseException] = results,
        ) -> None:
            try:
                results.append(producer.send(queue_url, "race"))
            except ProducerClosed as exc:
                results.append(exc)

        senders = [threading.Thread(target=send) for _ in range(4)]
        for thread in senders:
            thread.start()
        time.sleep(rng.random() * 0.02)
        producer.close(timeout_seconds=10)
        for thread in senders:
            thread.join(10)
        assert len(results) == 4
        for result in results:
            if isinstance(result, Future):
                assert result.done(), "a message was accepted after close() finished"
    drain_queue(client, queue_url)


# --- item 4: a failing dispatch -------------------------------------------------------------


class _PoolRaisingOnce:
    """A SendPool whose next submit() raises, as a pool out of threads or a bug would."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self.raised = threading.Event()

    def submit(self, fn: Any, *args: Any) -> None:
        if not self.raised.is_set():
            self.raised.set()
            raise RuntimeError("injected: cannot hand the batch over")
        self._pool.submit(fn, *args)

    def close(self, timeout_seconds: float | None = None) -> bool:
        result: bool = self._pool.close(timeout_seconds)
        return result


def test_item4_a_failing_dispatch_fails_its_futures_and_unblocks_the_fifo_queue(
    sqs_client: Any, make_queue: Any
) -> None:
    url = make_queue(fifo=True, ContentBasedDeduplication="true")
    failures: list[Any] = []
    producer = BatchProducer(
        sqs_client, default_batch_interval=0, on_failure=failures.append, flush_at_exit=False
    )
    pool = _PoolRaisingOnce(producer._flusher.pool)
    producer._flusher.pool = pool  # type: ignore[assignment]
    try:
        first = producer.send(url, "first", group_id="g")
        assert isinstance(first.exception(timeout=10), SendFailed)
        assert pool.raised.is_set() and [f.queue for f in failures] == [url]
        later = [producer.send(url, f"later{i}", group_id="g") for i in range(3)]
        assert [f.result(timeout=10) for f in later]  # the group is not blocked
        status = producer.get_queue_status(url)
        assert status["messages_failed"] == 1 and status["in_flight_count"] == 0
    finally:
        assert producer.close(timeout_seconds=10) is True
    assert [m["Body"] for m in drain_queue(sqs_client, url)] == ["later0", "later1", "later2"]


def test_item4_a_sender_raising_once_is_an_attempt_then_delivered(
    sqs_client: Any, queue_url: str
) -> None:
    producer = BatchProducer(
        sqs_client, default_batch_interval=0, retry_backoff_base_seconds=0, flush_at_exit=False
    )
    sender = producer._flusher.sender
    real_send = sender.send
    calls: list[int] = []

    def send_raising_once(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("injected: a bug in the send path")
        return real_send(*args)

    sender.send = send_raising_once  # type: ignore[method-assign]
    try:
        assert producer.send(queue_url, "after a bug").result(timeout=10)
        assert (
            len(calls) == 2
            and producer.get_metrics()["metrics"]["messages_retried"][queue_url] == 1
        )
    finally:
        producer.close(timeout_seconds=10)
    assert [m["Body"] for m in drain_queue(sqs_client, queue_url)] == ["after a bug"]


# --- item 7: SendFailed.attempts counts the requests made -----------------------------------


@pytest.mark.parametrize("botocore_attempts", [None, 1, 3])
def test_item7_send_failed_attempts_counts_every_http_request(
    proxy: FaultProxy,
    make_client: Any,
    queue_url: str,
    monkeypatch: pytest.MonkeyPatch,
    botocore_attempts: int | None,
) -> None:
    proxy.add(Fault("error503", operations={"SendMessageBatch"}))
    client = None  # None: the producer builds its own, with botocore's retries off
    if botocore_attempts is None:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", proxy.endpoint_url)
    else:  # a client of the application's, with or without botocore's own retries
        retries = {"total_max_attempts": botocore_attempts, "mode": "standard"}
        client = make_client(endpoint_url=proxy.endpoint_url, retries=retries)
    producer = BatchProducer(
        client,
        default_batch_interval=0,
        max_retry_attempts=2,
        retry_backoff_base_seconds=0.01,
        flush_at_exit=False,
    )
    error = producer.send(queue_url, "never stored").exception(timeout=60)
    producer.close(timeout_seconds=10)
    seen = proxy.count("SendMessageBatch", "error503")
    assert seen == 3 * (botocore_attempts or 1)  # 1 + max_retry_attempts calls
    assert isinstance(error, SendFailed) and error.attempts == seen


# --- item 8: flush timeouts against a stalled server ----------------------------------------


def test_item8_flush_methods_honour_their_timeout_against_a_stalled_server(
    proxy: FaultProxy, make_client: Any, queue_url: str
) -> None:
    client = make_client(endpoint_url=proxy.endpoint_url, read_timeout=30)
    producer = BatchProducer(client, default_batch_interval=60, flush_at_exit=False)
    proxy.add(Fault("stall", operations={"SendMessageBatch"}, seconds=20))
    future = producer.send(queue_url, "stalled")
    try:
        for flush in (
            lambda: producer.flush(timeout_seconds=0.5),
            lambda: producer.flush_all(timeout_seconds=0.5),
            lambda: producer.force_flush_queue(queue_url, timeout_seconds=0.5),
        ):
            started = time.monotonic()
            assert flush() is False
            assert time.monotonic() - started < 3
        proxy.release()
        assert producer.flush_all(timeout_seconds=20) is True
        assert future.result(timeout=1)
    finally:
        proxy.clear()
        producer.close(timeout_seconds=10)
