"""The worker pool and the acker when an exception is raised into a worker from outside, at its
worst moment.

``PyThreadState_SetAsyncExc`` (a timeout library in a handler that fires late, a C extension)
lands between any two bytecodes. The worst place is inside ``with`` entry of a Condition (its
``__enter__`` is Python code): the lock is taken, the ``with`` never entered, so nothing
releases it. CI's stop 21 hung for 90 minutes on that in the pool
(tests/test_delivery_listener.py::test_a_worker_thread_that_dies_anyway_is_replaced found it by
chance): every poller, worker and ``stop()`` waited for a lock the dead worker held. Here a
trace function puts the exception exactly there, every time.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from sqsobs import SqsMessage
from sqsobs.listener._acker import Acker
from sqsobs.listener._telemetry import ListenerTelemetry
from sqsobs.listener._workers import Job, WorkerPool
from tests.helpers import wait_for
from tests.listener_support import queue_counts, send_bodies

PREFIX = "sqsobs-async-exc"


class Injector:
    """Raise ``SystemExit`` once in a pool worker, as it returns from a lock's ``__enter__``
    (the lock taken, the ``with`` not yet entered), once :attr:`armed` is set."""

    def __init__(self) -> None:
        self.armed = threading.Event()
        self.fired: list[str] = []

    def trace(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        code = frame.f_code
        if (
            event == "call"
            and code.co_name == "__enter__"
            and code.co_filename.endswith("threading.py")
            and threading.current_thread().name.startswith(f"{PREFIX}-worker-")
        ):
            return self._on_return
        return None

    def _on_return(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        if event == "return" and self.armed.is_set() and not self.fired:
            self.fired.append(threading.current_thread().name)
            raise SystemExit("raised into the worker from outside")
        return self._on_return


def _pool_with(injector: Injector, size: int) -> WorkerPool:
    pool = WorkerPool(size, stopping=lambda: False)
    threading.settrace(injector.trace)  # applies to threads started from now on
    try:
        pool.start(PREFIX)
    finally:
        threading.settrace(None)  # type: ignore[arg-type]  # the workers keep theirs
    return pool


def _within(seconds: float, call: Callable[[], object]) -> bool:
    """Run ``call`` on a daemon thread; True if it returned in time (False: it still blocks)."""
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive()


def _job(ran: list[int], number: int, then: Callable[[], None] = lambda: None) -> Job:
    def run(*_: object) -> None:
        ran.append(number)
        then()

    return Job(run, [SqsMessage(message_id=f"m{number}", receipt_handle="r", body="b")], None)


def test_a_worker_killed_holding_the_pool_lock_is_replaced_and_the_pool_runs_on() -> None:
    injector = Injector()
    pool = _pool_with(injector, size=1)
    ran: list[int] = []

    def feed(number: int, then: Callable[[], None] = lambda: None) -> None:
        slots = pool.reserve(1)
        pool.received(slots, [_job(ran, number, then)])

    # The first job arms the injector: the worker dies taking the lock to record its end.
    assert _within(5, lambda: feed(0, then=injector.armed.set))
    assert wait_for(lambda: injector.fired, timeout=5)
    # The pool is not wedged: its lock is free, the dead worker's slot is free, a new worker
    # (same name) runs every later job.
    for number in (1, 2, 3):
        assert _within(5, lambda n=number: feed(n)), f"feeding job {number} blocked"
    assert wait_for(lambda: ran == [0, 1, 2, 3], timeout=5), ran
    assert wait_for(lambda: pool.busy() == 0, timeout=5)
    assert pool.dead() == []
    assert _within(5, lambda: pool.join(time.monotonic() + 5))


def test_a_worker_killed_on_its_way_into_the_acker_leaves_the_acker_working(
    sqs_client: Any, queue_url: str
) -> None:
    """Workers queue their deletes under the acker's lock. A worker killed between taking that
    lock and entering its ``with`` (as above) would leave it held: the acker thread, every other
    worker's settle and the listener's ``stop()`` would wait for it forever."""
    send_bodies(sqs_client, queue_url, ["m0", "m1"])
    raw: list[dict[str, Any]] = []
    while len(raw) < 2:
        answer = sqs_client.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=60
        )
        raw.extend(answer.get("Messages", []))
    first, second = (SqsMessage.from_boto(m) for m in raw)
    acker = Acker(
        client=sqs_client,
        queue_url=queue_url,
        telemetry=ListenerTelemetry("async-exc", queue_url),
        linger_seconds=0.01,
    )
    acker.start()
    injector = Injector()
    injector.armed.set()

    settled, done = threading.Event(), threading.Event()

    def settle(message: SqsMessage) -> None:
        sys.settrace(injector.trace)
        with contextlib.suppress(SystemExit):  # a pool worker survives what its job raises
            acker.delete([message])
        sys.settrace(None)
        settled.set()
        done.wait(30)  # alive, as a pool worker is (a dead thread's ident can be reused)

    worker = threading.Thread(target=settle, args=(first,), name=f"{PREFIX}-worker-0")
    worker.start()
    assert settled.wait(5)
    assert _within(5, lambda: acker.delete([second])), "a second worker's delete blocked"
    assert _within(5, acker.flush), "the acker's flush blocked"
    # The way in holds the lock only inside a `with`: there was no point to raise at.
    assert injector.fired == []
    assert wait_for(lambda: queue_counts(sqs_client, queue_url) == (0, 0), timeout=5)
    assert _within(5, lambda: acker.stop(timeout_seconds=5))
    done.set()
