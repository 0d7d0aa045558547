"""Helpers shared by the listener tests (not fixtures, not a test module)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from sqsobs.listener._message import SqsMessage


def send_bodies(client: Any, queue_url: str, bodies: list[str], **extra: Any) -> None:
    """Send ``bodies`` in batches of 10 (``extra`` goes into every entry)."""
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(i), "MessageBody": body, **extra}
            for i, body in enumerate(bodies[start : start + 10])
        ]
        response = client.send_message_batch(QueueUrl=queue_url, Entries=entries)
        assert not response.get("Failed"), response.get("Failed")


def queue_counts(client: Any, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) as SQS counts them."""
    attrs = client.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


class Recorder:
    """Thread-safe record of what handlers saw."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bodies: Counter[str] = Counter()
        self.order: list[str] = []

    def add(self, messages: list[SqsMessage]) -> None:
        with self.lock:
            for message in messages:
                self.bodies[message.body] += 1
                self.order.append(message.body)

    def distinct(self) -> int:
        with self.lock:
            return len(self.bodies)

    def total(self) -> int:
        with self.lock:
            return sum(self.bodies.values())


class SqsCalls:
    """What a boto3 SQS client asked of the server, counted with botocore's event hooks.

    ``requests[operation]`` counts calls made (failed ones too); ``deleted`` counts the entries
    the server confirmed in DeleteMessageBatch answers. Pass ``.client`` to the code under test.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.deleted = 0
        client.meta.events.register("before-call.sqs", self._before_call)
        client.meta.events.register("after-call.sqs.DeleteMessageBatch", self._after_delete)

    def _before_call(self, model: Any, **_: Any) -> None:
        with self.lock:
            self.requests[model.name] += 1

    def _after_delete(self, parsed: dict[str, Any], **_: Any) -> None:
        with self.lock:
            self.deleted += len(parsed.get("Successful") or [])

    def count(self, operation: str) -> int:
        """Calls of ``operation`` made so far."""
        with self.lock:
            return self.requests[operation]


APP = Path(__file__).with_name("listener_app.py")
ROOT = APP.parent.parent


def start_app(sqs_server: Any, queue_url: str, log: Path, **env: str) -> subprocess.Popen[str]:
    """Start tests/listener_app.py on ``queue_url`` (``env`` overrides its variables)."""
    environ = {
        **os.environ,
        "QUEUE_URL": queue_url,
        "AWS_ENDPOINT_URL_SQS": sqs_server.endpoint_url,
        "WORKER_THREADS": "3",
        "WAIT_TIME": "1",
        "IDLE_SLEEP_MAX": "0",
        "VISIBILITY_SECS": "30",
        "LISTENER_APP_LOG": str(log),
        "LOG_USE_COLOR": "0",
        "PYTHONPATH": str(ROOT),
        **env,
    }
    return subprocess.Popen(
        [sys.executable, str(APP)],
        env=environ,
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def events(log: Path, kind: str) -> list[str]:
    """The bodies of the app's ``start`` or ``done`` events so far."""
    if not log.exists():
        return []
    lines = log.read_text(encoding="utf-8").splitlines()
    return [line.split(" ", 1)[1] for line in lines if line.startswith(f"{kind} ")]
