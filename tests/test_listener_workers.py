"""The worker pool when an exception is raised into a worker from outside, at its worst moment.

``PyThreadState_SetAsyncExc`` (a timeout library in a handler that fires late, a C extension)
lands between any two bytecodes. The worst place is inside ``with`` entry of the pool's lock:
the lock is taken, the ``with`` never entered, so nothing releases it. CI's stop 21 hung for 90
minutes on that (tests/test_delivery_listener.py::test_a_worker_thread_that_dies_anyway_is_replaced
found it by chance): every poller, worker and ``stop()`` waited for a lock the dead worker held.
Here a trace function puts the exception exactly there, every time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from sqsobs import SqsMessage
from sqsobs.listener._workers import Job, WorkerPool
from tests.helpers import wait_for

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
