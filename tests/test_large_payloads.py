"""Large payloads against the test server, whose process serves S3 on the SQS endpoint (moto).

Round trips of 2, 10 and 100 MiB (each in a process of its own, measured), SQS calls per message
for a batch mixing small and large messages, a missing bucket at send(), an upload failure that
fails only its message, a missing object on the listener's side (counted, then the DLQ), the
delete order (SQS first, then S3), kept objects, batch mode, spans and metrics, the broker.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from sqsobs import BatchProducer, Listener, SqsMessage
from sqsobs._payloads._pointer import SIZE_ATTRIBUTE, PayloadPointer
from sqsobs.errors import PayloadBucketUnavailable, PayloadError, PayloadNotFound
from sqsobs.telemetry.catalog import (
    HANDLER_FAILURES,
    PAYLOADS_DELETED,
    PAYLOADS_FETCHED,
    PAYLOADS_FETCHED_BYTES,
    PAYLOADS_OFFLOADED,
    PAYLOADS_OFFLOADED_BYTES,
)
from sqsobs.types import BatchResult
from tests.conftest import REGION, OtelCapture, SqsServer
from tests.helpers import drain_queue, wait_for
from tests.listener_support import SqsCalls
from tests.test_bad_input_consumer import _queue_with_dlq

MIB = 1024 * 1024
ROOT = Path(__file__).resolve().parent.parent
FAST = {"wait_time": 1, "idle_sleep_max": 0.0, "environ": {}}


def _keys(s3_client: Any, s3_bucket: str) -> list[str]:
    return [item["Key"] for item in s3_client.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]


def _producer(sqs: Any, s3_client: Any, s3_bucket: str, **settings: Any) -> BatchProducer:
    return BatchProducer(
        sqs, s3_client=s3_client, large_payload_bucket=s3_bucket, flush_at_exit=False, **settings
    )


def _big(size: int, seed: str = "a") -> str:
    return (seed * size)[:size]


# --- round trips -----------------------------------------------------------------------------
@pytest.mark.parametrize("size_mib", [2, 10, 100])
def test_payload_round_trips_in_its_own_process(
    size_mib: int, sqs_server: SqsServer, s3_client: Any, s3_bucket: str, queue_url: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.large_payload_child", sqs_server.endpoint_url, queue_url,
         s3_bucket, str(size_mib)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"{size_mib} MiB: {measured}")
    assert measured["pointer_size"] == size_mib * MIB
    assert measured["objects_left"] == 0
    # Memory stays a small multiple of the payload (the string, its bytes, a read buffer).
    assert measured["peak_rss_mib"] - measured["baseline_rss_mib"] < 6 * size_mib + 64


# --- SQS calls per message -------------------------------------------------------------------
def test_a_batch_mixing_small_and_large_messages_keeps_0_10_sqs_calls_per_message(
    make_client: Any, s3_client: Any, s3_bucket: str, queue_url: str
) -> None:
    sqs = SqsCalls(make_client())
    puts: list[str] = []
    s3_client.meta.events.register("before-call.s3.PutObject", lambda **kw: puts.append("put"))
    total, large_every = 100, 5
    bodies = [
        _big(2 * MIB, str(i % 10)) if i % large_every == 0 else f"small {i}" for i in range(total)
    ]
    with _producer(
        sqs.client, s3_client, s3_bucket, default_batch_interval=30, default_idle_timeout=0
    ) as p:
        futures = [p.send(queue_url, body) for body in bodies]
        assert p.flush(timeout_seconds=120)
    assert all(f.exception() is None for f in futures)
    batches = sqs.count("SendMessageBatch")
    print(f"SendMessageBatch calls per message: {batches / total:.2f}, S3 puts: {len(puts)}")
    assert batches / total <= 0.10
    assert len(puts) == total // large_every
    received = drain_queue(make_client(), queue_url)
    assert len(received) == total
    offloaded = [m for m in received if SIZE_ATTRIBUTE in m.get("MessageAttributes", {})]
    assert len(offloaded) == total // large_every
    assert len(_keys(s3_client, s3_bucket)) == total // large_every


# --- producer faults -------------------------------------------------------------------------
def test_a_missing_bucket_raises_at_send_and_nothing_is_sent(
    sqs_client: Any, s3_client: Any, queue_url: str, otel: OtelCapture
) -> None:
    with _producer(sqs_client, s3_client, "sqsobs-no-such-bucket") as producer:
        small = producer.send(queue_url, "small goes as before")
        with pytest.raises(PayloadBucketUnavailable, match="does not exist") as caught:
            producer.send(queue_url, _big(2 * MIB))
        assert (
            caught.value.code == "NoSuchBucket" and caught.value.bucket == "sqsobs-no-such-bucket"
        )
        assert small.result(timeout=10)
        stats = producer.get_queue_status(queue_url)
    assert stats["messages_rejected"] == 1
    bodies = [m["Body"] for m in drain_queue(sqs_client, queue_url)]
    assert bodies == ["small goes as before"]
    heads = [s for s in otel.spans() if s.name == "S3.HeadBucket"]
    assert heads and heads[0].attributes["error.type"] == "NoSuchBucket"


def test_an_upload_failure_fails_only_its_message(
    sqs_client: Any, s3_client: Any, s3_bucket: str, queue_url: str, sqs_server: SqsServer
) -> None:
    # A real client whose PutObject of one payload is answered with an error before it leaves.
    s3_faulty = boto3.session.Session().client(
        "s3", endpoint_url=sqs_server.endpoint_url, region_name=REGION
    )
    doomed = _big(3 * MIB, "d")

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if len(params.get("Body", b"")) == len(doomed):
            raise ClientError(
                {"Error": {"Code": "InternalError", "Message": "injected"},
                 "ResponseMetadata": {"HTTPStatusCode": 500}}, "PutObject",
            )  # fmt: skip

    s3_faulty.meta.events.register("before-parameter-build.s3.PutObject", refuse)
    failures: list[Any] = []
    with _producer(sqs_client, s3_faulty, s3_bucket, on_failure=failures.append,
                   default_batch_interval=30, default_idle_timeout=0) as producer:  # fmt: skip
        bodies = ["s1", _big(2 * MIB, "a"), doomed, "s2", _big(2 * MIB, "b")]
        futures = [producer.send(queue_url, body) for body in bodies]
        producer.flush(timeout_seconds=60)
    error = futures[2].exception()
    assert isinstance(error, PayloadError) and error.code == "InternalError"
    assert all(f.exception() is None for i, f in enumerate(futures) if i != 2)
    assert [f.queue for f in failures] == [queue_url] and failures[0].error is error
    received = drain_queue(sqs_client, queue_url)
    assert len(received) == 4
    assert len(_keys(s3_client, s3_bucket)) == 2  # the failed upload left nothing behind


# --- listener ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["per_message", "batch"])
def test_a_missing_object_fails_the_message_counted_until_the_dlq(
    mode: str,
    *,
    sqs_client: Any,
    s3_client: Any,
    s3_bucket: str,
    make_queue: Any,
    otel: OtelCapture,
) -> None:
    queue, dlq = _queue_with_dlq(sqs_client, make_queue)
    with _producer(sqs_client, s3_client, s3_bucket) as producer:
        producer.send(queue, _big(2 * MIB)).result(timeout=30)
        producer.send(queue, "fine").result(timeout=30)
    for key in _keys(s3_client, s3_bucket):
        s3_client.delete_object(Bucket=s3_bucket, Key=key)
    handled: list[str] = []
    errors: list[BaseException | None] = []

    def per_message(message: SqsMessage) -> bool:
        handled.append(message.body)
        return True

    def batch(messages: list[SqsMessage]) -> BatchResult:
        handled.extend(m.body for m in messages)
        return BatchResult(failed_receipt_handles=[])

    listener = Listener(
        per_message if mode == "per_message" else batch, queue_url=queue, mode=mode,
        client=sqs_client, s3_client=s3_client, visibility_secs=1,
        on_failure=lambda m, e: errors.append(e), **FAST,
    )  # fmt: skip
    with listener:
        assert wait_for(lambda: len(drain_peek(sqs_client, dlq)) == 1, timeout=40)
        assert listener.healthy
    assert handled == ["fine"]  # the handler never saw the broken message
    assert len(errors) >= 2 and all(isinstance(e, PayloadNotFound) for e in errors)
    name = listener.telemetry.queue
    failures = otel.total(HANDLER_FAILURES.name, **{"messaging.destination.name": name})
    assert failures >= 2
    assert otel.total(PAYLOADS_FETCHED.name, **{"messaging.destination.name": name,
                                                "error.type": "NoSuchKey"}) >= 2  # fmt: skip


def drain_peek(client: Any, url: str) -> list[Any]:
    """What the queue shows (received with a short visibility, not deleted)."""
    return client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=1).get(
        "Messages", []
    )


def test_delete_order_is_sqs_first_then_s3(
    make_client: Any, s3_client: Any, s3_bucket: str, queue_url: str, sqs_server: SqsServer
) -> None:
    order: list[str] = []
    sqs = make_client()
    sqs.meta.events.register("after-call.sqs.DeleteMessageBatch", lambda **_: order.append("sqs"))
    s3_watched = boto3.session.Session().client(
        "s3", endpoint_url=sqs_server.endpoint_url, region_name=REGION
    )
    s3_watched.meta.events.register("before-call.s3.DeleteObject", lambda **_: order.append("s3"))
    with _producer(sqs, s3_client, s3_bucket) as producer:
        producer.send(queue_url, _big(2 * MIB)).result(timeout=30)
    done = threading.Event()
    listener = Listener(lambda m: done.set() or True, queue_url=queue_url, mode="per_message",
                        client=sqs, s3_client=s3_watched, **FAST)  # fmt: skip
    with listener:
        assert done.wait(20)
        assert wait_for(lambda: "s3" in order, timeout=20)
    assert order == ["sqs", "s3"]
    assert _keys(s3_client, s3_bucket) == []


def test_a_failed_sqs_delete_keeps_the_object(
    make_client: Any, s3_client: Any, s3_bucket: str, queue_url: str
) -> None:
    sqs = make_client()

    def refuse(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "injected"},
             "ResponseMetadata": {"HTTPStatusCode": 403}}, "DeleteMessageBatch",
        )  # fmt: skip

    sqs.meta.events.register("before-call.sqs.DeleteMessageBatch", refuse)
    with _producer(sqs, s3_client, s3_bucket) as producer:
        producer.send(queue_url, _big(2 * MIB)).result(timeout=30)
    handled = threading.Event()
    with Listener(lambda m: handled.set() or True, queue_url=queue_url, mode="per_message",
                  client=sqs, s3_client=s3_client, **FAST):  # fmt: skip
        assert handled.wait(20)
    assert (
        len(_keys(s3_client, s3_bucket)) == 1
    )  # the message comes back: its payload must be there


def test_objects_are_kept_when_asked_and_the_pointer_is_on_the_message(
    sqs_client: Any, s3_client: Any, s3_bucket: str, queue_url: str
) -> None:
    with _producer(sqs_client, s3_client, s3_bucket, always_offload=True) as producer:
        producer.send(queue_url, "tiny, offloaded anyway").result(timeout=30)
    seen: list[SqsMessage] = []
    done = threading.Event()
    with Listener(lambda m: seen.append(m) or done.set() or True, queue_url=queue_url,
                  mode="per_message", client=sqs_client, s3_client=s3_client,
                  delete_large_payloads=False, **FAST) as listener:  # fmt: skip
        assert done.wait(20)
        assert wait_for(lambda: listener.stats.snapshot().get("succeeded", 0) >= 1)
    message = seen[0]
    assert message.body == "tiny, offloaded anyway"
    assert isinstance(message.payload_pointer, PayloadPointer)
    assert message.payload_pointer.bucket == s3_bucket
    assert PayloadPointer.from_body(message.raw["Body"]) == PayloadPointer(
        s3_bucket, message.payload_pointer.key
    )
    assert _keys(s3_client, s3_bucket) == [message.payload_pointer.key]
    assert drain_queue(sqs_client, queue_url) == []


def test_batch_mode_hands_the_payloads_to_the_handler(
    sqs_client: Any, s3_client: Any, s3_bucket: str, queue_url: str
) -> None:
    bodies = [_big(2 * MIB, "x"), "small", _big(MIB + 5, "y")]
    with _producer(
        sqs_client, s3_client, s3_bucket, default_batch_interval=30, default_idle_timeout=0
    ) as p:
        for body in bodies:
            p.send(queue_url, body)
    digests: set[str] = set()

    def batch(messages: list[SqsMessage]) -> BatchResult:
        digests.update(hashlib.sha256(m.body.encode()).hexdigest() for m in messages)
        return BatchResult(failed_receipt_handles=[])

    with Listener(batch, queue_url=queue_url, mode="batch", client=sqs_client, s3_client=s3_client,
                  **FAST):  # fmt: skip
        assert wait_for(lambda: len(digests) == 3 and not _keys(s3_client, s3_bucket), timeout=30)
    assert digests == {hashlib.sha256(b.encode()).hexdigest() for b in bodies}


# --- telemetry -------------------------------------------------------------------------------
def test_s3_calls_are_client_spans_in_the_messages_trace_and_counted(
    sqs_client: Any, s3_client: Any, s3_bucket: str, queue_url: str, otel: OtelCapture
) -> None:
    with _producer(sqs_client, s3_client, s3_bucket) as producer:
        producer.send(queue_url, _big(2 * MIB)).result(timeout=30)
    done = threading.Event()
    with Listener(lambda m: done.set() or True, queue_url=queue_url, mode="per_message",
                  client=sqs_client, s3_client=s3_client, **FAST) as listener:  # fmt: skip
        assert done.wait(20)
        assert wait_for(lambda: any(s.name == "S3.DeleteObject" for s in otel.spans()))
    spans = {s.name: s for s in otel.spans()}
    create, put = spans[f"create {listener.telemetry.queue}"], spans["S3.PutObject"]
    process, get = spans[f"process {listener.telemetry.queue}"], spans["S3.GetObject"]
    delete = spans["S3.DeleteObject"]
    from opentelemetry.trace import SpanKind

    trace_id = create.context.trace_id
    assert put.parent.span_id == create.context.span_id
    assert get.parent.span_id == process.context.span_id
    assert delete.parent.span_id == create.context.span_id
    for span in (put, get, delete):
        assert span.kind is SpanKind.CLIENT and span.context.trace_id == trace_id
        assert span.attributes["rpc.system"] == "aws-api"
        assert span.attributes["rpc.service"] == "S3"
        assert span.attributes["aws.s3.bucket"] == s3_bucket
        assert span.attributes["aws.s3.key"] == get.attributes["aws.s3.key"]
        assert span.attributes["aws.request_id"]
    assert put.attributes["rpc.method"] == "PutObject"
    name = {"messaging.destination.name": listener.telemetry.queue}
    assert otel.total(PAYLOADS_OFFLOADED.name, **name) == 1
    assert otel.total(PAYLOADS_OFFLOADED_BYTES.name, **name) == 2 * MIB
    assert otel.total(PAYLOADS_FETCHED.name, **name) == 1
    assert otel.total(PAYLOADS_FETCHED_BYTES.name, **name) == 2 * MIB
    assert otel.total(PAYLOADS_DELETED.name, **name) == 1


# --- the dramatiq broker -------------------------------------------------------------------
def test_the_broker_offloads_over_the_limit_instead_of_raising(
    monkeypatch: pytest.MonkeyPatch, sqs_server: SqsServer, s3_client: Any, s3_bucket: str,
    sqs_client: Any,
) -> None:  # fmt: skip
    import dramatiq

    from sqsobs.dramatiq import BatchSQSBroker

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", sqs_server.endpoint_url)
    broker = BatchSQSBroker(
        namespace=f"lp{uuid.uuid4().hex[:6]}", endpoint_url=sqs_server.endpoint_url,
        large_payload_bucket=s3_bucket, flush_at_exit=False,
    )  # fmt: skip
    try:
        actor = dramatiq.actor(broker=broker, actor_name="big", queue_name="big")(lambda s: None)
        actor.send("x" * 1_000_000)  # base64 grows it past the limit: it goes to S3
        assert broker.flush_all(timeout_seconds=30)
        url = broker.queues["big"].url
        received = drain_queue(sqs_client, url)
    finally:
        broker.close(timeout_seconds=10)
    assert len(received) == 1 and SIZE_ATTRIBUTE in received[0]["MessageAttributes"]
    assert len(_keys(s3_client, s3_bucket)) == 1


# --- the documentation's example ---------------------------------------------------------------
def test_the_large_messages_page_example_runs(
    sqs_server: SqsServer, sqs_client: Any, s3_client: Any
) -> None:
    # Marked not-run for tests/test_docs_examples.py (not every test server serves S3): run here,
    # as that test runs every block, against the embedded server's S3.
    from tests.test_docs_examples import document_blocks, run_block

    (block,) = [
        b for b in document_blocks(ROOT / "docs" / "large-messages.md") if b.language == "python"
    ]
    assert "large_payload_bucket=" in block.code
    try:
        run_block(block, sqs_server.endpoint_url, sqs_client)
        # The payload went to S3 (the s3_bucket took it), was handled and deleted after its message.
        assert s3_client.list_objects_v2(Bucket="my-large-payloads").get("KeyCount") == 0
    finally:
        for key in _keys(s3_client, "my-large-payloads"):
            s3_client.delete_object(Bucket="my-large-payloads", Key=key)
        s3_client.delete_bucket(Bucket="my-large-payloads")
