"""Client CPU of single SQS calls, one transport per process (see :mod:`benchmarks.transport`).

Config: ``client`` (a :data:`CLIENTS` key), ``calls``, ``endpoint_url``, ``queues`` (the first
for sends, the second pre-loaded for receives). It measures, single-threaded and after a
warm-up, the process CPU of ``calls`` 10-entry ``SendMessageBatch`` calls and of ``calls``
``ReceiveMessage`` (10 messages, attributes as sqsobs' listener asks) + ``DeleteMessageBatch``
pairs; the result's ``extra`` holds microseconds per call and per pair.
"""

from __future__ import annotations

import resource
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
BATCH = 10


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def make_client(run: Run) -> Any:
    """The client the config names: boto3 as sqsobs builds it, maybe wrapped lean."""
    import boto3
    from botocore.config import Config

    validate, signer = CLIENTS[run.config["client"]]
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


def _per_call_us(calls: int, work: Any) -> float:
    for _ in range(WARM_UP_CALLS):
        work()
    started = _cpu()
    for _ in range(calls):
        work()
    return (_cpu() - started) / calls * 1e6


def main() -> None:
    """Measure sends, then receive+delete pairs; report µs of CPU per call / pair."""
    run = start_run()
    client = make_client(run)
    send_url = client.get_queue_url(QueueName=run.queues[0])["QueueUrl"]
    receive_url = client.get_queue_url(QueueName=run.queues[1])["QueueUrl"]
    entries = [{"Id": str(i), "MessageBody": small_body(i)} for i in range(BATCH)]

    def send() -> None:
        answer = client.send_message_batch(QueueUrl=send_url, Entries=entries)
        assert len(answer["Successful"]) == BATCH, answer

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
        client.delete_message_batch(
            QueueUrl=receive_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in
                     enumerate(messages)],
        )  # fmt: skip

    calls = int(run.config["calls"])
    with run.measure():
        run.extra["send_us"] = _per_call_us(calls, send)
        run.extra["receive_delete_us"] = _per_call_us(calls, receive_and_delete)
    run.processed = calls
    run.finish()


if __name__ == "__main__":
    main()
