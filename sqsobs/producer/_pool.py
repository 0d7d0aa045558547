"""A small bounded pool of daemon threads for SendMessageBatch calls.

Not ``concurrent.futures.ThreadPoolExecutor``: that one refuses work once the interpreter starts
shutting down, and the producer must still send its buffers from an ``atexit`` hook.

Example::

    pool = SendPool(max_workers=4, name="sqsobs-producer-send")
    pool.submit(print, "hello")
    pool.close(timeout_seconds=1.0)
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["SendPool"]

logger = logging.getLogger(__name__)

_Task = tuple[Callable[..., Any], tuple[Any, ...]] | None


class SendPool:
    """Up to ``max_workers`` daemon threads, started on demand, running submitted calls."""

    def __init__(self, *, max_workers: int, name: str) -> None:
        self._max_workers = max_workers
        self._name = name
        self._tasks: queue.SimpleQueue[_Task] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on a pool thread (a new one if none is idle and there is room)."""
        with self._lock:
            if self._idle == 0 and len(self._threads) < self._max_workers:
                thread = threading.Thread(
                    target=self._run, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                try:
                    thread.start()
                except RuntimeError:  # no new threads (interpreter shutting down)
                    inline = not self._threads
                else:
                    self._threads.append(thread)
                    inline = False
            else:
                inline = False
                if self._idle > 0:
                    self._idle -= 1
        if inline:
            # Nobody else could run it: better late in this thread than never.
            fn(*args)
            return
        self._tasks.put((fn, args))

    def _run(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            fn, args = task
            try:
                fn(*args)
            except Exception:  # a task bug must not kill the pool thread
                logger.exception("sqsobs producer task failed")
            with self._lock:
                self._idle += 1

    def close(self, timeout_seconds: float | None = None) -> bool:
        """Let queued tasks finish, then stop every thread, waiting up to ``timeout_seconds``.

        Returns True if every thread stopped in time.
        """
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._tasks.put(None)
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        for thread in threads:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            thread.join(remaining)
        return not any(thread.is_alive() for thread in threads)
