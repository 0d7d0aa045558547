"""FakeSQS and the test server agree: each scenario runs against both, unchanged.

The scenarios are the behaviours the producer and the listener rely on: receive limits and
order of hiding, visibility timeouts and receive counts, per-entry batch answers, message
attributes, FIFO groups and deduplication, redrive, long polls, delays and the error codes.
Where SQS itself and moto differ, the fake follows SQS; those cases are in
``tests/test_testing_fake.py``. The server is moto's, or LocalStack in CI's second pass (its
declared deviations, ``tests/servers.py``, are expected where they apply). Timed scenarios wait
with a deadline: LocalStack applies visibility timeouts and delays on a coarser clock.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sqsobs.testing import FakeSQS
from sqsobs.testing._fake_wire import attributes_md5, body_md5
from tests.listener_support import queue_counts
from tests.servers import LOCALSTACK_BATCH_ENTRY_NOT_SENDER_FAULT

NewQueue = Callable[..., str]


@pytest.fixture(params=["fake", "server"])
def sqs(request: pytest.FixtureRequest) -> Any:
    """The same scenario against the in-memory fake and the test server."""
    if request.param == "fake":
        return FakeSQS()
    return request.getfixturevalue("make_client")()


@pytest.fixture
def kind(request: pytest.FixtureRequest, sqs: Any) -> str:
    """``fake``, or the test server's kind (``moto``, ``localstack``)."""
    if isinstance(sqs, FakeSQS):
        return "fake"
    return str(request.getfixturevalue("sqs_server").kind)


@pytest.fixture
def new_queue(sqs: Any, queue_name: str) -> Iterator[NewQueue]:
    created: list[str] = []

    def create(suffix: str = "", **attributes: str) -> str:
        name = f"{queue_name[:60]}{suffix}"
        if attributes.get("FifoQueue") == "true":
            name += ".fifo"
        url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        created.append(url)
        return url

    yield create
    for url in created:
        with contextlib.suppress(Exception):
            sqs.delete_queue(QueueUrl=url)


def receive(sqs: Any, url: str, count: int = 10, **kwargs: Any) -> list[dict[str, Any]]:
    kwargs.setdefault("WaitTimeSeconds", 0)
    answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=count, **kwargs)
    messages: list[dict[str, Any]] = answer.get("Messages", [])
    return messages


