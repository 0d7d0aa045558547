"""A listener's worker pool: ``worker_threads`` threads, their slots and the prefetch buffer.

A poller reserves slots before it receives (one per batch, or one per message) and hands what it
received back as jobs; each job takes one slot until its handler returns, and what the receive
did not use is given back. The slots are the workers plus, in per-message mode, the prefetch
buffer (:mod:`sqsobs.listener._prefetch`): jobs no worker could start yet wait there, in order.
A receive waits until it can ask for a full batch, unless a worker would otherwise sit idle (it
is free, nothing waits for it and no other receive is on its way).

On shutdown :meth:`WorkerPool.take_unstarted` empties the buffer (the caller releases those
messages at once). :meth:`WorkerPool.capacity` reads busy workers, slots, waiting messages and
the utilisation (:mod:`sqsobs.listener._capacity`); ``on_start`` is called (on the worker) before
each handler run (the ECS task protection wakes on it). A worker survives anything its job
raises; a worker thread that dies anyway (an exception raised into it from outside) is logged and
replaced.

Example::

    pool = WorkerPool(4, stopping=stop_event.is_set, prefetch=bound)
    pool.start("sqsobs-orders")
    slots = pool.reserve(10)                       # 0 once stopping
    pool.received(slots, [Job(runner.run_messages, [message], receive)])
    pool.take_unstarted()                          # at shutdown: jobs no worker started
    pool.join(deadline)                            # after the pollers ended
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import NamedTuple

from opentelemetry.trace import SpanContext

from sqsobs.listener._capacity import BusyTime, Capacity
from sqsobs.listener._message import SqsMessage
from sqsobs.listener._prefetch import PrefetchBound

__all__ = ["Job", "Task", "WorkerPool"]

logger = logging.getLogger(__name__)

#: A handler run: ``run(messages, receive span context)``.
Task = Callable[[Sequence[SqsMessage], SpanContext | None], None]


class Job(NamedTuple):
    """One handler run waiting for (or given to) a worker."""

    run: Task
    messages: Sequence[SqsMessage]
    receive: SpanContext | None


class WorkerPool:
    """``size`` worker threads fed in order; ``stopping`` ends :meth:`reserve` waits."""

    def __init__(
        self,
        size: int,
        *,
        stopping: Callable[[], bool],
        prefetch: PrefetchBound | None = None,
        on_start: Callable[[], None] | None = None,
    ) -> None:
        self._size = size
        self._stopping = stopping
        self._prefetch = prefetch
        self._on_start = on_start
        self._busy = BusyTime(size)
        # One lock, two wait queues: a receive's jobs wake only as many workers as there are
        # jobs, and a finished handler wakes only the pollers. One condition for both woke
        # every thread on every change (the GIL held ~50 us per message in Condition.notify).
        # An RLock, not a Lock, for a worker killed by an exception raised into it from outside
        # (PyThreadState_SetAsyncExc), which can land between taking the lock and entering its
        # `with`: only the owner can release an RLock, so the dying worker can let go of its
        # hold (_release_held) and no other thread's hold is released in its stead; and the
        # conditions re-take an RLock in one C call, so no wait() ends without it.
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)  # pollers wait here for free slots
        self._job_ready = threading.Condition(self._lock)  # workers wait here for jobs
        self._queued: deque[Job] = deque()
        self._running: set[int] = set()  # the workers running a job, by thread ident
        self._reserved = 0  # slots held by receives on their way
        self._receives = 0  # receives on their way
        self._closed = False
        self._tag = "sqsobs"
        self._threads: list[threading.Thread] = []

    def start(self, tag: str) -> None:
        """Start the workers, named ``{tag}-worker-{n}``."""
        self._tag = tag
        with self._cond:
            for index in range(self._size):
                self._threads.append(self._spawn(index))

    def _spawn(self, index: int) -> threading.Thread:
        worker = threading.Thread(
            target=self._work, name=f"{self._tag}-worker-{index}", daemon=True
        )
        worker.start()
        return worker

    # --- receiving ------------------------------------------------------------------------
    def reserve(self, wanted: int) -> int:
        """Wait until a receive is worth making; reserve up to ``wanted`` slots (0: stopping)."""
        with self._cond:
            while not self._stopping():
                free = self._free()
                if free > 0 and (free >= min(wanted, self._capacity()) or self._starving()):
                    taken = min(free, wanted)
                    self._reserved += taken
                    self._receives += 1
                    return taken
                self._cond.wait()
            return 0

    def received(self, slots: int, jobs: Sequence[Job]) -> None:
        """The receive that reserved ``slots`` ended: queue ``jobs`` (one slot each)."""
        with self._cond:
            self._reserved -= slots
            self._receives -= 1
            self._queued.extend(jobs)
            self._job_ready.notify(len(jobs))
            self._cond.notify_all()

    def take_unstarted(self) -> list[Job]:
        """Remove and return every job no worker has started (for release at shutdown)."""
        with self._cond:
            jobs = list(self._queued)
            self._queued.clear()
            self._cond.notify_all()
            return jobs

    def wake(self) -> None:
        """Wake every waiting poller and worker (to see that the listener is stopping)."""
        with self._cond:
            self._cond.notify_all()
            self._job_ready.notify_all()

    def prefetched(self) -> int:
        """Jobs waiting for a worker."""
        with self._cond:
            return len(self._queued)

    def busy(self) -> int:
        """Workers running a handler now."""
        with self._cond:
            return len(self._running)

    def capacity(self) -> Capacity:
        """Busy workers, slots, messages waiting for a worker and the utilisation, now."""
        with self._cond:
            waiting = sum(len(job.messages) for job in self._queued)
            return Capacity(len(self._running), self._size, waiting, self._busy.utilization())

    def _capacity(self) -> int:
        return self._size + (self._prefetch.limit() if self._prefetch is not None else 0)

    def _free(self) -> int:
        return self._capacity() - len(self._running) - len(self._queued) - self._reserved

    def _starving(self) -> bool:
        """A worker is free, nothing waits for it and no receive is on its way."""
        return not self._queued and len(self._running) < self._size and self._receives == 0

    # --- workers --------------------------------------------------------------------------
    def join(self, deadline: float) -> bool:
        """End the workers once their jobs are done; False if some still ran at ``deadline``.

        Call it once nothing is received any more (the listener is stopping).
        """
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            self._job_ready.notify_all()
            threads = list(self._threads)
        for worker in threads:
            worker.join(max(0.0, deadline - time.monotonic()))
        return not any(worker.is_alive() for worker in threads)

    def dead(self) -> list[str]:
        """Names of worker threads that died and were not replaced."""
        with self._cond:
            return [t.name for t in self._threads if t.ident is not None and not t.is_alive()]

    def _work(self) -> None:
        try:
            self._serve()
        except BaseException as error:  # raised into this thread from outside: replace it
            _release_held(self._lock)
            self._replace(threading.current_thread(), error)

    def _serve(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            if self._on_start is not None:
                self._notify_start()
            started = time.perf_counter()
            try:
                job.run(job.messages, job.receive)
            except BaseException:  # a bug of ours, or a hook's sys.exit(): the worker goes on
                logger.exception("unexpected error in worker %s", threading.current_thread().name)
            finally:
                self._finished(time.perf_counter() - started)

    def _notify_start(self) -> None:
        assert self._on_start is not None
        try:
            self._on_start()
        except Exception:  # a notification never costs a message its handler
            logger.exception("on_start hook failed in %s", threading.current_thread().name)

    def _next(self) -> Job | None:
        with self._cond:
            while not self._queued:
                if self._closed:
                    return None
                self._job_ready.wait()
            self._running.add(threading.get_ident())
            self._busy.change(len(self._running))
            return self._queued.popleft()

    def _finished(self, seconds: float) -> None:
        with self._cond:
            self._uncount(threading.get_ident())
            if self._prefetch is not None:
                self._prefetch.observe(seconds)

    def _uncount(self, ident: int | None) -> None:
        """A worker is no longer running a job (call with the lock held)."""
        if ident in self._running:
            self._running.discard(ident)
            self._busy.change(len(self._running))
            self._cond.notify_all()

    def _replace(self, dead: threading.Thread, error: BaseException) -> None:
        logger.error("worker %s died (%s); starting a new one", dead.name, type(error).__qualname__)
        with self._cond:
            self._uncount(dead.ident)  # its job ended with it: the slot is free again
            if self._closed or dead not in self._threads:
                return
            index = self._threads.index(dead)
            self._threads[index] = self._spawn(index)


def _release_held(lock: threading.RLock) -> None:
    """Give up every hold the calling thread has on ``lock`` (none: nothing happens)."""
    while True:
        try:
            lock.release()
        except RuntimeError:  # not held by this thread (any more)
            return
