"""The harness talks to a separate SQS server process over HTTP, and its moto patches hold."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.conftest import ClientFactory, QueueFactory, SqsServer
from tests.helpers import drain_queue


def test_server_is_a_separate_process_on_loopback(sqs_server: SqsServer) -> None:
    if sqs_server.pid is None:
        pytest.skip("external endpoint given by SQSOBS_TEST_SQS_ENDPOINT")
    assert sqs_server.pid != os.getpid()
    os.kill(sqs_server.pid, 0)  # raises if no such process
    with open(f"/proc/{sqs_server.pid}/cmdline", "rb") as fh:
        assert b"sqsobs.testing._moto" in fh.read()
    assert urlparse(sqs_server.endpoint_url).hostname == "127.0.0.1"


def test_queue_is_visible_to_an_independent_client(
    make_client: ClientFactory, queue_name: str
) -> None:
    first, second = make_client(), make_client()
    url = first.create_queue(QueueName=queue_name)["QueueUrl"]
    try:
        assert second.get_queue_url(QueueName=queue_name)["QueueUrl"] == url
        first.send_message(QueueUrl=url, MessageBody="over-http")
        got = second.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
        assert [m["Body"] for m in got] == ["over-http"]
    finally:
        first.delete_queue(QueueUrl=url)


def _send(client: Any, url: str, count: int) -> None:
    for start in range(0, count, 10):
        client.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)],
        )


def test_concurrent_drain_loses_no_delete_and_delivers_once(
    make_client: ClientFactory, make_queue: QueueFactory
) -> None:
    """moto fault (1) lost deletes and (2) double delivery are patched by the launcher."""
    url = make_queue(VisibilityTimeout=2)
    _send(make_client(), url, 1000)
    seen: list[str] = []
    lock = threading.Lock()

    def drain() -> None:
        got = drain_queue(make_client(), url, idle_polls=3)
        with lock:
            seen.extend(m["Body"] for m in got)

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 1000
    assert len(set(seen)) == 1000
    # Had a delete been lost, the message would come back after its 2 s visibility timeout.
    again = make_client().receive_message(QueueUrl=url, WaitTimeSeconds=3).get("Messages", [])
    assert again == []


def test_fifo_long_poll_does_not_stall_deletes(
    make_client: ClientFactory, make_queue: QueueFactory
) -> None:
    """A long poll on a FIFO queue whose visible messages wait behind an in-flight group must not
    hold the queue's lock (moto's own wait loop spins with it held)."""
    url = make_queue(fifo=True, ContentBasedDeduplication="true")
    producer = make_client()
    for body in ("a1", "a2"):
        producer.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="a")
    first = producer.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]
    poller = threading.Thread(
        target=lambda: make_client().receive_message(QueueUrl=url, WaitTimeSeconds=3)
    )
    poller.start()
    time.sleep(0.3)  # the poll is now waiting: a2 is visible but blocked behind a1's group
    start = time.monotonic()
    producer.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    elapsed = time.monotonic() - start
    poller.join()
    assert elapsed < 0.5


def test_send_message_batch_keeps_each_entry_aws_trace_header(
    sqs_client: Any, queue_url: str
) -> None:
    """moto 5.2.5's SendMessageBatch drops MessageSystemAttributes (real SQS keeps them)."""
    header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    system = {"AWSTraceHeader": {"DataType": "String", "StringValue": header}}
    response = sqs_client.send_message_batch(
        QueueUrl=queue_url,
        Entries=[
            {"Id": "0", "MessageBody": "traced", "MessageSystemAttributes": system},
            {"Id": "1", "MessageBody": "plain"},
        ],
    )
    assert not response.get("Failed")
    received = sqs_client.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=1,
        MessageSystemAttributeNames=["AWSTraceHeader"],
    )["Messages"]
    headers = {m["Body"]: (m.get("Attributes") or {}).get("AWSTraceHeader") for m in received}
    assert headers == {"traced": header, "plain": None}


_ONE_INSTANT_SCRIPT = """
import time
from sqsobs.testing._moto import apply_moto_patches
apply_moto_patches()
from moto.sqs.models import sqs_backends

backend = sqs_backends["123456789012"]["us-east-1"]
backend.create_queue("q", VisibilityTimeout="1")
backend.send_message("q", "body")
(received,) = backend.receive_message("q", 1, 0, 1)
visible_at = received.visible_at / 1000.0  # the received copy; the queue's message shares it
names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
totals = []
for last_before in range(40):  # wherever in the call the timeout runs out
    reads = []

    def clock():
        reads.append(1)
        return visible_at - 0.5 if len(reads) <= last_before else visible_at + 0.5

    time.time = clock
    attrs = backend.get_queue_attributes("q", names)
    totals.append(sum(int(attrs[name]) for name in names))
print(" ".join(map(str, totals)))
"""


def test_queue_counters_are_read_at_one_instant() -> None:
    """moto fault (5): GetQueueAttributes read each counter at its own instant, so a message whose
    visibility timeout ran out between two reads was counted in neither (0 visible, 0 in flight
    while it was on the queue: a test waiting for (0, 0) went on too early). The launcher's patch
    reads every counter of one call at one instant."""
    done = subprocess.run(
        [sys.executable, "-c", _ONE_INSTANT_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    totals = [int(n) for n in done.stdout.split()]
    assert totals == [1] * 40, totals  # visible + in flight, one message on the queue
