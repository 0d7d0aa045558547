"""``.ci/bounded.py`` with ``tests/watchdog.py``: a hung pytest run is named, dumped and killed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HANGING_TEST = """
import threading
import time


def test_passes():
    pass


def test_hangs_where_no_alarm_reaches():
    threading.Event().wait(120)
"""


def _pytest(tmp_path: Path, ini: str, test_file: Path, *args: str) -> list[str]:
    """A pytest command line for ``test_file`` alone, with ``tests.watchdog`` and ``ini``."""
    (tmp_path / "pytest.ini").write_text(f"[pytest]\n{ini}")
    command = [sys.executable, "-m", "pytest", "-c", str(tmp_path / "pytest.ini")]
    return [*command, "-p", "tests.watchdog", "-p", "no:cacheprovider", *args, str(test_file)]


def _run(command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, **env},
    )  # fmt: skip


def _run_bounded(
    tmp_path: Path, limit_seconds: str, *pytest_args: str
) -> subprocess.CompletedProcess[str]:
    test_file = tmp_path / "tests" / "test_hang.py"
    test_file.parent.mkdir()
    test_file.write_text(HANGING_TEST)
    bounded = [sys.executable, str(ROOT / ".ci" / "bounded.py"), limit_seconds, "--"]
    return _run([*bounded, *_pytest(tmp_path, "", test_file, "-p", "no:timeout", *pytest_args)])


def test_a_hung_xdist_worker_is_named_dumped_and_killed(tmp_path: Path) -> None:
    result = _run_bounded(tmp_path, "12", "-n", "1")
    assert result.returncode == 124, result.stdout + result.stderr
    out = result.stdout
    assert "still running after 12 s" in out
    # The worker's current test, then its stack down to the line that waits.
    assert "gw0-" in out and "test_hang.py::test_hangs_where_no_alarm_reaches" in out
    assert "stacks of gw0-" in out
    assert "in test_hangs_where_no_alarm_reaches" in out


def test_a_run_within_its_limit_keeps_its_exit_status(tmp_path: Path) -> None:
    result = _run_bounded(tmp_path, "60", "-k", "passes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "still running" not in result.stdout


BLOCKED_CLEANUP = """
import threading


def test_blocks_again_in_its_cleanup():
    try:
        threading.Event().wait(120)
    finally:
        threading.Event().wait(120)  # the one alarm was spent above


def test_after():
    pass
"""


def test_a_cleanup_that_blocks_after_the_alarm_gets_it_again(tmp_path: Path) -> None:
    test_file = tmp_path / "test_cleanup.py"
    test_file.write_text(BLOCKED_CLEANUP)
    result = _run(_pytest(tmp_path, "timeout = 1\n", test_file), SQSOBS_TEST_REALARM_SECONDS="1")
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "1 failed, 1 passed" in out
    assert "test_blocks_again_in_its_cleanup" in out and "Failed: Timeout (>1.0s)" in out
