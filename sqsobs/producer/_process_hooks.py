"""Process-level hooks for every live producer: flush at interpreter exit, reset after fork.

One ``atexit`` hook closes (flushes) the producers that asked for it, so an application that
forgets ``close()`` loses nothing on a normal exit. One ``os.register_at_fork`` hook holds each
producer's lock across ``fork()`` and gives the child empty buffers and its own threads, so the
parent's messages are never sent twice (a producer closing or closed in the parent is closed in
the child).

Example::

    track(producer)   # done by BatchProducer itself
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from typing import Protocol

__all__ = ["Tracked", "track"]

logger = logging.getLogger(__name__)


class Tracked(Protocol):
    """What the hooks need from a producer."""

    def _close_at_exit(self) -> None: ...

    def _before_fork(self) -> None: ...

    def _after_fork_in_parent(self) -> None: ...

    def _after_fork_in_child(self) -> None: ...


_producers: weakref.WeakSet[Tracked] = weakref.WeakSet()
_installed = False
_install_lock = threading.Lock()
_held: list[Tracked] = []


def track(producer: Tracked) -> None:
    """Include ``producer`` in the exit and fork hooks (installed on first use)."""
    global _installed  # noqa: PLW0603 - the hooks are process-wide by nature
    with _install_lock:
        if not _installed:
            atexit.register(_at_exit)
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(
                    before=_before_fork,
                    after_in_parent=_after_in_parent,
                    after_in_child=_after_in_child,
                )
            _installed = True
        _producers.add(producer)


def _at_exit() -> None:
    for producer in list(_producers):
        try:
            producer._close_at_exit()
        except Exception:  # one producer's failure must not stop the others' flush
            logger.exception("sqsobs producer: flushing at exit failed")


def _before_fork() -> None:
    _held[:] = list(_producers)
    for producer in _held:
        producer._before_fork()


def _after_in_parent() -> None:
    for producer in reversed(_held):
        producer._after_fork_in_parent()
    _held.clear()


def _after_in_child() -> None:
    for producer in _held:
        producer._after_fork_in_child()
    _held.clear()
