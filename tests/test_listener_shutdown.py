"""Shutdown that fits the container's stop timeout, stopping receiving first (issues 11.12, 12.4).

A real listener process (tests/listener_app.py) gets a real SIGTERM:

- in a 20 s long poll on an idle queue, it exits in well under the poll time; a message that
  arrives during the rest of the cut poll comes back within the short visibility timeout such a
  poll asks for (measured and printed);
- with messages received but not started (the prefetch buffer), those are visible to another
  consumer at once while in-flight handlers finish, and ``/ready`` turns 503 at once;
- with slow and endless handlers, it exits within ``SHUTDOWN_TIMEOUT`` with the finished
  handlers' deletes flushed (the worst case is measured and printed).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.faultproxy import Fault, FaultProxy
from tests.helpers import drain_queue, wait_for
from tests.listener_support import events, queue_counts, send_bodies, start_app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0  # not serving (yet, or any more)


def _stop(app: subprocess.Popen[str], timeout: float) -> tuple[float, str, str]:
    """SIGTERM ``app``; (seconds until it exited, stdout, stderr)."""
    begun = time.monotonic()
    os.kill(app.pid, signal.SIGTERM)
    out, err = app.communicate(timeout=timeout)
    return time.monotonic() - begun, out, err


def test_sigterm_in_a_20_s_long_poll_exits_at_once(
    sqs_server: Any, sqs_client: Any, queue_url: str, tmp_path: Path
) -> None:
    port = _free_port()
    app = start_app(
        sqs_server,
        queue_url,
        tmp_path / "events.log",
        WAIT_TIME="20",
        POLLER_THREADS="1",
        LISTENER_APP_HEALTH_PORT=str(port),
    )
    try:
        assert wait_for(lambda: _status(port, "/ready") == 200, timeout=30)
        time.sleep(1.0)  # the first long poll is well on its way
        exited_after, _, err = _stop(app, timeout=25)
    finally:
        if app.poll() is None:
            app.kill()
    assert app.returncode == 0, err
    print(f"\nSIGTERM in a 20 s long poll: exited after {exited_after:.2f} s")
    assert exited_after < 5.0  # not the 19 s left of the poll (about 1 s on a quiet machine)
    # The cut poll may still take a message at the server (SQS does not notice the closed
    # connection): it then stays invisible for the short timeout an idle poll asks for (10 s),
    # not the 30 s visibility timeout.
    sent = time.monotonic()
    send_bodies(sqs_client, queue_url, ["arrived-after-exit"])
    got: list[dict[str, Any]] = []
    while not got and time.monotonic() - sent < 20:
        got = sqs_client.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=5
        ).get("Messages", [])
    delay = time.monotonic() - sent
    print(f"a message sent after the exit reached another consumer after {delay:.1f} s")
    assert got and got[0]["Body"] == "arrived-after-exit"
    assert delay < 15.0


def test_sigterm_releases_unstarted_messages_at_once_and_turns_unready(
    sqs_server: Any, sqs_client: Any, queue_url: str, tmp_path: Path
) -> None:
    log, port = tmp_path / "events.log", _free_port()
    app = start_app(
        sqs_server,
        queue_url,
        log,
        WORKER_THREADS="2",
        POLLER_THREADS="1",
        LISTENER_APP_HANDLER_SECONDS="4",
        LISTENER_APP_HEALTH_PORT=str(port),
    )
    jobs = [f"job{i}" for i in range(10)]
    try:
        assert wait_for(lambda: _status(port, "/ready") == 200, timeout=30)
        send_bodies(sqs_client, queue_url, ["warm"])  # one handler timed: prefetch opens
        assert wait_for(lambda: events(log, "done") == ["warm"], timeout=10)
        send_bodies(sqs_client, queue_url, jobs)
        assert wait_for(lambda: len(events(log, "start")) == 3, timeout=10)
        # 2 running, the rest prefetched; a long poll that caught the batch half-stored leaves
        # some on the queue until the workers are nearly free: those are visible all along.
        assert wait_for(lambda: queue_counts(sqs_client, queue_url)[1] >= 3, timeout=10)
        begun = time.monotonic()
        os.kill(app.pid, signal.SIGTERM)
        assert wait_for(lambda: _status(port, "/ready") == 503, timeout=1.0)
        assert _status(port, "/health") == 503
        stolen: list[str] = []
        while len(stolen) < 8 and time.monotonic() - begun < 3.0:
            batch = sqs_client.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            stolen += [m["Body"] for m in batch]
        released_after = time.monotonic() - begun
        still_draining = app.poll() is None
        out, err = app.communicate(timeout=20)
    finally:
        if app.poll() is None:
            app.kill()
    print(
        f"\nthe 8 unstarted messages visible to another consumer {released_after:.2f} s after "
        "SIGTERM"
    )
    assert len(stolen) == 8 and released_after < 1.5
    assert still_draining  # released while the two handlers still ran
    assert app.returncode == 0, err
    done = [body for body in events(log, "done") if body != "warm"]
    assert len(done) == 2 and sorted(done + stolen) == sorted(jobs)  # nothing twice, none lost
    assert len(events(log, "start")) == 3  # no prefetched message was started
    stats = json.loads(out.strip().splitlines()[-1])[0]
    assert stats["succeeded"] == 3 and 1 <= stats["released"] <= 8  # the prefetched ones
    assert queue_counts(sqs_client, queue_url) == (0, 8)  # the thief holds them; none was deleted


def test_drain_fits_the_shutdown_timeout_with_deletes_flushed(
    sqs_server: Any, sqs_client: Any, queue_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "events.log"
    timeout = 4.0
    app = start_app(
        sqs_server,
        queue_url,
        log,
        WORKER_THREADS="3",
        WAIT_TIME="20",
        SHUTDOWN_TIMEOUT=str(timeout),
        LISTENER_APP_HANDLER_SECONDS="2.5",
    )
    try:
        send_bodies(sqs_client, queue_url, ["slow-a", "slow-b", "endless"])
        assert wait_for(lambda: len(events(log, "start")) == 3, timeout=30)
        exited_after, _, err = _stop(app, timeout=timeout + 10)
    finally:
        if app.poll() is None:
            app.kill()
    print(f"\nSHUTDOWN_TIMEOUT={timeout}: exited {exited_after:.2f} s after SIGTERM")
    assert app.returncode == 0, err
    assert exited_after <= timeout + 1.0  # the interpreter's own exit is the 1 s
    assert sorted(events(log, "done")) == ["slow-a", "slow-b"]
    # Both finished handlers were deleted before the exit; the endless one comes back later.
    assert queue_counts(sqs_client, queue_url) == (0, 1)
    assert drain_queue(sqs_client, queue_url) == []  # still invisible: nothing to take now


def test_sigterm_while_the_listeners_start_drains_and_exits_0(
    sqs_server: Any, queue_url: str, tmp_path: Path
) -> None:
    # A task stopped while it starts (a deploy replaced it, a scale-in picked it): the listener's
    # start checks its queue (GetQueueAttributes), held 3 s here. SIGTERM then must not take
    # Python's default action (exit -15, no drain) but stop the listeners once they run.
    with FaultProxy(sqs_server.endpoint_url) as proxy:
        proxy.add(Fault("latency", operations={"GetQueueAttributes"}, seconds=3.0, count=1))
        app = start_app(SimpleNamespace(endpoint_url=proxy.endpoint_url), queue_url,
                        tmp_path / "events.log")  # fmt: skip
        try:
            assert wait_for(lambda: proxy.count("GetQueueAttributes", "latency") == 1, timeout=30)
            time.sleep(0.5)  # inside run_listeners(), the start held at the proxy
            exited_after, out, err = _stop(app, timeout=30)
        finally:
            if app.poll() is None:
                app.kill()
    assert app.returncode == 0, err
    assert exited_after < 10.0
    (stats,) = json.loads(out.strip().splitlines()[-1])
    assert stats["received"] == 0
