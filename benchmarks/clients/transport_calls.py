"""Client CPU of single SQS calls, several clients side by side in one process.

Config: ``clients`` (keys of :data:`CLIENTS`), ``calls``, ``endpoint_url``, ``queues`` (the
first for sends, the second pre-loaded for receives). The clients take turns in blocks of
:data:`BLOCK` calls, the order rotating each round, so a busy machine slows each of them alike.
Measured single-threaded, after a warm-up: 10-entry ``SendMessageBatch`` calls, and
``ReceiveMessage`` (10 messages, attributes as sqsobs' listener asks) + ``DeleteMessageBatch``
pairs. The result's ``extra`` maps each client to µs of CPU per call and per pair.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks.clients.common import Run, small_body, start_run

#: Client name -> (botocore parameter validation, lean signer or None for boto3 itself).
CLIENTS: dict[str, tuple[bool, str | None]] = {
    "boto3-validate": (True, None),
    "boto3": (False, None),
    "lean-botocore": (False, "botocore"),
    "lean-crt": (False, "crt"),
    "lean-unsigned": (False, "unsigned"),
}
WARM_UP_CALLS = 50
BLOCK = 50
BATCH = 10


def make_client(run: Run, name: str) -> Any:
    """The client ``name``: boto3 as sqsobs builds it, maybe wrapped lean."""
    import boto3
    from botocore.config import Config

    validate, signer = CLIENTS[name]
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        parameter_validation=validate,
        tcp_keepalive=True,
    )
    client = boto3.session.Session().client("sqs", config=config, **run.client_kwargs())
    if signer is None:
        return client
    from sqsobs._transport import LeanSQSClient

    return LeanSQSClient(client, signer=signer)


def _side_by_side(calls: int, work: dict[str, Callable[[], None]]) -> dict[str, float]:
    """µs of CPU per call of each ``work`` item, taking turns in blocks."""
    spent = dict.fromkeys(work, 0.0)
    for step in work.values():
        for _ in range(WARM_UP_CALLS):
            step()
    names = list(work)
    for round_number in range((calls + BLOCK - 1) // BLOCK):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            step = work[name]
            started = time.process_time()
            for _ in range(BLOCK):
                step()
            spent[name] += time.process_time() - started
    rounds = (calls + BLOCK - 1) // BLOCK
    return {name: seconds / (rounds * BLOCK) * 1e6 for name, seconds in spent.items()}


def main() -> None:
    """Measure sends, then receive+delete pairs, of every configured client."""
    run = start_run()
    clients = {name: make_client(run, name) for name in run.config["clients"]}
    any_client = next(iter(clients.values()))
    send_url = any_client.get_queue_url(QueueName=run.queues[0])["QueueUrl"]
    receive_url = any_client.get_queue_url(QueueName=run.queues[1])["QueueUrl"]
    entries = [{"Id": str(i), "MessageBody": small_body(i)} for i in range(BATCH)]

    def sender(client: Any) -> Callable[[], None]:
        def send() -> None:
            answer = client.send_message_batch(QueueUrl=send_url, Entries=entries)
            assert len(answer["Successful"]) == BATCH, answer

        return send

    def receiver(client: Any) -> Callable[[], None]:
        def receive_and_delete() -> None:
            messages = client.receive_message(
                QueueUrl=receive_url,
                MaxNumberOfMessages=BATCH,
                WaitTimeSeconds=0,
                VisibilityTimeout=60,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            )["Messages"]
            assert len(messages) == BATCH, messages
            handles = [m["ReceiptHandle"] for m in messages]
            client.delete_message_batch(
                QueueUrl=receive_url,
                Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)],
            )

        return receive_and_delete

    calls = int(run.config["calls"])
    with run.measure():
        sends = _side_by_side(calls, {n: sender(c) for n, c in clients.items()})
        pairs = _side_by_side(calls, {n: receiver(c) for n, c in clients.items()})
    run.extra = {n: {"send_us": sends[n], "receive_delete_us": pairs[n]} for n in clients}
    run.processed = calls
    run.finish()


if __name__ == "__main__":
    main()
