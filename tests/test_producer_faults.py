"""Injected SendMessageBatch faults on a real client (botocore's ``before-send`` hook): throttling
and 5xx are retried until delivered; SenderFault entries fail at once; FIFO order survives retries.

The hook answers some calls itself (the request never reaches the server) and, for partial
failures, forwards the request without the entries it fails, then adds them to ``Failed``: what
the server stores is exactly what the client was told succeeded.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from sqsobs import BatchProducer, FailedMessage, SendFailed
from tests.helpers import drain_queue

Entry = dict[str, Any]


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _response(url: str, status: int, payload: dict[str, Any], **headers: str) -> AWSResponse:
    body = json.dumps(payload).encode()
    all_headers: Any = {
        "Content-Type": "application/x-amz-json-1.0",
        "Content-Length": str(len(body)),
        **headers,
    }
    return AWSResponse(url, status, all_headers, _Raw(body))


class BatchFaults:
    """Per-call plan for SendMessageBatch on one client; records every request's entries."""

    def __init__(self, client: Any) -> None:
        #: One action per call, in order; None lets a call through.
        self.plan: list[Callable[[Any, list[Entry]], AWSResponse | None] | None] = []
        self.requests: list[list[Entry]] = []
        self.lock = threading.Lock()
        client.meta.events.register("before-send.sqs.SendMessageBatch", self._before_send)

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        entries: list[Entry] = json.loads(request.body)["Entries"]
        with self.lock:
            self.requests.append(entries)
            action = self.plan.pop(0) if self.plan else None
        return None if action is None else action(request, entries)

    @staticmethod
    def error(status: int, code: str) -> Callable[[Any, list[Entry]], AWSResponse]:
        def answer(request: Any, entries: list[Entry]) -> AWSResponse:
            return _response(
                request.url,
                status,
                {"__type": code, "message": "injected"},
                **{"x-amzn-query-error": f"{code};{'Sender' if status < 500 else 'Receiver'}"},
            )

        return answer

    @staticmethod
    def fail_entries(
        pick: Callable[[int, Entry], bool], *, code: str, sender_fault: bool
    ) -> Callable[[Any, list[Entry]], AWSResponse]:
        """Forward the entries ``pick(index, entry)`` rejects; report the picked ones as Failed."""

        def answer(request: Any, entries: list[Entry]) -> AWSResponse:
            failed = [e for i, e in enumerate(entries) if pick(i, e)]
            kept = [e for i, e in enumerate(entries) if not pick(i, e)]
            result: dict[str, Any] = {"Successful": [], "Failed": []}
            if kept:
                payload = json.loads(request.body)
                payload["Entries"] = kept
                body = json.dumps(payload).encode()
                headers = {
                    k: v for k, v in request.headers.items() if k.lower() != "content-length"
                }
                forwarded = urllib.request.Request(request.url, data=body, headers=headers)
                with urllib.request.urlopen(forwarded, timeout=10) as answer_:
                    result = json.loads(answer_.read())
                    result.setdefault("Failed", [])
            for entry in failed:
                result["Failed"].append(
                    {
                        "Id": entry["Id"],
                        "SenderFault": sender_fault,
                        "Code": code,
                        "Message": "injected",
                    }
                )
            return _response(request.url, 200, result)

        return answer


@pytest.fixture
def faulty(make_client: Any) -> tuple[Any, BatchFaults]:
    client = make_client()
    return client, BatchFaults(client)


def _bodies(messages: list[dict[str, Any]]) -> list[str]:
    return [m["Body"] for m in messages]


def test_throttling_and_5xx_are_retried_until_delivered(
    faulty: tuple[Any, BatchFaults], sqs_client: Any, queue_url: str, otel: Any
) -> None:
    client, faults = faulty
    faults.plan = [
        faults.error(500, "InternalError"),
        faults.error(400, "ThrottlingException"),
        faults.error(503, "ServiceUnavailable"),
    ]
    producer = BatchProducer(
        client,
        default_batch_interval=0.05,
        retry_backoff_base_seconds=0.01,
        max_retry_attempts=3,
        flush_at_exit=False,
    )
    try:
        futures = [producer.send(queue_url, f"m-{i}") for i in range(10)]
        ids = [f.result(timeout=20) for f in futures]
    finally:
        producer.close()
    assert len(set(ids)) == 10
    assert len(faults.requests) == 4  # three injected failures, then the real send
    assert sorted(_bodies(drain_queue(sqs_client, queue_url))) == sorted(
        f"m-{i}" for i in range(10)
    )
    name = queue_url.rsplit("/", 1)[-1]
    stats = producer.get_queue_status(queue_url)
    assert stats["messages_sent"] == 10
    assert stats["messages_retried"] == 30
    assert stats["messages_failed"] == 0
    dest = {"messaging.destination.name": name}
    assert otel.total("sqsobs.producer.retries", **dest) == 30
    for kind in ("InternalError", "ThrottlingException", "ServiceUnavailable"):
        assert otel.total("sqsobs.producer.retries", **dest, **{"error.type": kind}) == 10
    retry_spans = [s for s in otel.spans() if s.name == f"retry {name}"]
    assert sorted(s.attributes["sqsobs.retry.attempt"] for s in retry_spans) == [1, 2, 3]
    assert all(s.attributes["sqsobs.retry.backoff_seconds"] >= 0 for s in retry_spans)
    failed_sends = [s for s in otel.spans() if s.name == f"send {name}" and s.status.is_ok is False]
    assert {s.attributes["error.type"] for s in failed_sends} == {
        "InternalError",
        "ThrottlingException",
        "ServiceUnavailable",
    }


