"""A batch listener: the handler gets up to 10 messages and names the ones that failed.

Only the failed messages stay on the queue (SQS delivers them again); the others are deleted in
one DeleteMessageBatch call. This mirrors Lambda's partial batch response.

Run (no AWS needed: an embedded SQS starts unless AWS_ENDPOINT_URL is set):

    python examples/batch_listener.py                  # Ctrl-C drains and stops
    EXAMPLE_SECONDS=20 python examples/batch_listener.py        # stops once all are counted
"""

from __future__ import annotations

import json
import logging
import os
import threading

from _local import ensure_queue, seconds_to_run, sqs_client, sqs_endpoint, stop_listeners_when

import sqsobs
from sqsobs import BatchResult, SqsMessage, run_listeners, sqs_listener

logger = logging.getLogger("example.batch")
QUEUE = os.environ.get("SQSOBS_QUEUE", "orders-batch")
SEEDED = 30
totals: dict[str, int] = {}
counted = [0]
lock = threading.Lock()


def handle(messages: list[SqsMessage]) -> BatchResult:
    """Add up the amounts per customer; a body that is not JSON fails alone."""
    failed = []
    for msg in messages:
        data, error = msg.try_json()
        if error is not None:
            logger.warning("message %s is not JSON; it will come back", msg.message_id)
            failed.append(msg.receipt_handle)
            continue
        with lock:
            totals[data["customer"]] = totals.get(data["customer"], 0) + data["amount"]
            counted[0] += 1
    return BatchResult(failed_receipt_handles=failed)


def seed(url: str, count: int) -> None:
    """Put orders (and one broken body) on the queue with plain boto3."""
    client = sqs_client()
    bodies = [json.dumps({"customer": f"c{i % 3}", "amount": i}) for i in range(count)]
    bodies.append("not json")
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(n), "MessageBody": body} for n, body in enumerate(bodies[start : start + 10])
        ]
        client.send_message_batch(QueueUrl=url, Entries=entries)


def main() -> None:
    """Seed the queue, run the listener until Ctrl-C (or EXAMPLE_SECONDS), report."""
    sqs_endpoint()
    sqsobs.configure_telemetry("batch-listener")
    url = ensure_queue(QUEUE)
    seed(url, SEEDED)
    sqs_listener(url, mode="batch", batch_size=10, worker_threads=2, wait_time=1)(handle)
    # The broken body never succeeds; stop once every good order is counted.
    stop_listeners_when(lambda: counted[0] >= SEEDED, seconds_to_run())
    run_listeners()
    print(f"totals per customer: {dict(sorted(totals.items()))}", flush=True)


if __name__ == "__main__":
    main()
