"""Run a command with a time limit; on a hang, say where it hangs, then kill it.

Usage: ``python .ci/bounded.py SECONDS -- COMMAND ...``

The command runs in a process group of its own with ``SQSOBS_TEST_WATCH_DIR`` set, so every
pytest process in it (``tests/watchdog.py``) records its current test and dumps its threads'
stacks on ``SIGUSR1``. Past the limit this prints each process's current test and the stack
frames of the project's own code (tests and sqsobs), kills the group and exits 124. Output is
kept short: CI shows only part of a long log. Standard library only: it runs before and after
any virtual environment.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Frames worth printing: the project's own code (a clone's tests and sqsobs packages).
_PROJECT = ("/tests/", "/sqsobs/")
_MAX_LINES_PER_PROCESS = 40


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    limit_seconds = float(argv[0])
    # As from a terminal, however CI was started: a script's `&` job passes SIGINT down ignored
    # (children inherit SIG_IGN, not handlers), and tests send SIGINT to their children.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with tempfile.TemporaryDirectory(prefix="sqsobs-watch-") as directory:
        watch_dir = Path(directory)
        env = {**os.environ, "SQSOBS_TEST_WATCH_DIR": directory}
        process = subprocess.Popen(argv[2:], env=env, start_new_session=True)
        try:
            return process.wait(timeout=limit_seconds)
        except subprocess.TimeoutExpired:
            _report_hang(process, watch_dir, limit_seconds)
            return 124
        except KeyboardInterrupt:
            _kill(process)
            raise


def _report_hang(process: subprocess.Popen[bytes], watch_dir: Path, limit_seconds: float) -> None:
    print(f"\n!! {' '.join(process.args)} still running after {limit_seconds:.0f} s", flush=True)  # type: ignore[arg-type]
    for current in sorted(watch_dir.glob("*.current")):
        print(f"!! {current.stem}: {current.read_text().strip()}", flush=True)
    _signal_group(process, signal.SIGUSR1)
    time.sleep(3)
    for stacks in sorted(watch_dir.glob("*.stacks")):
        lines = _project_frames(stacks.read_text(errors="replace"))
        if lines:
            print(f"!! stacks of {stacks.stem} (threads in project code, project frames only):")
            print("\n".join(f"   {line}" for line in lines[:_MAX_LINES_PER_PROCESS]), flush=True)
    _kill(process)


def _project_frames(dump: str) -> list[str]:
    """Each thread of a faulthandler dump that is in project code: its header and those frames."""
    kept: list[str] = []
    header, frames = "", list[str]()
    for line in [*dump.splitlines(), ""]:
        if not line.startswith(" "):  # a thread's header, or the blank line that ends a dump
            if frames:
                kept += [header, *frames]
            header, frames = line.rstrip(), []
        elif any(mark in line for mark in _PROJECT):
            frames.append(line.rstrip())
    return kept


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _kill(process: subprocess.Popen[bytes]) -> None:
    _signal_group(process, signal.SIGKILL)
    process.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