def receive_within(sqs: Any, url: str, seconds: float, **kwargs: Any) -> list[dict[str, Any]]:
    """Short polls until a receive returns messages or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while True:
        messages = receive(sqs, url, **kwargs)
        if messages or time.monotonic() > deadline:
            return messages
        time.sleep(0.05)


def send_batch(sqs: Any, url: str, bodies: list[str], **extra: Any) -> list[str]:
    entries = [{"Id": str(i), "MessageBody": body, **extra} for i, body in enumerate(bodies)]
    answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert answer.get("Failed", []) == []
    return [
        entry["MessageId"] for entry in sorted(answer["Successful"], key=lambda e: int(e["Id"]))
    ]


def test_receive_takes_at_most_the_maximum_and_hides_what_it_took(
    sqs: Any, new_queue: NewQueue
) -> None:
    url = new_queue()
    sent = send_batch(sqs, url, [f"m{i}" for i in range(5)])
    first = receive(sqs, url, 3)
    rest = receive(sqs, url, 10)
    assert (len(first), len(rest)) == (3, 2)
    assert {m["MessageId"] for m in first + rest} == set(sent)
    assert all(m["MD5OfBody"] == body_md5(m["Body"]) for m in first + rest)
    assert receive(sqs, url) == []
    assert queue_counts(sqs, url) == (0, 5)


def test_visibility_runs_out_and_the_message_comes_back_counted(
    sqs: Any, new_queue: NewQueue
) -> None:
    url = new_queue()
    (message_id,) = send_batch(sqs, url, ["again"])
    names = {"MessageSystemAttributeNames": ["ApproximateReceiveCount"]}
    (first,) = receive(sqs, url, VisibilityTimeout=1, **names)
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"
    assert receive(sqs, url) == []
    time.sleep(0.9)
    (second,) = receive_within(sqs, url, 3.0, VisibilityTimeout=30, **names)
    assert second["MessageId"] == message_id and second["ReceiptHandle"] != first["ReceiptHandle"]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"


def test_change_visibility_batch_answers_each_entry(
    sqs: Any, kind: str, new_queue: NewQueue
) -> None:
    url = new_queue()
    send_batch(sqs, url, ["a", "b"])
    held = receive(sqs, url, VisibilityTimeout=30)
    answer = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "release", "ReceiptHandle": held[0]["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "extend", "ReceiptHandle": held[1]["ReceiptHandle"], "VisibilityTimeout": 60},
            {"Id": "bogus", "ReceiptHandle": "bogus", "VisibilityTimeout": 0},
        ],
    )
    assert sorted(e["Id"] for e in answer["Successful"]) == ["extend", "release"]
    (failed,) = answer["Failed"]
    # LocalStack marks every failed entry of this call SenderFault=false (a declared deviation).
    sender_fault = kind != LOCALSTACK_BATCH_ENTRY_NOT_SENDER_FAULT.server
    assert (failed["Id"], failed["Code"], failed["SenderFault"]) == (
        "bogus",
        "ReceiptHandleIsInvalid",
        sender_fault,
    )
    (back,) = receive(sqs, url)
    assert back["MessageId"] == held[0]["MessageId"]


def test_delete_batch_answers_each_entry(sqs: Any, new_queue: NewQueue) -> None:
    url = new_queue()
    send_batch(sqs, url, ["a", "b"])
    held = receive(sqs, url, VisibilityTimeout=30)
    answer = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "ok", "ReceiptHandle": held[0]["ReceiptHandle"]},
            {"Id": "bogus", "ReceiptHandle": "bogus"},
        ],
    )
    assert [e["Id"] for e in answer["Successful"]] == ["ok"]
    assert [(e["Id"], e["Code"]) for e in answer["Failed"]] == [("bogus", "ReceiptHandleIsInvalid")]
    assert queue_counts(sqs, url) == (0, 1)


def test_message_attributes_round_trip_as_asked_for(sqs: Any, new_queue: NewQueue) -> None:
    url = new_queue()
    attributes = {
        "traceparent": {
            "DataType": "String",
            "StringValue": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        },
        "amount": {"DataType": "Number", "StringValue": "12.5"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
    sent = sqs.send_message(QueueUrl=url, MessageBody="m", MessageAttributes=attributes)
    assert sent["MD5OfMessageAttributes"] == attributes_md5(attributes)
    (message,) = receive(sqs, url, MessageAttributeNames=["All"], VisibilityTimeout=0)
    assert message["MessageAttributes"] == attributes
    (message,) = receive(sqs, url, MessageAttributeNames=["amount"], VisibilityTimeout=0)
    assert message["MessageAttributes"] == {"amount": attributes["amount"]}
    (message,) = receive(sqs, url)
    assert "MessageAttributes" not in message


def test_a_fifo_group_in_flight_blocks_only_its_group(sqs: Any, new_queue: NewQueue) -> None:
    url = new_queue("-g", FifoQueue="true")
    for body, group in (("a1", "A"), ("a2", "A"), ("b1", "B")):
        sqs.send_message(
            QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body
        )
    (a1,) = receive(sqs, url, 1, VisibilityTimeout=30)
    assert a1["Body"] == "a1"
    assert [m["Body"] for m in receive(sqs, url, VisibilityTimeout=30)] == ["b1"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=a1["ReceiptHandle"])
    names = {"MessageSystemAttributeNames": ["MessageGroupId"]}
    (a2,) = receive(sqs, url, **names)
    assert (a2["Body"], a2["Attributes"]["MessageGroupId"]) == ("a2", "A")


def test_a_fifo_queue_drops_a_repeated_deduplication_id(sqs: Any, new_queue: NewQueue) -> None:
    url = new_queue("-d", FifoQueue="true")
    for body in ("first", "second"):
        sqs.send_message(
            QueueUrl=url, MessageBody=body, MessageGroupId="g", MessageDeduplicationId="same"
        )
    assert [m["Body"] for m in receive(sqs, url)] == ["first"]


def test_a_message_received_too_often_moves_to_the_dead_letter_queue(
    sqs: Any, new_queue: NewQueue
) -> None:
    dlq = new_queue("-dlq")
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]
    policy = json.dumps({"deadLetterTargetArn": arn["QueueArn"], "maxReceiveCount": 2})
    url = new_queue("-src", RedrivePolicy=policy)
    (message_id,) = send_batch(sqs, url, ["poison"])
    for _ in range(2):
        (message,) = receive(sqs, url, VisibilityTimeout=0)
        assert message["MessageId"] == message_id
    assert receive(sqs, url) == []
    (dead,) = receive(sqs, dlq)
    assert (dead["MessageId"], dead["Body"]) == (message_id, "poison")


def test_a_long_poll_returns_once_a_message_arrives(sqs: Any, new_queue: NewQueue) -> None:
    url = new_queue()
    timer = threading.Timer(0.3, lambda: sqs.send_message(QueueUrl=url, MessageBody="late"))
    started = time.monotonic()
    timer.start()
    messages = receive(sqs, url, WaitTimeSeconds=10)
    assert [m["Body"] for m in messages] == ["late"]
    assert 0.2 < time.monotonic() - started < 5


def test_a_delayed_message_waits_its_delay(sqs: Any, new_queue: NewQueue) -> None:
    url = new_queue()
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    assert receive(sqs, url) == []
    time.sleep(0.9)
    assert [m["Body"] for m in receive_within(sqs, url, 3.0)] == ["later"]


def _code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def test_errors_carry_the_same_codes_and_classes(sqs: Any, new_queue: NewQueue) -> None:
    url = new_queue()
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName="does-not-exist-anywhere")
    entry = {"Id": "a", "MessageBody": "m"}
    codes = [
        _code(lambda: sqs.send_message_batch(QueueUrl=url, Entries=[])),
        _code(lambda: sqs.send_message_batch(QueueUrl=url, Entries=[entry] * 2)),
        _code(
            lambda: sqs.send_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "m"} for i in range(11)]
            )
        ),
        _code(lambda: sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)),
        _code(lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle="bogus")),
    ]
    assert codes == [
        "AWS.SimpleQueueService.EmptyBatchRequest",
        "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        "InvalidParameterValue",
        "ReceiptHandleIsInvalid",
    ]
