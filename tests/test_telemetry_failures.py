"""Failures belong on spans: a failed ReceiveMessage is a ``receive`` span with ``error.type``;
per-entry failures of DeleteMessageBatch and ChangeMessageVisibilityBatch mark their span failed;
deletes that ran out of attempts are counted with their ``error.type``.

Per-entry failures are injected with botocore's ``before-send`` hook on a real client: the hook
answers the call itself (nothing reaches the server), as SQS answers an entry it failed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from opentelemetry.trace import StatusCode

from sqsobs import BatchProducer, Listener
from sqsobs.telemetry.catalog import DELETES, POLL_ERRORS
from sqsobs.types import SqsMessage
from tests.conftest import SqsServer
from tests.faultproxy import Fault, FaultProxy
from tests.helpers import wait_for
from tests.listener_support import SqsCalls, send_bodies

FAST = {"wait_time": 1, "idle_sleep_max": 0.0}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class EntryFaults:
    """Answers the next ``calls`` requests of ``operation`` with every entry Failed.

    ``visibility``: only requests whose entries all set this VisibilityTimeout (a release, told
    apart from the heartbeat's extensions of the same message).
    """

    def __init__(
        self,
        client: Any,
        operation: str,
        *,
        calls: int,
        code: str,
        sender_fault: bool,
        visibility: int | None = None,
    ) -> None:
        self.visibility = visibility
        self.remaining = calls
        self.answered = 0
        self.code = code
        self.sender_fault = sender_fault
        self.lock = threading.Lock()
        client.meta.events.register(f"before-send.sqs.{operation}", self._before_send)

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        entries = json.loads(request.body)["Entries"]
        if self.visibility is not None and any(
            e.get("VisibilityTimeout") != self.visibility for e in entries
        ):
            return None
        with self.lock:
            if self.remaining == 0:
                return None
            self.remaining -= 1
            self.answered += 1
        failed = [
            {"Id": e["Id"], "Code": self.code, "SenderFault": self.sender_fault, "Message": "x"}
            for e in entries
        ]
        body = json.dumps({"Successful": [], "Failed": failed}).encode()
        headers: Any = {
            "Content-Type": "application/x-amz-json-1.0",
            "Content-Length": str(len(body)),
            "x-amzn-requestid": f"injected-{self.answered}",
        }
        return AWSResponse(request.url, 200, headers, _Raw(body))


def spans_named(otel: Any, name: str) -> list[Any]:
    return [span for span in otel.spans() if span.name == name]


def test_a_failed_receive_is_a_receive_span_with_its_error_type(
    sqs_server: SqsServer, make_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    with FaultProxy(sqs_server.endpoint_url, seed=7) as proxy:
        throttled = proxy.add(Fault("throttle", operations={"ReceiveMessage"}, count=2))
        client = make_client(endpoint_url=proxy.endpoint_url)
        with Listener(lambda m: True, queue_url=queue_url, client=client, **FAST):
            assert wait_for(lambda: throttled.applied == 2, timeout=10)
            assert wait_for(lambda: proxy.count("ReceiveMessage") >= 1, timeout=10)
    failed = [
        span
        for span in spans_named(otel, f"receive {queue_name}")
        if span.status.status_code is StatusCode.ERROR
    ]
    assert len(failed) == 2
    for span in failed:
        assert span.attributes["error.type"] == "ThrottlingException"
        assert span.attributes["messaging.operation.type"] == "receive"
        assert span.end_time > span.start_time
    errors = otel.total(POLL_ERRORS.name, **{"messaging.destination.name": queue_name})
    assert errors == 2


def test_delete_entries_failing_mark_the_span_and_are_counted_when_attempts_run_out(
    make_client: Any, sqs_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    send_bodies(sqs_client, queue_url, ["a", "b"])
    client = make_client()
    # Every attempt (the acker makes 3) fails on SQS's side: retryable, then out of attempts.
    faults = EntryFaults(
        client, "DeleteMessageBatch", calls=3, code="InternalError", sender_fault=False
    )
    handled: list[str] = []

    def handler(message: SqsMessage) -> bool:
        handled.append(message.body)
        return True

    with Listener(handler, queue_url=queue_url, mode="per_message", client=client, **FAST):
        assert wait_for(lambda: faults.answered == 3, timeout=10)
        time.sleep(0.2)  # the acker books the last answer
    deletes = spans_named(otel, f"delete {queue_name}")
    assert len(deletes) >= 3
    for span in deletes[:3]:
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"] == "InternalError"
        assert (
            span.attributes["sqsobs.delete.failed_count"]
            == span.attributes["messaging.batch.message_count"]
        )
        assert span.attributes["aws.request_id"].startswith("injected-")
    queue = {"messaging.destination.name": queue_name}
    assert otel.total(DELETES.name, **queue, **{"error.type": "InternalError"}) == 2
    assert sorted(handled) == ["a", "b"]


def test_release_entries_failing_mark_the_span(
    make_client: Any, sqs_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    send_bodies(sqs_client, queue_url, ["skip"])
    client = make_client()
    faults = EntryFaults(
        client,
        "ChangeMessageVisibilityBatch",
        calls=1,
        code="ReceiptHandleIsInvalid",
        sender_fault=True,
        visibility=7,  # the filtered message's release: retry_backoff_base below
    )
    sqs = SqsCalls(client)
    with Listener(
        lambda m: True,
        queue_url=queue_url,
        filter_fn=lambda m: False,
        retry_backoff_base=7,
        client=sqs.client,
        **FAST,
    ):
        assert wait_for(lambda: faults.answered == 1, timeout=10)
        time.sleep(0.2)
    (release, *_) = spans_named(otel, f"release {queue_name}")
    assert release.status.status_code is StatusCode.ERROR
    assert release.attributes["error.type"] == "ReceiptHandleIsInvalid"
    assert release.attributes["sqsobs.release.failed_count"] == 1


def test_heartbeat_entries_failing_mark_the_span(
    make_client: Any, sqs_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    send_bodies(sqs_client, queue_url, ["slow"])
    client = make_client()
    faults = EntryFaults(
        client, "ChangeMessageVisibilityBatch", calls=1, code="InternalError", sender_fault=False
    )
    sqs = SqsCalls(client)

    def handler(message: SqsMessage) -> bool:
        time.sleep(1.6)  # past half the 2 s visibility timeout: the heartbeat extends it
        return True

    with Listener(
        handler,
        queue_url=queue_url,
        mode="per_message",
        visibility_secs=2,
        client=sqs.client,
        **FAST,
    ):
        assert wait_for(lambda: sqs.deleted == 1, timeout=10)
    heartbeats = spans_named(otel, f"heartbeat {queue_name}")
    assert faults.answered == 1
    failed = [s for s in heartbeats if s.status.status_code is StatusCode.ERROR]
    assert len(failed) == 1
    assert failed[0].attributes["error.type"] == "InternalError"
    assert failed[0].attributes["sqsobs.heartbeat.failed_count"] == 1


@pytest.fixture
def producer_client(make_client: Any) -> Any:
    return make_client()


def test_a_send_with_failed_entries_is_still_marked_as_before(
    producer_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    """The sender already did this; the settle spans now do the same."""
    EntryFaults(
        producer_client,
        "SendMessageBatch",
        calls=1,
        code="InvalidParameterValue",
        sender_fault=True,
    )
    with BatchProducer(producer_client, flush_at_exit=False) as producer:
        future = producer.send(queue_url, "refused")
        assert future.exception(10) is not None
    (send,) = spans_named(otel, f"send {queue_name}")
    assert send.status.status_code is StatusCode.ERROR
    assert send.attributes["error.type"] == "InvalidParameterValue"
    assert send.attributes["aws.request_id"] == "injected-1"
