"""A listener's worker pool: ``worker_threads`` threads running handler tasks, and their slots.

A poller reserves free workers before it receives (one per batch, or one per message), so it
never receives more than the pool can start at once; what it does not use it gives back. Each
task frees its worker's slot when it ends.

Example::

    pool = WorkerPool(4, stopping=stop_event.is_set)
    pool.start("sqsobs-orders")
    slots = pool.reserve(10)                 # waits for a free worker; 0 once stopping
    pool.submit(runner.run_batch, messages, receive)
    pool.give_back(slots - 1)
    pool.join(deadline)                      # after the pollers ended
"""

from __future__ import annotations

import logging
import queue as queue_module
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.trace import SpanContext

from sqsobs.listener._message import SqsMessage

__all__ = ["Task", "WorkerPool"]

logger = logging.getLogger(__name__)

#: A handler run: ``run(messages, receive span context)``.
Task = Callable[[Sequence[SqsMessage], SpanContext | None], None]


class WorkerPool:
    """``size`` worker threads fed by one task queue; ``stopping`` ends :meth:`reserve` waits."""

    def __init__(self, size: int, *, stopping: Callable[[], bool]) -> None:
        self._size = size
        self._stopping = stopping
        self._free = size
        self._slots = threading.Condition()
        self._tasks: queue_module.SimpleQueue[tuple[Task, Any, Any] | None] = (
            queue_module.SimpleQueue()
        )
        self._threads: list[threading.Thread] = []

    def start(self, tag: str) -> None:
        """Start the workers, named ``{tag}-worker-{n}``."""
        for index in range(self._size):
            name = f"{tag}-worker-{index}"
            worker = threading.Thread(target=self._work, name=name, daemon=True)
            worker.start()
            self._threads.append(worker)

    def reserve(self, wanted: int) -> int:
        """Wait for a free worker; take up to ``wanted`` of them (0: the listener is stopping)."""
        with self._slots:
            while self._free == 0 and not self._stopping():
                self._slots.wait()
            if self._stopping():
                return 0
            slots = min(self._free, wanted)
            self._free -= slots
            return slots

    def give_back(self, slots: int) -> None:
        """Return reserved workers that were not used."""
        if slots:
            with self._slots:
                self._free += slots
                self._slots.notify_all()

    def wake(self) -> None:
        """Wake every :meth:`reserve` wait (to see that the listener is stopping)."""
        with self._slots:
            self._slots.notify_all()

    def submit(
        self, run: Task, messages: Sequence[SqsMessage], receive: SpanContext | None
    ) -> None:
        """Queue ``run(messages, receive)`` on a worker reserved for it."""
        self._tasks.put((run, messages, receive))

    def join(self, deadline: float) -> bool:
        """Let queued tasks finish, then end the workers; False if some still ran at ``deadline``.

        Call it once nothing submits any more (the pollers ended).
        """
        for _ in self._threads:
            self._tasks.put(None)
        for worker in self._threads:
            worker.join(max(0.0, deadline - time.monotonic()))
        return not any(worker.is_alive() for worker in self._threads)

    def _work(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            run, messages, receive = task
            try:
                run(messages, receive)
            except Exception:  # a bug of ours must not kill the worker
                logger.exception("unexpected error in worker %s", threading.current_thread().name)
            finally:
                self.give_back(1)