def test_sender_fault_entries_fail_at_once_and_are_reported(
    faulty: tuple[Any, BatchFaults], sqs_client: Any, queue_url: str, otel: Any
) -> None:
    client, faults = faulty
    bad = {"m-3", "m-7"}
    faults.plan = [
        faults.fail_entries(
            lambda _, e: e["MessageBody"] in bad, code="InvalidParameterValue", sender_fault=True
        )
    ]
    reported: list[FailedMessage] = []
    producer = BatchProducer(
        client, default_batch_interval=0.05, on_failure=reported.append, flush_at_exit=False
    )
    try:
        futures = {f"m-{i}": producer.send(queue_url, f"m-{i}") for i in range(10)}
        producer.flush(timeout=10)
    finally:
        producer.close()
    for body, future in futures.items():
        if body in bad:
            error = future.exception(timeout=5)
            assert isinstance(error, SendFailed)
            assert error.sender_fault and error.code == "InvalidParameterValue"
            assert error.attempts == 1
        else:
            assert future.result(timeout=5)
    assert len(faults.requests) == 1  # not retried
    assert sorted(r.entry["MessageBody"] for r in reported) == sorted(bad)
    assert all(r.retry_count == 0 and r.queue == queue_url for r in reported)
    assert sorted(_bodies(drain_queue(sqs_client, queue_url))) == sorted(set(futures) - bad)
    name = queue_url.rsplit("/", 1)[-1]
    kind = {"messaging.destination.name": name, "error.type": "InvalidParameterValue"}
    assert otel.total("sqsobs.producer.messages.failed", **kind) == 2
    assert otel.total("messaging.client.sent.messages", **kind) == 2
    assert producer.get_queue_status(queue_url)["messages_failed"] == 2


def test_retryable_entries_retried_then_exhausted(
    faulty: tuple[Any, BatchFaults], sqs_client: Any, queue_url: str
) -> None:
    client, faults = faulty
    always = faults.fail_entries(
        lambda _, e: e["MessageBody"] == "doomed", code="InternalError", sender_fault=False
    )
    both = faults.fail_entries(
        lambda _, e: e["MessageBody"] in {"late", "doomed"},
        code="InternalError",
        sender_fault=False,
    )
    faults.plan = [both, always, always]
    reported: list[FailedMessage] = []
    producer = BatchProducer(
        client,
        default_batch_interval=0.05,
        retry_backoff_base_seconds=0.01,
        max_retry_attempts=2,
        on_failure=reported.append,
        flush_at_exit=False,
    )
    try:
        late = producer.send(queue_url, "late")
        doomed = producer.send(queue_url, "doomed")
        fine = producer.send(queue_url, "fine")
        assert late.result(timeout=10) and fine.result(timeout=10)
        error = doomed.exception(timeout=10)
    finally:
        producer.close()
    assert isinstance(error, SendFailed) and error.attempts == 3 and not error.sender_fault
    assert [r.entry["MessageBody"] for r in reported] == ["doomed"]
    assert reported[0].retry_count == 2
    assert reported[0].first_failure_time <= reported[0].last_failure_time
    status = producer.get_queue_status(queue_url)
    assert status["retry_exhausted_count"] == 1 and status["messages_sent"] == 2
    assert sorted(_bodies(drain_queue(sqs_client, queue_url))) == ["fine", "late"]


def test_fifo_order_within_groups_survives_failures_and_retries(
    faulty: tuple[Any, BatchFaults], sqs_client: Any, make_queue: Any
) -> None:
    client, faults = faulty
    url = make_queue(fifo=True, ContentBasedDeduplication="true")
    # Fail whole calls and the tail of a batch (from its 4th entry on): retried entries must
    # still reach SQS before anything later in their group.
    tail = faults.fail_entries(
        lambda index, _: index >= 4, code="InternalError", sender_fault=False
    )
    faults.plan = [
        None,
        faults.error(500, "InternalError"),
        tail,
        None,
        faults.error(400, "ThrottlingException"),
        tail,
    ]
    producer = BatchProducer(
        client, default_batch_interval=0.02, retry_backoff_base_seconds=0.01, flush_at_exit=False
    )
    groups = {"a": 40, "b": 30, "c": 20}
    try:
        futures = []
        for i in range(40):
            for group, count in groups.items():
                if i < count:
                    futures.append(producer.send(url, f"{group}-{i:03d}", group_id=group))
        assert all(f.result(timeout=30) for f in futures)
    finally:
        producer.close()
    assert producer.get_queue_status(url)["messages_retried"] > 0
    received = _bodies(drain_queue(sqs_client, url))
    assert len(received) == sum(groups.values())
    for group, count in groups.items():
        assert [b for b in received if b.startswith(group)] == [
            f"{group}-{i:03d}" for i in range(count)
        ]
