"""BatchSQSBroker's workers and large payloads, against the test server's SQS and S3: a pointer
is resolved before the message is decoded, the S3 object goes after the SQS delete, a fetch that
fails leaves the message for redelivery (counted, logged without the body), a nack keeps the
object for the dead-letter copy, and a body that does not decode is never logged."""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import dramatiq
import pytest

from sqsobs._payloads._pointer import SIZE_ATTRIBUTE, PayloadPointer
from sqsobs.dramatiq import BatchSQSBroker
from sqsobs.telemetry.catalog import (
    PAYLOADS_DELETED,
    PAYLOADS_FETCHED,
    PAYLOADS_FETCHED_BYTES,
    UNDECODABLE,
)
from tests.conftest import REGION, OtelCapture, SqsServer
from tests.helpers import wait_for
from tests.listener_support import queue_counts
from tests.test_dramatiq_broker import running_worker

KIB = 1024
BrokerFactory = Callable[..., BatchSQSBroker]


def _keys(s3_client: Any, s3_bucket: str) -> list[str]:
    return [item["Key"] for item in s3_client.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]


@pytest.fixture
def make_broker(
    sqs_server: SqsServer, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BrokerFactory]:
    # The broker's S3 clients (producer and workers) find the test server's S3 here.
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", sqs_server.endpoint_url)
    brokers: list[BatchSQSBroker] = []

    def factory(**kwargs: Any) -> BatchSQSBroker:
        kwargs.setdefault("namespace", f"dq{uuid.uuid4().hex[:8]}")
        broker = BatchSQSBroker(
            endpoint_url=sqs_server.endpoint_url, region_name=REGION,
            large_payload_bucket=s3_bucket, flush_at_exit=False, default_batch_interval=0.05,
            **kwargs,
        )  # fmt: skip
        brokers.append(broker)
        return broker

    yield factory
    for broker in brokers:
        broker.close(timeout_seconds=10)
        for queue in [*broker.queues.values(), *broker.dead_letter_queues.values()]:
            with contextlib.suppress(Exception):
                queue.delete()


def _our_logs(caplog: pytest.LogCaptureFixture) -> str:
    """Every record of dramatiq, dramatiq-sqs and sqsobs, formatted with its traceback (boto3's
    own DEBUG records show whole responses)."""
    ours = [r for r in caplog.records if r.name.startswith(("dramatiq", "sqsobs"))]
    return "\n".join(caplog.handler.format(r) for r in ours)


def _setter(event: threading.Event) -> Callable[[], None]:
    def run() -> None:
        event.set()

    return run


def _send_one(broker: Any, name: str, fn: Callable[..., Any], *args: Any, **options: Any) -> None:
    """Declare actor ``name`` on queue ``name`` running ``fn``, send it ``args`` and flush."""
    actor = dramatiq.actor(broker=broker, actor_name=name, queue_name=name, **options)(fn)
    actor.send(*args)
    assert broker.flush_all(timeout_seconds=30)


def _count(client: Any, url: str) -> int:
    """Messages on the queue, visible or in flight."""
    return sum(queue_counts(client, url))


