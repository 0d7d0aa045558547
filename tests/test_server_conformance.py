"""The documented SQS behaviours the suite leans on, checked against the server itself.

Each known departure is declared in :mod:`tests.servers` and marked here as a strict xfail for
that server only: if the server is fixed, the xfail passes, the run fails, and the tests that
adapt to the deviation (grep its name) can stop adapting.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import QueueFactory, SqsServer
from tests.servers import (
    LOCALSTACK_BATCH_ENTRY_NOT_SENDER_FAULT,
    LOCALSTACK_FIFO_GROUP_REOPENED,
    xfail_for,
)


def test_fifo_group_stays_locked_while_one_of_its_messages_is_in_flight(
    request: pytest.FixtureRequest, sqs_server: SqsServer, sqs_client: Any, make_queue: QueueFactory
) -> None:
    xfail_for(request, sqs_server, LOCALSTACK_FIFO_GROUP_REOPENED)
    url = make_queue(fifo=True, ContentBasedDeduplication="true")
    for body in ("A0", "A1", "A2"):
        sqs_client.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="A")
    first = sqs_client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)
    handles = {m["Body"]: m["ReceiptHandle"] for m in first["Messages"]}
    assert list(handles) == ["A0", "A1", "A2"]
    # A1 and A2 go back; A0 stays in flight, so group A stays locked.
    for body in ("A1", "A2"):
        sqs_client.change_message_visibility(
            QueueUrl=url, ReceiptHandle=handles[body], VisibilityTimeout=0
        )
    again = sqs_client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    assert [m["Body"] for m in again.get("Messages", [])] == []
    sqs_client.delete_message(QueueUrl=url, ReceiptHandle=handles["A0"])
    after = sqs_client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    assert [m["Body"] for m in after.get("Messages", [])] == ["A1", "A2"]


def test_a_deleted_messages_handle_fails_its_batch_entry_as_the_callers_fault(
    request: pytest.FixtureRequest, sqs_server: SqsServer, sqs_client: Any, queue_url: str
) -> None:
    xfail_for(request, sqs_server, LOCALSTACK_BATCH_ENTRY_NOT_SENDER_FAULT)
    sqs_client.send_message(QueueUrl=queue_url, MessageBody="gone")
    message = sqs_client.receive_message(QueueUrl=queue_url, VisibilityTimeout=30)["Messages"][0]
    sqs_client.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    with pytest.raises(ClientError) as single:
        sqs_client.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=5
        )
    assert single.value.response["Error"]["Type"] == "Sender"
    answer = sqs_client.change_message_visibility_batch(
        QueueUrl=queue_url,
        Entries=[{"Id": "0", "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 5}],
    )
    assert answer.get("Successful", []) == []
    [failed] = answer["Failed"]
    assert failed["SenderFault"] is True, failed
