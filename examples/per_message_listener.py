"""A per-message listener: one handler call per message; True deletes it.

Returning False (or raising) leaves the message for SQS to deliver again after its visibility
timeout; here every order with a negative quantity fails on its first delivery, so you can see a
redelivery (receive count 2) in the logs, the spans and the Listener dashboard.

Run (no AWS needed: an embedded SQS starts unless AWS_ENDPOINT_URL is set):

    python examples/per_message_listener.py            # Ctrl-C drains and stops
    EXAMPLE_SECONDS=20 python examples/per_message_listener.py   # stops once all are handled
"""

from __future__ import annotations

import json
import logging
import os
import threading

from _local import ensure_queue, seconds_to_run, sqs_client, sqs_endpoint, stop_listeners_when

import sqsobs
from sqsobs import SqsMessage, run_listeners, sqs_listener

logger = logging.getLogger("example.per_message")
QUEUE = os.environ.get("SQSOBS_QUEUE", "orders-per-message")
SEEDED = 20
handled: list[str] = []
lock = threading.Lock()


def handle(msg: SqsMessage) -> bool:
    """Process one order; False on the first delivery of a bad one (it comes back)."""
    order = msg.json
    if order["quantity"] < 0 and msg.receive_count == 1:
        logger.warning("order %s looks wrong; leaving it for a second look", order["id"])
        return False
    with lock:
        handled.append(order["id"])
    logger.info("order %s handled (delivery %s)", order["id"], msg.receive_count)
    return True


def seed(url: str, count: int) -> None:
    """Put a few orders on the queue with plain boto3 (any producer would do)."""
    client = sqs_client()
    for start in range(0, count, 10):
        orders = [{"id": f"o-{i}", "quantity": -1 if i == 3 else i} for i in range(start, count)]
        entries = [{"Id": str(n), "MessageBody": json.dumps(o)} for n, o in enumerate(orders[:10])]
        client.send_message_batch(QueueUrl=url, Entries=entries)


def main() -> None:
    """Seed the queue, run the listener until Ctrl-C (or EXAMPLE_SECONDS), report."""
    sqs_endpoint()
    sqsobs.configure_telemetry("per-message-listener")
    url = ensure_queue(QUEUE, VisibilityTimeout="2")
    seed(url, SEEDED)
    sqs_listener(url, mode="per_message", worker_threads=4, wait_time=1, visibility_secs=2)(handle)
    stop_listeners_when(lambda: len(set(handled)) >= SEEDED, seconds_to_run())
    run_listeners()
    print(f"handled {len(handled)} messages ({len(set(handled))} distinct)", flush=True)


if __name__ == "__main__":
    main()
