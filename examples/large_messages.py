"""Messages over SQS's 1 MiB: the payload goes to S3, a pointer goes through SQS.

The producer sends a few small orders and three large documents (2 MiB, 5 MiB, 10 MiB) in one
batch; the documents are stored in S3 with the pointer AWS's extended clients use, the small ones
go as they are. The listener fetches each payload before the handler runs, so the handler sees
the whole body, then deletes the SQS message and, once SQS confirmed that, the S3 object.

Run (no AWS needed: the embedded server of ``pip install -e ".[local]"`` serves SQS and S3 on one
endpoint, unless AWS_ENDPOINT_URL is set):

    python examples/large_messages.py
"""

from __future__ import annotations

import hashlib
import os
import threading

import boto3
from _local import ensure_queue, sqs_endpoint

from sqsobs import BatchProducer, Listener, SqsMessage

QUEUE = os.environ.get("SQSOBS_QUEUE", "documents")
BUCKET = os.environ.get("SQSOBS_LARGE_PAYLOAD_BUCKET", "sqsobs-example-payloads")
SIZES = {"small-1": 200, "small-2": 300, "doc-2mib": 2 << 20, "doc-5mib": 5 << 20,
         "doc-10mib": 10 << 20}  # fmt: skip


def body(name: str, size: int) -> str:
    """A body of exactly ``size`` bytes that starts with its name."""
    return (name + ":" + "x" * size)[:size]


def main() -> None:
    sqs_endpoint()
    url = ensure_queue(QUEUE)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)  # usually your infrastructure's job
    sent = {name: body(name, size) for name, size in SIZES.items()}
    with BatchProducer(large_payload_bucket=BUCKET) as producer:
        futures = {name: producer.send(url, text) for name, text in sent.items()}
        for name, future in futures.items():
            print(f"sent {name} ({len(sent[name]):,} bytes) as message {future.result(60)}")

    seen: dict[str, tuple[int, bool]] = {}
    lock = threading.Lock()
    done = threading.Event()

    def handle(msg: SqsMessage) -> bool:
        name = msg.body.partition(":")[0]
        intact = (
            hashlib.sha256(msg.body.encode()).digest()
            == hashlib.sha256(sent[name].encode()).digest()
        )
        with lock:
            seen[name] = (len(msg.body), msg.payload_pointer is not None)
            if len(seen) == len(sent):
                done.set()
        return intact  # a damaged payload would come back, not be deleted

    with Listener(handle, queue_url=url, mode="per_message"):
        if not done.wait(120):
            raise SystemExit(f"only {sorted(seen)} arrived")
    for name, (size, via_s3) in sorted(seen.items()):
        print(f"handled {name}: {size:,} bytes, {'via S3' if via_s3 else 'in the message'}")
    left = s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0)
    print(f"S3 objects left after the deletes: {left}")


if __name__ == "__main__":
    main()
