"""SIGTERM / SIGINT sent to a real listener process (tests/listener_app.py) mid-work."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import drain_queue, wait_for
from tests.listener_support import events, queue_counts, send_bodies, start_app


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_work_drains_and_exits_0_with_nothing_lost(
    signum: int, sqs_server: Any, sqs_client: Any, queue_url: str, tmp_path: Path
) -> None:
    bodies = [f"job{i}" for i in range(30)]
    send_bodies(sqs_client, queue_url, bodies)
    log = tmp_path / "events.log"
    app = start_app(sqs_server, queue_url, log, LISTENER_APP_HANDLER_SECONDS="1.5")
    try:
        assert wait_for(lambda: len(events(log, "start")) >= 3, timeout=30)
        os.kill(app.pid, signum)
        out, err = app.communicate(timeout=20)
    finally:
        if app.poll() is None:
            app.kill()
    assert app.returncode == 0, err
    started, done = events(log, "start"), events(log, "done")
    assert sorted(started) == sorted(done)  # every in-flight handler finished
    assert len(done) < len(bodies)  # it really was stopped mid-work
    stats = json.loads(out.strip().splitlines()[-1])[0]
    assert stats["succeeded"] == len(done)
    # Nothing in flight: the rest is visible at once (the visibility timeout is 30 s).
    visible, in_flight = queue_counts(sqs_client, queue_url)
    assert (visible, in_flight) == (len(bodies) - len(done), 0)
    remaining = [m["Body"] for m in drain_queue(sqs_client, queue_url)]
    assert sorted(remaining + done) == sorted(bodies)  # nothing lost, nothing handled twice


def test_second_signal_exits_at_once(
    sqs_server: Any, sqs_client: Any, queue_url: str, tmp_path: Path
) -> None:
    send_bodies(sqs_client, queue_url, ["slow1", "slow2"])
    log = tmp_path / "events.log"
    app = start_app(sqs_server, queue_url, log, LISTENER_APP_HANDLER_SECONDS="30")
    try:
        assert wait_for(lambda: len(events(log, "start")) >= 1, timeout=30)
        os.kill(app.pid, signal.SIGTERM)
        time.sleep(0.3)
        begun = time.monotonic()
        os.kill(app.pid, signal.SIGTERM)
        app.communicate(timeout=10)
        assert time.monotonic() - begun < 3
    finally:
        if app.poll() is None:
            app.kill()
    assert app.returncode == 128 + signal.SIGTERM
    assert events(log, "done") == []
    # Nothing was deleted: the messages come back after their visibility timeout.
    assert sum(queue_counts(sqs_client, queue_url)) == 2


def test_handler_outliving_the_shutdown_timeout_does_not_block_exit(
    sqs_server: Any, sqs_client: Any, queue_url: str, tmp_path: Path
) -> None:
    send_bodies(sqs_client, queue_url, ["endless"])
    log = tmp_path / "events.log"
    app = start_app(
        sqs_server, queue_url, log, LISTENER_APP_HANDLER_SECONDS="60", SHUTDOWN_TIMEOUT="1"
    )
    try:
        assert wait_for(lambda: len(events(log, "start")) == 1, timeout=30)
        begun = time.monotonic()
        os.kill(app.pid, signal.SIGTERM)
        app.communicate(timeout=15)
        assert time.monotonic() - begun < 5
    finally:
        if app.poll() is None:
            app.kill()
    assert app.returncode == 0
    assert events(log, "done") == []
    # Not handled, so not deleted: it comes back after its visibility timeout.
    assert queue_counts(sqs_client, queue_url) == (0, 1)
