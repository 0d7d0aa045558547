"""Shared test helpers (not fixtures)."""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest

INSTALL_HINTS = {
    "prometheus": "install Debian's package: apt-get install prometheus",
    "promtool": "install Debian's package: apt-get install prometheus",
    "node": "install Node.js 20 or newer (with npm)",
    "npm": "install Node.js 20 or newer (with npm)",
}


def require_binary(name: str) -> str:
    """Path of an external program; skip (locally) or fail (when CI is set) if it is missing."""
    path = shutil.which(name)
    if path:
        return path
    reason = f"{name} is not installed: {INSTALL_HINTS.get(name, 'install it')}"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def drain_queue(client: Any, queue_url: str, *, idle_polls: int = 2) -> list[dict[str, Any]]:
    """Receive and delete everything on a queue; return the messages (with attributes)."""
    messages: list[dict[str, Any]] = []
    empty = 0
    while empty < idle_polls:
        batch = client.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            empty += 1
            continue
        empty = 0
        messages.extend(batch)
        client.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )
    return messages


class Clock:
    """A monotonic clock the test moves by hand (``clock.now += 0.5``)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def gated_client(make_client: Callable[[], Any]) -> tuple[Any, threading.Event]:
    """A real client whose SendMessageBatch calls wait (up to 20 s) until the gate is set."""
    client = make_client()
    gate = threading.Event()
    client.meta.events.register(
        "before-send.sqs.SendMessageBatch", lambda **_: gate.wait(20) and None
    )
    return client, gate


def with_queue_urls(code: str, urls: Mapping[str, str], *, every: bool = True) -> str:
    """``code`` with each example URL of a queue named in ``urls`` replaced by the queue's URL.

    Examples write placeholder URLs (account ``123``, host ``…``). moto resolves any URL by the
    name at its end; SQS and LocalStack read the account from it and have no such queue.
    ``every``: each queue in ``urls`` must appear as a URL (else a name is fine too).
    """
    for name, url in urls.items():
        placeholder = re.compile(r"https?://[^\s\"']*/" + re.escape(name) + r"(?=[\"'])")
        code, found = placeholder.subn(lambda _, url=url: url, code)
        assert found or not every, f"the example has no URL of queue {name!r}"
    return code