@pytest.mark.parametrize(
    ("settings", "size"),
    [
        pytest.param({"always_offload": True}, 20, id="small-always-offloaded"),
        pytest.param({"large_payload_threshold_bytes": 256 * KIB}, 300 * KIB, id="over-256KiB"),
    ],
)
def test_worker_runs_an_offloaded_message_once_then_deletes_it_and_its_object(
    settings: dict[str, Any],
    size: int,
    *,
    make_broker: BrokerFactory,
    sqs_client: Any,
    s3_client: Any,
    s3_bucket: str,
    otel: OtelCapture,
) -> None:
    broker = make_broker(**settings)
    calls: list[tuple[str, dict[str, Any]]] = []

    def work(text: str, extra: dict[str, Any]) -> None:
        calls.append((text, extra))

    actor = dramatiq.actor(broker=broker, actor_name="work", queue_name="big", max_retries=0)(work)
    text = ("0123456789abcdef" * (size // 16 + 1))[:size]
    actor.send(text, {"n": 7})
    assert broker.flush_all(timeout_seconds=30)
    assert len(_keys(s3_client, s3_bucket)) == 1  # it went to S3
    url = broker.queues["big"].url
    with running_worker(broker):
        assert wait_for(lambda: len(calls) >= 1, timeout=30), "the actor never ran"
        assert wait_for(lambda: _keys(s3_client, s3_bucket) == [], timeout=20)
        assert wait_for(lambda: _count(sqs_client, url) == 0, timeout=20)
    assert calls == [(text, {"n": 7})]  # once, with the whole arguments
    name = {"messaging.destination.name": f"{broker.namespace}_big"}
    assert otel.total(PAYLOADS_FETCHED.name, **name) == 1
    assert otel.total(PAYLOADS_FETCHED_BYTES.name, **name) > size
    assert otel.total(PAYLOADS_DELETED.name, **name) == 1
    gets = [s for s in otel.spans() if s.name == "S3.GetObject"]
    creates = [s for s in otel.spans() if s.name == f"create {broker.namespace}_big"]
    processes = [s for s in otel.spans() if s.name == f"process {broker.namespace}_big"]
    assert len(gets) == 1 and len(creates) == 1 and len(processes) == 1
    # The fetch is in the message's trace, as the worker's process span is.
    assert gets[0].context.trace_id == creates[0].context.trace_id
    assert processes[0].context.trace_id == creates[0].context.trace_id


def test_the_object_is_deleted_after_the_sqs_delete(
    make_broker: BrokerFactory, sqs_server: SqsServer, s3_client: Any, s3_bucket: str
) -> None:
    order: list[str] = []
    watched = boto3.session.Session().client(
        "s3", endpoint_url=sqs_server.endpoint_url, region_name=REGION
    )
    watched.meta.events.register("before-call.s3.DeleteObject", lambda **_: order.append("s3"))
    broker = make_broker(always_offload=True, s3_client=watched)
    broker.sqs.meta.client.meta.events.register(
        "after-call.sqs.DeleteMessage", lambda **_: order.append("sqs")
    )
    done = threading.Event()
    _send_one(broker, "ordered", _setter(done))
    with running_worker(broker):
        assert done.wait(30)
        assert wait_for(lambda: "s3" in order, timeout=20)
    assert order == ["sqs", "s3"]
    assert _keys(s3_client, s3_bucket) == []


def test_objects_are_kept_when_asked(
    make_broker: BrokerFactory, s3_client: Any, s3_bucket: str, sqs_client: Any
) -> None:
    broker = make_broker(always_offload=True, delete_large_payloads=False)
    assert broker.delete_large_payloads is False
    done = threading.Event()
    _send_one(broker, "kept", _setter(done))
    with running_worker(broker):
        assert done.wait(30)
        assert wait_for(lambda: _count(sqs_client, broker.queues["kept"].url) == 0, timeout=20)
    assert len(_keys(s3_client, s3_bucket)) == 1


def test_delete_large_payloads_has_the_listeners_default_and_variable(
    make_broker: BrokerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqsobs.listener import ListenerSettings

    assert make_broker().delete_large_payloads is ListenerSettings().delete_large_payloads is True
    monkeypatch.setenv("SQSOBS_DELETE_LARGE_PAYLOADS", "0")
    assert make_broker().delete_large_payloads is False


def test_a_missing_object_leaves_the_message_for_redelivery_counted_and_logged(
    *,
    make_broker: BrokerFactory,
    s3_client: Any,
    s3_bucket: str,
    sqs_client: Any,
    otel: OtelCapture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = make_broker(always_offload=True)
    broker.failed_copy_visibility_seconds = 1
    calls: list[str] = []
    _send_one(broker, "lost", calls.append, "secret-argument")
    (key,) = _keys(s3_client, s3_bucket)
    s3_client.delete_object(Bucket=s3_bucket, Key=key)
    name = {"messaging.destination.name": f"{broker.namespace}_lost", "error.type": "NoSuchKey"}
    with caplog.at_level(logging.INFO), running_worker(broker):
        # Made visible again soon (not after the 12-hour visibility): fetched a second time.
        assert wait_for(lambda: otel.total(PAYLOADS_FETCHED.name, **name) >= 2, timeout=30)
    assert calls == []
    assert _count(sqs_client, broker.queues["lost"].url) == 1  # still there, for its DLQ
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(key in r.getMessage() and "NoSuchKey" in r.getMessage() for r in errors)
    assert "secret-argument" not in _our_logs(caplog)
    assert not any("Failed to decode" in r.getMessage() for r in caplog.records)


def test_a_nack_keeps_the_object_for_the_dead_letter_copy(
    make_broker: BrokerFactory, s3_client: Any, s3_bucket: str, sqs_client: Any
) -> None:
    broker = make_broker(always_offload=True, dead_letter=True)
    tries: list[int] = []

    def fail(n: int) -> None:
        tries.append(n)
        raise RuntimeError("always")

    _send_one(broker, "fails", fail, 5, max_retries=0)
    dlq = broker.dead_letter_queues["fails"].url
    with running_worker(broker):
        assert wait_for(lambda: _count(sqs_client, dlq) == 1, timeout=30)
        assert wait_for(lambda: _count(sqs_client, broker.queues["fails"].url) == 0, timeout=20)
    assert tries == [5]
    received = sqs_client.receive_message(
        QueueUrl=dlq, MessageAttributeNames=["All"], WaitTimeSeconds=1
    )["Messages"]
    # The copy is an extended-client message whose object is still there.
    assert SIZE_ATTRIBUTE in received[0].get("MessageAttributes", {})
    pointer = PayloadPointer.from_body(received[0]["Body"])
    assert _keys(s3_client, s3_bucket) == [pointer.key]


def test_a_nack_without_a_dead_letter_queue_deletes_the_object(
    make_broker: BrokerFactory, s3_client: Any, s3_bucket: str, sqs_client: Any
) -> None:
    broker = make_broker(always_offload=True)
    tries: list[int] = []

    def fail(n: int) -> None:
        tries.append(n)
        raise RuntimeError("always")

    _send_one(broker, "gone", fail, 5, max_retries=0)
    with running_worker(broker):
        assert wait_for(lambda: tries == [5], timeout=30)
        assert wait_for(lambda: _keys(s3_client, s3_bucket) == [], timeout=20)
    assert _count(sqs_client, broker.queues["gone"].url) == 0


def test_a_body_that_does_not_decode_is_counted_and_logged_without_the_body(
    make_broker: BrokerFactory,
    sqs_client: Any,
    otel: OtelCapture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = make_broker()
    calls: list[int] = []
    _send_one(broker, "odd", calls.append, 1)
    url = broker.queues["odd"].url
    sent = sqs_client.send_message(QueueUrl=url, MessageBody="not-base64 hunter2-secret")
    with caplog.at_level(logging.DEBUG), running_worker(broker):
        assert wait_for(lambda: calls == [1], timeout=30)
        assert wait_for(
            lambda: any(sent["MessageId"] in r.getMessage() for r in caplog.records), timeout=20
        )
    assert "hunter2" not in _our_logs(caplog)  # messages and tracebacks
    assert _count(sqs_client, url) == 1  # left for the redrive policy, as before
    # Counted, with a low-cardinality reason, not only logged.
    odd = {"messaging.destination.name": f"{broker.namespace}_odd"}
    assert otel.total(UNDECODABLE.name, **odd) >= 1
    reasons = {p.attributes.get("error.type") for p in otel.points(UNDECODABLE.name, **odd)}
    assert reasons == {"Error"}
