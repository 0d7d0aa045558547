"""FakeSQS, the in-memory SQS that is a boto3 client: SQS's rules, answered as boto3 answers.

What moto does not do (or does differently from SQS) is checked here; what both should do alike
is run against both in ``tests/test_testing_agreement.py``.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sqsobs.errors import QueueDoesNotExist, translate_client_error
from sqsobs.testing import FakeSQS


def _code(caught: pytest.ExceptionInfo[ClientError]) -> str:
    return str(caught.value.response["Error"]["Code"])


@pytest.fixture
def sqs() -> FakeSQS:
    return FakeSQS()


@pytest.fixture
def url(sqs: FakeSQS) -> str:
    return str(sqs.create_queue(QueueName="orders")["QueueUrl"])


def _receive(sqs: FakeSQS, url: str, **kwargs: Any) -> list[dict[str, Any]]:
    kwargs.setdefault("MaxNumberOfMessages", 10)
    messages: list[dict[str, Any]] = sqs.receive_message(QueueUrl=url, **kwargs).get("Messages", [])
    return messages


def test_errors_are_botocores_with_sqs_codes(sqs: FakeSQS) -> None:
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as caught:
        sqs.get_queue_url(QueueName="missing")
    assert isinstance(caught.value, ClientError)
    assert _code(caught) == "AWS.SimpleQueueService.NonExistentQueue"
    assert caught.value.operation_name == "GetQueueUrl"
    assert isinstance(translate_client_error(caught.value), QueueDoesNotExist)


def test_urls_arns_and_attributes(sqs: FakeSQS, url: str) -> None:
    assert url == "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
    assert sqs.get_queue_url(QueueName="orders")["QueueUrl"] == url
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["QueueArn"] == "arn:aws:sqs:us-east-1:123456789012:orders"
    assert (attributes["VisibilityTimeout"], attributes["MaximumMessageSize"]) == ("30", "1048576")
    named = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MaximumMessageSize"])
    assert named["Attributes"] == {"MaximumMessageSize": "1048576"}
    with pytest.raises(ClientError) as caught:
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Bogus"])
    assert _code(caught) == "InvalidAttributeName"
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "5"})
    assert sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "5"})["QueueUrl"]
    with pytest.raises(sqs.exceptions.QueueNameExists):
        sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "7"})
    assert sqs.list_queues(QueueNamePrefix="ord")["QueueUrls"] == [url]
    sqs.delete_queue(QueueUrl=url)
    assert "QueueUrls" not in sqs.list_queues()


@pytest.mark.parametrize(
    ("name", "attributes"),
    [("bad name", {}), ("x" * 81, {}), ("plain", {"FifoQueue": "true"}), ("f.fifo", {})],
)
def test_create_queue_checks_names_and_fifo_as_sqs(
    sqs: FakeSQS, name: str, attributes: dict[str, str]
) -> None:
    with pytest.raises(ClientError) as caught:
        sqs.create_queue(QueueName=name, Attributes=attributes)
    assert _code(caught) == "InvalidParameterValue"


def test_a_stale_receipt_handle_deletes_nothing_and_a_bogus_one_is_refused(
    sqs: FakeSQS, url: str
) -> None:
    sqs.send_message(QueueUrl=url, MessageBody="once")
    (first,) = _receive(sqs, url, VisibilityTimeout=0)
    (second,) = _receive(sqs, url, VisibilityTimeout=30)
    assert first["ReceiptHandle"] != second["ReceiptHandle"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])  # accepted...
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "1"  # ... and not deleted
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="bogus")
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"])  # idempotent


def test_visibility_of_a_message_not_in_flight_cannot_change(sqs: FakeSQS, url: str) -> None:
    sqs.send_message(QueueUrl=url, MessageBody="m")
    (message,) = _receive(sqs, url, VisibilityTimeout=1)
    sqs.advance(2)  # its visibility ran out: visible again, not in flight
    with pytest.raises(sqs.exceptions.MessageNotInflight):
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=10
        )
    answer = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[{"Id": "a", "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 10}],
    )
    assert answer["Failed"][0]["Code"] == "AWS.SimpleQueueService.MessageNotInflight"


def test_advance_runs_out_delays_and_visibility_without_sleeping(sqs: FakeSQS, url: str) -> None:
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=600)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    assert _receive(sqs, url) == []
    sqs.advance(600)
    (message,) = _receive(sqs, url, VisibilityTimeout=3600, AttributeNames=["All"])
    sqs.advance(3599)
    assert _receive(sqs, url) == []
    sqs.advance(1)
    (again,) = _receive(sqs, url, AttributeNames=["ApproximateReceiveCount"])
    assert again["MessageId"] == message["MessageId"]
    assert again["Attributes"] == {"ApproximateReceiveCount": "2"}


def test_a_long_poll_wakes_for_a_message_and_a_clock_move(sqs: FakeSQS, url: str) -> None:
    timer = threading.Timer(0.2, lambda: sqs.send_message(QueueUrl=url, MessageBody="late"))
    started = time.monotonic()
    timer.start()
    (message,) = _receive(sqs, url, WaitTimeSeconds=10)
    assert message["Body"] == "late" and time.monotonic() - started < 5
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=900)
    threading.Timer(0.2, sqs.advance, args=(900,)).start()
    started = time.monotonic()
    (message,) = _receive(sqs, url, WaitTimeSeconds=10)
    assert message["Body"] == "delayed" and time.monotonic() - started < 5


def test_fail_next_answers_the_next_calls_with_the_given_error(sqs: FakeSQS, url: str) -> None:
    sqs.fail_next("SendMessageBatch", "RequestThrottled", times=2)
    sqs.fail_next("ReceiveMessage", ConnectionResetError("reset"))
    entries = [{"Id": "1", "MessageBody": "m"}]
    for _ in range(2):
        with pytest.raises(sqs.exceptions.RequestThrottled):
            sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]
    with pytest.raises(ConnectionResetError):
        _receive(sqs, url)
    assert len(_receive(sqs, url)) == 1
    assert sqs.calls["SendMessageBatch"] == 3 and sqs.calls["ReceiveMessage"] == 2
    sqs.fail_next("GetQueueUrl", "InternalError")
    with pytest.raises(ClientError) as caught:
        sqs.get_queue_url(QueueName="orders")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert translate_client_error(caught.value).retryable


def test_messages_sqs_would_refuse_fail_per_entry(sqs: FakeSQS, url: str) -> None:
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": "1024"})
    bad_name = {"a b": {"DataType": "String", "StringValue": "v"}}
    answer = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "ok", "MessageBody": "fine"},
            {"Id": "big", "MessageBody": "x" * 1025},
            {"Id": "nul", "MessageBody": "a\x00b"},
            {"Id": "attr", "MessageBody": "b", "MessageAttributes": bad_name},
        ],
    )
    assert [s["Id"] for s in answer["Successful"]] == ["ok"]
    failed = {f["Id"]: (f["Code"], f["SenderFault"]) for f in answer["Failed"]}
    assert failed == {
        "big": ("InvalidParameterValue", True),
        "nul": ("InvalidMessageContents", True),
        "attr": ("InvalidParameterValue", True),
    }


def test_batch_requests_are_checked_as_a_whole(sqs: FakeSQS, url: str) -> None:
    cases = {
        "AWS.SimpleQueueService.EmptyBatchRequest": [],
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest": [
            {"Id": str(i), "MessageBody": "m"} for i in range(11)
        ],
        "AWS.SimpleQueueService.BatchEntryIdsNotDistinct": [{"Id": "a", "MessageBody": "m"}] * 2,
        "AWS.SimpleQueueService.InvalidBatchEntryId": [{"Id": "a b", "MessageBody": "m"}],
        "AWS.SimpleQueueService.BatchRequestTooLong": [
            {"Id": str(i), "MessageBody": "x" * 200_000} for i in range(6)
        ],
    }
    for code, entries in cases.items():
        with pytest.raises(ClientError) as caught:
            sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert _code(caught) == code
    with pytest.raises(ClientError) as caught:
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    assert _code(caught) == "InvalidParameterValue"


def test_fifo_needs_a_group_and_a_deduplication_id_and_keeps_the_first(sqs: FakeSQS) -> None:
    url = sqs.create_queue(QueueName="jobs.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    with pytest.raises(ClientError) as caught:
        sqs.send_message(QueueUrl=url, MessageBody="m", MessageDeduplicationId="d")
    assert _code(caught) == "MissingParameter"
    with pytest.raises(ClientError) as caught:
        sqs.send_message(QueueUrl=url, MessageBody="m", MessageGroupId="g")
    assert "ContentBasedDeduplication" in caught.value.response["Error"]["Message"]
    ids = {"MessageGroupId": "g", "MessageDeduplicationId": "d"}
    first = sqs.send_message(QueueUrl=url, MessageBody="1", **ids)
    again = sqs.send_message(QueueUrl=url, MessageBody="2", **ids)
    assert again["MessageId"] == first["MessageId"] and first["SequenceNumber"]
    (message,) = _receive(sqs, url, AttributeNames=["All"])
    assert message["Body"] == "1"
    assert message["Attributes"]["SequenceNumber"] == first["SequenceNumber"]
    sqs.advance(300)  # the deduplication interval is over
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    sqs.send_message(QueueUrl=url, MessageBody="3", **ids)
    assert [m["Body"] for m in _receive(sqs, url)] == ["3"]


def test_system_attributes_and_trace_header_round_trip_in_a_batch(sqs: FakeSQS, url: str) -> None:
    header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    entry = {
        "Id": "1",
        "MessageBody": "m",
        "MessageSystemAttributes": {
            "AWSTraceHeader": {"DataType": "String", "StringValue": header}
        },
        "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "7"}},
    }
    sqs.send_message_batch(QueueUrl=url, Entries=[entry])
    (message,) = _receive(sqs, url, MessageSystemAttributeNames=["AWSTraceHeader", "SentTimestamp"])
    assert message["Attributes"]["AWSTraceHeader"] == header
    assert set(message["Attributes"]) == {"AWSTraceHeader", "SentTimestamp"}
    assert "MessageAttributes" not in message  # not asked for
    with pytest.raises(ClientError):
        sqs.send_message(
            QueueUrl=url,
            MessageBody="m",
            MessageSystemAttributes={"Other": {"DataType": "String", "StringValue": "v"}},
        )


def test_calls_are_counted_and_the_fake_is_thread_safe(sqs: FakeSQS, url: str) -> None:
    def send(worker: int) -> None:
        for n in range(50):
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps([worker, n]))

    threads = [threading.Thread(target=send, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bodies = []
    while batch := _receive(sqs, url):
        bodies += [m["Body"] for m in batch]
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        sqs.delete_message_batch(QueueUrl=url, Entries=entries)
    assert sorted(bodies) == sorted(json.dumps([w, n]) for w in range(4) for n in range(50))
    assert sqs.calls["SendMessage"] == 200 and sqs.calls["DeleteMessageBatch"] == 20
