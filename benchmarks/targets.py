"""The servers a run measures: the null SQS (client-side ceiling) and moto (functional truth).

A :class:`Target` creates fresh queues for each client run, pre-loads them, and tells what the
server saw: calls by kind (counted at the null server; counted in the client process on moto,
which cannot count them) and how many messages arrived or are left.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from benchmarks.null_sqs import NullSQS
from sqsobs.testing import EmbeddedSQS

#: Same retention as dramatiq-sqs asks for, so its CreateQueue finds the queue unchanged.
QUEUE_ATTRIBUTES = {"MessageRetentionPeriod": "1209600"}
PRELOAD_BODY = '{"order_id": %d, "customer": "c", "amount": 1}'


@dataclass
class Outcome:
    """What the server saw of one client run."""

    calls: dict[str, int]
    #: Producer: messages that arrived on the queues. Listener: messages deleted (null SQS
    #: counts delete entries; on moto this is the pre-loaded count less what is left).
    arrived: int
    #: Listener: messages still on the queue, visible or not (should be 0).
    left: int = 0
    #: What the OTLP sink received during the run (spans, bytes, requests).
    telemetry: dict[str, int] = field(default_factory=dict)


class Target:
    """One server process for the whole run."""

    name = ""

    def __init__(self, endpoint_url: str, sink: NullSQS) -> None:
        self.endpoint_url = endpoint_url
        #: The null SQS process, which is also the OTLP sink of clients with telemetry on.
        self.sink = sink
        self.client: Any = boto3.client(
            "sqs",
            endpoint_url=endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        )

    def new_queues(self, count: int, tag: str) -> list[str]:
        """Create ``count`` fresh queues (names valid for SQS and for dramatiq)."""
        stem = f"bench_{tag}_{uuid.uuid4().hex[:8]}"
        names = [f"{stem}_{i}" for i in range(count)]
        for name in names:
            self.client.create_queue(QueueName=name, Attributes=QUEUE_ATTRIBUTES)
        return names

    def preload(self, queue: str, count: int, sampled_every: int = 1) -> None:
        """Put ``count`` small messages on ``queue`` carrying a traceparent, as a producer would;
        one in ``sampled_every`` is sampled (a producer sampling 1 in 10 traces: 10)."""
        raise NotImplementedError

    def begin(self) -> None:
        """Called right before a client run starts: zero the sink's counters."""
        self.sink.reset()

    def exported(self) -> dict[str, int]:
        """What the OTLP sink received since :meth:`begin`."""
        stats = self.sink.stats()
        requests = sum(v for k, v in stats["calls"].items() if k.startswith("otlp"))
        return {
            "spans": stats["otlp_spans"],
            "bytes": stats["otlp_bytes"],
            "requests": requests,
        }

    def outcome(
        self, queues: list[str], client_calls: dict[str, int], role: str, loaded: int
    ) -> Outcome:
        """Calls and arrivals of the run that just ended (``loaded``: messages pre-loaded)."""
        raise NotImplementedError

    def drop(self, queues: list[str]) -> None:
        """Delete the run's queues (keeps moto small)."""

    @property
    def counts_in_client(self) -> bool:
        """Whether the client process must count its own API calls."""
        return False


class NullTarget(Target):
    """The null SQS: calls and arrivals counted at the server."""

    name = "null"

    def __init__(self, server: NullSQS) -> None:
        super().__init__(server.endpoint_url, server)
        self.server = server

    def preload(self, queue: str, count: int, sampled_every: int = 1) -> None:
        self.server.preload(queue, count, sampled_every)

    def outcome(
        self, queues: list[str], client_calls: dict[str, int], role: str, loaded: int
    ) -> Outcome:
        stats = self.server.stats()
        calls = {k: v for k, v in stats["calls"].items() if not k.startswith("otlp")}
        if role == "producer":
            return Outcome(calls, sum(stats["sent_per_queue"].get(q, 0) for q in queues))
        deleted = stats["entries"].get("DeleteMessageBatch", 0) + calls.get("DeleteMessage", 0)
        # Received but not deleted would come back on a real queue: it counts as left.
        return Outcome(calls, deleted, loaded - deleted)


class MotoTarget(Target):
    """moto's server (patched, sqsobs.testing.EmbeddedSQS): arrivals read back from the queues."""

    name = "moto"

    def preload(self, queue: str, count: int, sampled_every: int = 1) -> None:
        url = self.client.get_queue_url(QueueName=queue)["QueueUrl"]
        for start in range(0, count, 10):
            entries = [
                {"Id": str(i), "MessageBody": PRELOAD_BODY % (start + i)}
                | {"MessageAttributes": _trace_attributes((start + i) % sampled_every == 0)}
                for i in range(min(10, count - start))
            ]
            self.client.send_message_batch(QueueUrl=url, Entries=entries)

    def outcome(
        self, queues: list[str], client_calls: dict[str, int], role: str, loaded: int
    ) -> Outcome:
        counted = 0
        for queue in queues:
            url = self.client.get_queue_url(QueueName=queue)["QueueUrl"]
            attributes = self.client.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            counted += int(attributes["ApproximateNumberOfMessages"])
            counted += int(attributes["ApproximateNumberOfMessagesNotVisible"])
        if role == "producer":
            return Outcome(dict(client_calls), counted)
        return Outcome(dict(client_calls), loaded - counted, counted)

    def drop(self, queues: list[str]) -> None:
        for queue in queues:
            url = self.client.get_queue_url(QueueName=queue)["QueueUrl"]
            self.client.delete_queue(QueueUrl=url)

    @property
    def counts_in_client(self) -> bool:
        return True


def _trace_attributes(sampled: bool) -> dict[str, Any]:
    trace_id = uuid.uuid4().hex
    value = f"00-{trace_id}-{trace_id[:16]}-{'01' if sampled else '00'}"
    return {"traceparent": {"DataType": "String", "StringValue": value}}


@contextmanager
def started_targets(names: list[str]) -> Iterator[tuple[NullSQS, list[Target]]]:
    """Start the null SQS (always: it is also the OTLP sink) and the requested servers."""
    null = NullSQS().start()
    moto: EmbeddedSQS | None = None
    try:
        targets: list[Target] = []
        for name in names:
            if name == "null":
                targets.append(NullTarget(null))
            elif name == "moto":
                moto = EmbeddedSQS().start()
                targets.append(MotoTarget(moto.endpoint_url, null))
            else:
                raise ValueError(f"unknown server {name!r} (null, moto)")
        yield null, targets
    finally:
        if moto is not None:
            moto.stop()
        null.stop()
