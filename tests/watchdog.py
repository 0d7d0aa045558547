"""A pytest plugin that lets ``.ci/bounded.py`` say where a hung run hangs.

Active only when ``SQSOBS_TEST_WATCH_DIR`` names a directory (``.ci/bounded.py`` sets it). Each
pytest process (the xdist controller and every worker) then

- writes the test it is in to ``<dir>/<name>.current`` (``idle`` between tests), so a run that
  never ends still names its test;
- dumps every thread's stack to ``<dir>/<name>.stacks`` on ``SIGUSR1``
  (:func:`faulthandler.register`), which the runner sends before it kills the run.

``pytest-timeout`` fails a test that runs long, but a hang it cannot interrupt (a teardown after
its one alarm, a worker that never exits) otherwise ends only at CI's own limit, with no word of
where: CI round 2's stop 21 did.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import time
from pathlib import Path
from typing import IO

import pytest

WATCH_DIR_ENV = "SQSOBS_TEST_WATCH_DIR"

_state: dict[str, Path | IO[str]] = {}


def _name(config: pytest.Config) -> str:
    worker = getattr(config, "workerinput", {}).get("workerid", "controller")
    return f"{worker}-{os.getpid()}"


def pytest_configure(config: pytest.Config) -> None:
    directory = os.environ.get(WATCH_DIR_ENV)
    if not directory:
        return
    base = Path(directory) / _name(config)
    stacks = open(f"{base}.stacks", "w")  # noqa: SIM115 - open for the life of the process
    faulthandler.register(signal.SIGUSR1, file=stacks, all_threads=True)
    _state["current"] = Path(f"{base}.current")
    _state["stacks"] = stacks
    _write_current("idle (before the first test)")


def _write_current(text: str) -> None:
    current = _state.get("current")
    if isinstance(current, Path):
        current.write_text(f"{time.strftime('%H:%M:%S')} {text}\n")


def pytest_runtest_logstart(nodeid: str) -> None:
    _write_current(nodeid)


def pytest_runtest_logfinish(nodeid: str) -> None:
    _write_current(f"idle (after {nodeid})")


def pytest_unconfigure(config: pytest.Config) -> None:
    _write_current("session over")
