"""AWS's extended client (``amazon-sqs-extended-client``) as the other side of a queue.

Run in a process of its own: importing the package replaces boto3's Session, so every SQS client
made afterwards in that process becomes an extended client. ``AWS_ENDPOINT_URL`` points both its
SQS and its S3 clients at the test server.

``python -m tests.extended_client_side send QUEUE_URL BUCKET [legacy]`` sends, with
``large_payload_support=BUCKET``, one 2 MiB message (SendMessage) and a batch of a small and a
3 MiB message (SendMessageBatch), then prints their bodies' SHA-256 digests as a JSON line.

``python -m tests.extended_client_side receive QUEUE_URL COUNT`` receives COUNT messages with
``delete_payload_from_s3=True``, deletes each (its S3 object too) and prints, per message, the
body's digest and the names of its attributes.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from typing import Any

import boto3
import sqs_extended_client  # noqa: F401 - patches boto3.Session: this process is the other side

MIB = 1024 * 1024


def _client() -> Any:
    return boto3.session.Session().client("sqs", region_name="us-east-1")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def send(queue_url: str, bucket: str, legacy: bool) -> None:
    sqs = _client()
    sqs.large_payload_support = bucket
    sqs.use_legacy_attribute = legacy
    single = '{"doc": "' + "s" * (2 * MIB) + '"}'
    small, large = "small from the extended client", "b" * (3 * MIB)
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=single,
        MessageAttributes={"origin": {"DataType": "String", "StringValue": "extended"}},
    )
    sqs.send_message_batch(
        QueueUrl=queue_url,
        Entries=[{"Id": "0", "MessageBody": small}, {"Id": "1", "MessageBody": large}],
    )
    print(json.dumps(sorted(_digest(body) for body in (single, small, large))), flush=True)


def receive(queue_url: str, count: int) -> None:
    sqs = _client()
    sqs.delete_payload_from_s3 = True
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while len(found) < count and time.monotonic() < deadline:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        )
        for message in response.get("Messages", []):
            found.append(
                {
                    "digest": _digest(message["Body"]),
                    "attributes": sorted(message.get("MessageAttributes", {})),
                }
            )
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    print(json.dumps(found), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(sys.argv[2], sys.argv[3], legacy=sys.argv[4:] == ["legacy"])
    else:
        receive(sys.argv[2], int(sys.argv[3]))
