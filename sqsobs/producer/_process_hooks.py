"""Process-level hooks for every producer not yet closed: exit, SIGTERM, fork.

*Exit.* One ``atexit`` hook closes (flushes) the producers with ``flush_at_exit``. Producers are
held here from construction until ``close()``, as the OpenTelemetry SDK holds its providers
(``atexit.register(shutdown)``): a producer nobody references any more still flushes at exit and
its threads stop there, instead of its buffer being lost with it.

*SIGTERM.* Python's default SIGTERM action ends the process at once, without ``atexit`` hooks,
so a plain ``python worker.py`` container would lose its buffers on every deploy. When a
producer (``flush_at_exit`` and ``install_signal_handler`` on) is made in the main thread while
SIGTERM's handler is still the default, a handler is installed that turns SIGTERM into a normal
exit with status 143 (128 + SIGTERM, what orchestrators expect from a stop). It starts closing
every producer at once in a thread of its own (``sqsobs-sigterm-flush``: the buffers go out
even while the main thread runs ``finally`` blocks or waits for non-daemon threads), then raises
``SystemExit(143)`` in the main thread; the exit hook waits for those closes, each within its
``shutdown_timeout_seconds``, so every future is resolved. The rules:

- it is installed only over the default handler, so it never has a previous handler to chain
  to; a handler the application installs later replaces it and wins (the exit hook still
  flushes on a normal exit), and ``run_listeners()`` puts it back when it returns; once the
  last producer is closed, the main thread puts the default back;
- a SIGTERM while the main thread is inside ``close()`` exits once that ``close()`` is done; a
  SIGTERM while the interpreter already exits lets the flush finish; a second SIGTERM exits at
  once (``os._exit(143)``), as the listener's second signal does.

*Fork.* One ``os.register_at_fork`` hook holds each producer's lock across ``fork()`` and gives
the child empty buffers and its own threads, so the parent's messages are never sent twice (a
producer closing or closed in the parent is closed in the child).

Example::

    track(producer, sigterm=True)   # done by BatchProducer itself
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Protocol

__all__ = ["SIGTERM_EXIT_STATUS", "Tracked", "sigterm_deferred", "track", "untrack"]

logger = logging.getLogger(__name__)

#: The exit status of a process stopped by SIGTERM through this handler (128 + 15).
SIGTERM_EXIT_STATUS = 128 + signal.SIGTERM


class Tracked(Protocol):
    """What the hooks need from a producer."""

    def _close_at_exit(self) -> None: ...

    def _before_fork(self) -> None: ...

    def _after_fork_in_parent(self) -> None: ...

    def _after_fork_in_child(self) -> None: ...


#: Every producer not yet closed, by id(), in the order they were made.
_producers: dict[int, Tracked] = {}
_installed = False
_install_lock = threading.Lock()
_held: list[Tracked] = []
#: SIGTERMs received; the interpreter is exiting; close() calls under way in the main thread.
_sigterms = 0
_exiting = False
_deferring = 0
#: The thread a SIGTERM started to close every producer.
_sigterm_flush: threading.Thread | None = None


def track(producer: Tracked, *, sigterm: bool) -> None:
    """Hold ``producer`` until :func:`untrack`; install the hooks on first use, and the
    SIGTERM handler if ``sigterm`` and the rules above allow it."""
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
        _producers[id(producer)] = producer
        if sigterm:
            _install_sigterm()


def untrack(producer: Tracked) -> None:
    """Forget a closed producer (the exit and fork hooks have nothing left to do for it)."""
    with _install_lock:
        _producers.pop(id(producer), None)
        last = not _producers
    main = threading.current_thread() is threading.main_thread()
    if last and main and signal.getsignal(signal.SIGTERM) is _on_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # nothing left to flush


def _install_sigterm() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may install handlers (and only it runs them)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _sigterms, _sigterm_flush  # noqa: PLW0603
    _sigterms += 1
    if _sigterms > 1:
        os.write(2, b"sqsobs: second SIGTERM; exiting now, buffered messages are lost\n")
        os._exit(SIGTERM_EXIT_STATUS)
    if _exiting:
        return  # the exit hook's flush is under way: let it finish
    flusher = threading.Thread(target=_close_all, name="sqsobs-sigterm-flush", daemon=True)
    try:
        flusher.start()
        _sigterm_flush = flusher
    except RuntimeError:  # no new threads now: the exit hook closes them all the same
        logger.debug("could not start the SIGTERM flush thread", exc_info=True)
    if not _deferring:  # else sigterm_deferred() exits once the close() under way is done
        raise SystemExit(SIGTERM_EXIT_STATUS)


@contextlib.contextmanager
def sigterm_deferred() -> Iterator[None]:
    """Hold the exit of a SIGTERM received in the main thread until the block (a ``close()``)
    is done, so the close is never cut short half-way."""
    global _deferring  # noqa: PLW0603
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if not _deferring and _sigterms and not _exiting:
            raise SystemExit(SIGTERM_EXIT_STATUS)


def _at_exit() -> None:
    global _exiting  # noqa: PLW0603
    _exiting = True
    _close_all()  # waits for closes a SIGTERM started, too: a second close() waits for the first
    if _sigterm_flush is not None:
        _sigterm_flush.join(1.0)


def _close_all() -> None:
    with _install_lock:
        producers = list(_producers.values())
    for producer in producers:
        try:
            producer._close_at_exit()
        except Exception:  # one producer's failure must not stop the others' flush
            logger.exception("sqsobs producer: flushing at exit failed")


def _before_fork() -> None:
    _held[:] = list(_producers.values())
    for producer in _held:
        producer._before_fork()


def _after_in_parent() -> None:
    for producer in reversed(_held):
        producer._after_fork_in_parent()
    _held.clear()


def _after_in_child() -> None:
    global _install_lock  # noqa: PLW0603 - another thread may have held it across fork()
    _install_lock = threading.Lock()
    for producer in _held:
        producer._after_fork_in_child()
    _held.clear()
