"""Three listener processes on one queue (real server): they share the work, handle every message
once, and when one gets SIGTERM mid-stream the others take its unstarted messages at once.

Each process is tests/multi_listener_app.py under ``run_listeners()`` with its default clients,
logging what it received and handled. Messages are sent while the processes run, as a producer
would (the queue stays short, as moto's receive costs grow with its length).
``SQSOBS_MULTI_MESSAGES`` (default 3,000) sets the size of the first phase; the second sends a
quarter as many slower messages and stops one process in the middle of them. The slow handlers
make the consumers the bottleneck in the second phase, so the queue holds a backlog and the
stopped process has prefetched messages waiting when SIGTERM comes (with faster handlers a loaded
machine's producer fell behind and the buffer was empty). The run is shorter than the visibility
timeout, so the documented bound on duplicates (a message comes back only after its visibility
timeout) allows none.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers import wait_for
from tests.listener_support import queue_counts, send_bodies

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = int(os.environ.get("SQSOBS_MULTI_MESSAGES", "3000"))
PROCESSES = 3
VISIBILITY_SECONDS = 300  # longer than any run: a duplicate would be a bug
SHUTDOWN_SECONDS = 10
#: Phase 2 handler time: 3 processes x 4 workers handle ~240 slow messages/s, well under what the
#: producer sends even on a loaded machine (at 0.02 s it was not: CI saw an empty prefetch buffer).
SLOW_SECONDS = 0.05
#: "Within about a second": how long after SIGTERM the last of the stopped process's unstarted
#: messages may start in another process (measured ~0.1-0.5 s; a loaded machine gets slack).
TAKEOVER_SECONDS = 2.0


@dataclass(frozen=True)
class Event:
    kind: str  # recv, start, done
    process: int
    at: float  # time.time()
    body: str


def read_events(logs: list[Path]) -> list[Event]:
    found = []
    for index, log in enumerate(logs):
        if not log.exists():
            continue
        for line in log.read_text(encoding="utf-8").splitlines():
            parts = line.split(" ", 3)
            if len(parts) == 4:  # a line being written is skipped until complete
                found.append(Event(parts[0], index, float(parts[2]), parts[3]))
    return found


def bodies(events: list[Event], kind: str, prefix: str = "") -> set[str]:
    """The bodies of ``kind`` events whose body starts with ``prefix``."""
    return {e.body for e in events if e.kind == kind and e.body.startswith(prefix)}


def handled(logs: list[Path], prefix: str) -> set[str]:
    return bodies(read_events(logs), "done", prefix)


def start(sqs_server: Any, queue_url: str, log: Path, port: int) -> subprocess.Popen[str]:
    environ = {
        **os.environ,
        "QUEUE_URL": queue_url,
        "AWS_ENDPOINT_URL_SQS": sqs_server.endpoint_url,
        "WORKER_THREADS": "4",
        "WAIT_TIME": "1",
        "IDLE_SLEEP_MAX": "0",
        "VISIBILITY_SECS": str(VISIBILITY_SECONDS),
        "SHUTDOWN_TIMEOUT": str(SHUTDOWN_SECONDS),
        "MULTI_LOG": str(log),
        "MULTI_SLOW_SECONDS": str(SLOW_SECONDS),
        "MULTI_HEALTH_PORT": str(port),
        "LOG_USE_COLOR": "0",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.multi_listener_app"],
        env=environ,
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def ready(port: int) -> bool:
    with (
        contextlib.suppress(OSError),
        urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as answer,
    ):
        return bool(answer.status == 200)
    return False


@contextlib.contextmanager
def streaming(client: Any, queue_url: str, bodies: list[str]) -> Iterator[None]:
    """Send ``bodies`` in batches of 10 from two threads while the block runs."""
    chunks = [bodies[i : i + 10] for i in range(0, len(bodies), 10)]
    pool = ThreadPoolExecutor(2)
    sent = threading.Thread(
        target=lambda: list(pool.map(lambda c: send_bodies(client, queue_url, c), chunks))
    )
    sent.start()
    try:
        yield
    finally:
        sent.join(120)
        pool.shutdown()


def stop(process: subprocess.Popen[str]) -> tuple[int, str, str, float]:
    """SIGTERM; (exit code, stdout, stderr, seconds to exit)."""
    begun = time.monotonic()
    os.kill(process.pid, signal.SIGTERM)
    out, err = process.communicate(timeout=SHUTDOWN_SECONDS + 15)
    return process.returncode, out, err, time.monotonic() - begun


def test_three_listener_processes_share_a_queue_and_one_leaves_mid_stream(
    sqs_server: Any, sqs_client: Any, queue_url: str, tmp_path: Path
) -> None:
    from sqsobs.testing import free_port

    began = time.monotonic()
    fast = [f"fast-{i}" for i in range(MESSAGES)]
    slow = [f"slow-{i}" for i in range(MESSAGES // 4)]
    logs = [tmp_path / f"listener-{i}.log" for i in range(PROCESSES)]
    ports = [free_port() for _ in logs]
    processes = [
        start(sqs_server, queue_url, log, port) for log, port in zip(logs, ports, strict=True)
    ]
    try:
        assert wait_for(lambda: all(ready(port) for port in ports), timeout=30)
        # Phase 1: three processes share the stream.
        with streaming(sqs_client, queue_url, fast):
            assert wait_for(lambda: handled(logs, "fast-") == set(fast), 120, interval=0.2)
        shares = Counter(e.process for e in read_events(logs) if e.kind == "done")
        assert all(shares[i] > 0 for i in range(PROCESSES)), shares

        # Phase 2: one process gets SIGTERM mid-stream.
        stopped = processes[0]

        def mid_stream() -> bool:
            # Well into the slow messages, with some received and not yet started (the backlog
            # keeps the prefetch buffer full, so it is still full a moment later at SIGTERM).
            mine = read_events(logs[:1])
            started = bodies(mine, "start", "slow-")
            return len(started) >= 50 and bool(bodies(mine, "recv", "slow-") - started)

        with streaming(sqs_client, queue_url, slow):
            assert wait_for(mid_stream, timeout=60, interval=0.05)
            term_at = time.time()
            code, out, err, took = stop(stopped)
            assert code == 0, err[-3000:]
            assert took < SHUTDOWN_SECONDS + 5
            assert wait_for(lambda: handled(logs, "slow-") == set(slow), 120, interval=0.2)
        for process in processes[1:]:
            assert stop(process)[0] == 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    elapsed = time.monotonic() - began
    events = read_events(logs)

    # Every message handled, none twice (the run is shorter than the visibility timeout).
    done = Counter(e.body for e in events if e.kind == "done")
    assert set(done) == set(fast) | set(slow)
    assert elapsed < VISIBILITY_SECONDS, elapsed
    assert [body for body, n in done.items() if n > 1] == []

    # What the stopped process received but never started went back at once, and the others
    # started every one of those messages within about a second of the SIGTERM.
    mine = [e for e in events if e.process == 0]
    started = bodies(mine, "start")
    assert bodies(mine, "done") == started  # its in-flight work finished
    released = bodies(mine, "recv") - started
    assert released, "no message was waiting in the stopped process: not mid-stream"
    assert json.loads(out.strip().splitlines()[-1])[0]["released"] == len(released)
    taken = {e.body: e.at for e in events if e.kind == "start" and e.process != 0}
    assert released <= set(taken)
    delays = sorted(taken[body] - term_at for body in released)
    assert delays[-1] <= TAKEOVER_SECONDS, delays
    print(
        f"\n{len(fast) + len(slow)} messages, {PROCESSES} processes, {elapsed:.1f} s; "
        f"{len(released)} released at SIGTERM, taken over after "
        f"{delays[0]:.2f}-{delays[-1]:.2f} s; stopped process exited in {took:.2f} s"
    )
    assert wait_for(lambda: queue_counts(sqs_client, queue_url) == (0, 0), timeout=10)
