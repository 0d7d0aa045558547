"""Large messages between sqsobs and AWS's extended client, in both directions.

The other side is the real ``amazon-sqs-extended-client`` package (the dev extra), never a copy
of its format, run in a process of its own (:mod:`tests.extended_client_side`): importing it
turns every SQS client of its process into an extended client. Both sides use the embedded
server's S3.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from sqsobs import BatchProducer, Listener, SqsMessage
from sqsobs._payloads._pointer import LEGACY_SIZE_ATTRIBUTE, SIZE_ATTRIBUTE
from tests.conftest import SqsServer
from tests.helpers import wait_for
from tests.test_large_payloads import MIB, _keys

ROOT = Path(__file__).resolve().parent.parent

# Looked up, never imported here: importing it would turn this process's SQS clients into
# extended clients (see the module docstring).
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("sqs_extended_client") is None,
    reason="the dev extra installs amazon-sqs-extended-client",
)


def _other_side(endpoint: str, *args: str) -> Any:
    """Run tests/extended_client_side.py with ``args``; its JSON line."""
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint}
    result = subprocess.run(
        [sys.executable, "-m", "tests.extended_client_side", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("legacy", [False, True], ids=["current", "legacy-attribute"])
def test_what_the_extended_client_sends_our_listener_reads(
    legacy: bool,
    *,
    sqs_server: SqsServer,
    sqs_client: Any,
    s3_client: Any,
    s3_bucket: str,
    queue_url: str,
) -> None:
    args = ["send", queue_url, s3_bucket, *(["legacy"] if legacy else [])]
    sent = _other_side(sqs_server.endpoint_url, *args)
    assert len(_keys(s3_client, s3_bucket)) == 2  # its two large payloads are in S3
    received: list[SqsMessage] = []
    lock = threading.Lock()

    def handle(message: SqsMessage) -> bool:
        with lock:
            received.append(message)
        return True

    with Listener(handle, queue_url=queue_url, mode="per_message", client=sqs_client,
                  s3_client=s3_client, wait_time=1, idle_sleep_max=0.0, environ={}):  # fmt: skip
        assert wait_for(lambda: len(received) == 3 and not _keys(s3_client, s3_bucket), timeout=30)
    assert sorted(_digest(m.body) for m in received) == sent
    offloaded = [m for m in received if m.payload_pointer is not None]
    assert len(offloaded) == 2 and {m.payload_pointer.bucket for m in offloaded} == {s3_bucket}  # type: ignore[union-attr]
    marker = LEGACY_SIZE_ATTRIBUTE if legacy else SIZE_ATTRIBUTE
    assert all(marker in m.message_attributes() for m in offloaded)
    by_size = {m.payload_pointer.size_bytes for m in offloaded}  # type: ignore[union-attr]
    assert by_size == {len('{"doc": "') + 2 * MIB + 2, 3 * MIB}
    single = next(m for m in offloaded if m.body.startswith("{"))
    assert len(single.json["doc"]) == 2 * MIB  # the JSON document parses: it arrived whole
    assert single.message_attributes()["origin"] == "extended"


def test_what_our_producer_sends_the_extended_client_reads(
    sqs_server: SqsServer, sqs_client: Any, s3_client: Any, s3_bucket: str, queue_url: str
) -> None:
    bodies = ["x" * (2 * MIB), "small from sqsobs", "é" * (MIB // 2 + 10)]
    kind = {"kind": {"DataType": "String", "StringValue": "doc"}}
    with BatchProducer(sqs_client, s3_client=s3_client, large_payload_bucket=s3_bucket,
                       flush_at_exit=False) as producer:  # fmt: skip
        futures = [producer.send(queue_url, body, attributes=kind) for body in bodies]
        assert all(f.result(timeout=60) for f in futures)
    assert (
        len(_keys(s3_client, s3_bucket)) == 2
    )  # 2 MiB, and 1 MiB + 20 bytes of two-byte characters
    found = _other_side(sqs_server.endpoint_url, "receive", queue_url, str(len(bodies)))
    assert sorted(item["digest"] for item in found) == sorted(_digest(b) for b in bodies)
    # It strips the size attribute, as it does from its own messages; the user's one stays.
    assert all("kind" in item["attributes"] for item in found)
    assert not any(SIZE_ATTRIBUTE in item["attributes"] for item in found)
    assert (
        _keys(s3_client, s3_bucket) == []
    )  # it found the objects by our pointers and deleted them
