"""EmbeddedSQS (and every ServerProcess) is safe both ways users write it: no process left behind.

``with EmbeddedSQS() as sqs:`` and ``with EmbeddedSQS().start() as sqs:`` both run exactly one
server; ``start()`` on a running server does nothing; after the block no child process of the
test process is left (read from ``/proc``, so a leak cannot hide behind a handle we dropped).
"""

from __future__ import annotations

import sys
from pathlib import Path

import boto3
import pytest

from sqsobs.testing import EmbeddedSQS

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/task").is_dir(), reason="reads child processes from /proc"
)


def children() -> set[int]:
    """PIDs of this process's live children (Linux /proc), zombies excluded."""
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        text = (task / "children").read_text()
        found.update(int(pid) for pid in text.split())
    return {pid for pid in found if _alive(pid)}


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def _serves(endpoint_url: str) -> bool:
    client = boto3.client(
        "sqs",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    return "QueueUrl" in client.create_queue(QueueName="probe")


def test_with_start_runs_one_server_and_leaves_none() -> None:
    before = children()
    with EmbeddedSQS().start() as server:
        started = children() - before
        assert started == {server.pid}, f"expected one server process, found {started}"
        assert _serves(server.endpoint_url)
    assert children() - before == set()


def test_with_alone_runs_one_server_and_leaves_none() -> None:
    before = children()
    with EmbeddedSQS() as server:
        assert children() - before == {server.pid}
    assert children() - before == set()


def test_start_on_a_running_server_does_nothing_and_stop_is_idempotent() -> None:
    before = children()
    server = EmbeddedSQS().start()
    try:
        pid = server.pid
        assert server.start() is server and server.pid == pid
        assert children() - before == {pid}
    finally:
        server.stop()
        server.stop()
    assert children() - before == set()


def test_a_stopped_server_can_start_again() -> None:
    before = children()
    server = EmbeddedSQS()
    server.start()
    first = server.pid
    server.stop()
    with server:
        assert server.pid != first and children() - before == {server.pid}
        assert _serves(server.endpoint_url)
    assert children() - before == set()


def test_children_are_found_here() -> None:
    """The probe itself must see a child: a helper that found nothing would prove nothing."""
    import subprocess

    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert process.pid in children()
    finally:
        process.kill()
        process.wait()
    assert process.pid not in children()
