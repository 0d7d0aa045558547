"""The raw boto3 limit: pre-built 10-entry batch sends; a receive + delete_message_batch drain.

No buffering, no threads, no telemetry: what any boto3-based producer or listener can at best do.
"""

from __future__ import annotations

from typing import Any

import boto3

from benchmarks.clients.common import Run, small_body, start_run

BATCH = 10


def produce(run: Run, client: Any) -> None:
    """Send ``messages`` small messages round-robin over the queues in 10-entry batches."""
    urls = [client.get_queue_url(QueueName=name)["QueueUrl"] for name in run.queues]
    batches = []
    for number, start in enumerate(range(0, run.messages, BATCH)):
        entries = [
            {"Id": str(i), "MessageBody": small_body(start + i)}
            for i in range(min(BATCH, run.messages - start))
        ]
        batches.append((urls[number % len(urls)], entries))
    failed = 0
    with run.measure():
        for url, entries in batches:
            answer = client.send_message_batch(QueueUrl=url, Entries=entries)
            run.processed += len(answer.get("Successful", []))
            failed += len(answer.get("Failed", []))
    run.extra["failed"] = failed


def drain(run: Run, client: Any) -> None:
    """Receive (10 at a time, long poll) and delete in batches until ``messages`` are done."""
    url = client.get_queue_url(QueueName=run.queues[0])["QueueUrl"]
    seen: set[str] = set()
    with run.measure():
        while run.processed < run.messages:
            messages = client.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=BATCH,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                continue
            for message in messages:
                seen.add(message["MessageId"])  # the no-op handler
            client.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )
            run.processed += len(messages)
    run.extra["distinct"] = len(seen)


def main() -> None:
    """Run one producer or listener pass as the config says."""
    run = start_run()
    client = boto3.client("sqs", **run.client_kwargs())
    if run.config["role"] == "producer":
        produce(run, client)
    else:
        drain(run, client)
    run.finish()


if __name__ == "__main__":
    main()
