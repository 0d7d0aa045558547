"""A pytest plugin for tests that hang where ``pytest-timeout``'s one alarm cannot end them.

``pytest-timeout`` (signal method) raises once in the main thread when a test runs past its
timeout. A cleanup that then blocks on the same thing (a ``with`` block's ``__exit__``, a
fixture's teardown) hangs for good: CI's stop 21 ran into its 90-minute limit that way, with no
word of where (the listener's worker-pool lock, tests/test_listener_workers.py). Two guards:

- **The alarm again.** While a test is more than :data:`REALARM_SECONDS` past its timeout, the
  alarm is raised again every :data:`REALARM_SECONDS` (``SIGALRM`` to the main thread, which
  ``pytest-timeout``'s handler turns into the test's failure, stacks included), so the test
  fails and the run goes on.
- **Where a run hangs.** When ``SQSOBS_TEST_WATCH_DIR`` names a directory (``.ci/bounded.py``
  sets it), each pytest process (the xdist controller and every worker) writes the test it is
  in to ``<dir>/<name>.current`` and dumps every thread's stack to ``<dir>/<name>.stacks`` on
  ``SIGUSR1`` (:func:`faulthandler.register`), which the runner sends before it kills a run
  that outlived its limit.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

WATCH_DIR_ENV = "SQSOBS_TEST_WATCH_DIR"
#: Seconds past a test's timeout before the alarm is raised again, and between two alarms.
REALARM_SECONDS = float(os.environ.get("SQSOBS_TEST_REALARM_SECONDS", "30"))

#: This process's ``.current`` file, once SQSOBS_TEST_WATCH_DIR names a directory.
_current: list[Path] = []


def _name(config: pytest.Config) -> str:
    worker = getattr(config, "workerinput", {}).get("workerid", "controller")
    return f"{worker}-{os.getpid()}"


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(signal, "pthread_kill"):
        config.pluginmanager.register(_Realarm(), "sqsobs-realarm")
    directory = os.environ.get(WATCH_DIR_ENV)
    if not directory:
        return
    base = Path(directory) / _name(config)
    # faulthandler keeps the file open (it holds a reference) for the life of the process.
    stacks = open(f"{base}.stacks", "w")  # noqa: SIM115
    faulthandler.register(signal.SIGUSR1, file=stacks, all_threads=True)
    _current.append(Path(f"{base}.current"))
    _write_current("idle (before the first test)")


def _write_current(text: str) -> None:
    for current in _current:
        current.write_text(f"{time.strftime('%H:%M:%S')} {text}\n")


def pytest_runtest_logstart(nodeid: str) -> None:
    _write_current(nodeid)


def pytest_runtest_logfinish(nodeid: str) -> None:
    _write_current(f"idle (after {nodeid})")


def pytest_unconfigure(config: pytest.Config) -> None:
    _write_current("session over")


class _Realarm:
    """Raise ``pytest-timeout``'s alarm again while a test overstays it (see the module doc).

    It watches through ``pytest-timeout``'s own hooks, returning None so that its timer is set
    and cancelled as always. The lock keeps a late alarm from reaching a process whose handler
    was already put back to the default (which would kill it).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deadline: float | None = None
        self._thread: threading.Thread | None = None

    @pytest.hookimpl(optionalhook=True)
    def pytest_timeout_set_timer(self, item: pytest.Item, settings: Any) -> None:
        in_main = threading.current_thread() is threading.main_thread()
        if settings.method != "signal" or not in_main or not settings.timeout:
            return
        with self._lock:
            self._deadline = time.monotonic() + settings.timeout + REALARM_SECONDS
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="sqsobs-realarm", daemon=True)
            self._thread.start()

    @pytest.hookimpl(optionalhook=True)
    def pytest_timeout_cancel_timer(self, item: pytest.Item) -> None:
        while True:
            try:
                with self._lock:
                    self._deadline = None
                return
            except pytest.fail.Exception:
                pass  # an alarm sent as the test ended interrupted this wait: the test is over

    def _watch(self) -> None:
        main = threading.main_thread()
        while main.is_alive():
            time.sleep(min(1.0, REALARM_SECONDS))
            with self._lock:
                if self._deadline is None or time.monotonic() < self._deadline:
                    continue
                if not callable(signal.getsignal(signal.SIGALRM)):
                    continue
                self._deadline = time.monotonic() + REALARM_SECONDS
                assert main.ident is not None
                signal.pthread_kill(main.ident, signal.SIGALRM)
