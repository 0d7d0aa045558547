"""Run one contender client in its own process and measure it (phase CPU, peak RSS via wait4)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.server_process import REPO_ROOT


@dataclass(frozen=True)
class Contender:
    """One thing under test: a client module, its config and the interpreter that runs it."""

    name: str
    module: str
    config: dict[str, Any] = field(default_factory=dict)
    #: Seed environment name (benchmarks.venvs.SEEDS) or None for this interpreter.
    seed: str | None = None
    #: Fraction of the scenario's message count this contender gets (a slow contender's
    #: per-message figures do not need the full count, and the suite must stay under 10 min).
    share: float = 1.0


@dataclass
class ClientRun:
    """What one client process reported, plus what the OS measured of it."""

    result: dict[str, Any]
    returncode: int
    #: Peak resident set size of the client process, KiB (ru_maxrss from wait4).
    peak_rss_kib: int
    #: User+sys CPU of the whole client process (imports and setup included), seconds.
    process_cpu_seconds: float
    log: str
    #: Log lines worth keeping with the figures (warnings, errors, dropped spans), at most 5.
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """The client exited 0 and wrote its result."""
        return self.returncode == 0 and bool(self.result)


def run_client(
    python: Path,
    module: str,
    config: dict[str, Any],
    timeout_seconds: float,
    prefix: Sequence[str] = (),
    *,
    env: dict[str, str] | None = None,
) -> ClientRun:
    """Run ``python -m module <config json>`` and wait for it with wait4 (its own rusage).

    ``prefix`` wraps the command (a profiler: ``py-spy record ... --``); its figures then
    include the wrapper. ``env`` is added to the client's environment.
    """
    with tempfile.TemporaryDirectory(prefix="sqsobs-bench-") as tmp:
        result_path = Path(tmp) / "result.json"
        log_path = Path(tmp) / "client.log"
        config = dict(config, result_path=str(result_path), timeout_seconds=timeout_seconds)
        env = dict(os.environ, **(env or {}), PYTHONPATH=str(REPO_ROOT), PYTHONUNBUFFERED="1")
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [*prefix, str(python), "-m", module, json.dumps(config)],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            watchdog = threading.Timer(timeout_seconds + 30, _kill, args=(process.pid,))
            watchdog.start()
            try:
                _, status, usage = os.wait4(process.pid, 0)
            finally:
                watchdog.cancel()
            process.returncode = os.waitstatus_to_exitcode(status)
        result = json.loads(result_path.read_text()) if result_path.exists() else {}
        text = log_path.read_text(errors="replace")
    return ClientRun(
        result=result,
        returncode=process.returncode,
        peak_rss_kib=usage.ru_maxrss,
        process_cpu_seconds=usage.ru_utime + usage.ru_stime,
        log=text[-4000:],
        notes=[line for line in text.splitlines() if _NOTABLE.search(line)][:5],
    )


#: Client log lines worth keeping (e.g. the OpenTelemetry SDK dropping spans).
_NOTABLE = re.compile(r"\bWARNING\b|\bERROR\b|Queue full|Traceback")


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
