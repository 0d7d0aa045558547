"""Run a few calls at once on short-lived threads, the caller's thread taking its share.

Used for the S3 uploads of one SendMessageBatch request: at most ten, each large. Not a
``ThreadPoolExecutor``: it refuses work once the interpreter starts shutting down, and the
producer still sends its buffers from an ``atexit`` hook. A thread that cannot start leaves its
share to the caller's thread.

Example::

    run_all([lambda: upload(a), lambda: upload(b)], max_threads=8)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

__all__ = ["run_all"]

logger = logging.getLogger(__name__)


def run_all(calls: Sequence[Callable[[], None]], *, max_threads: int, name: str = "") -> None:
    """Run every call, up to ``max_threads`` at once (the caller's thread included); wait."""
    todo = list(reversed(calls))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not todo:
                    return
                call = todo.pop()
            try:
                call()
            except Exception:  # each call reports its own outcome; a bug must not stop the rest
                logger.exception("sqsobs: a parallel call failed")

    helpers: list[threading.Thread] = []
    for index in range(min(max_threads, len(calls)) - 1):
        thread = threading.Thread(target=work, name=f"{name or 'sqsobs-parallel'}-{index}")
        thread.daemon = True
        try:
            thread.start()
        except RuntimeError:  # no new threads (interpreter shutting down): the caller does it
            break
        helpers.append(thread)
    work()
    for thread in helpers:
        thread.join()
