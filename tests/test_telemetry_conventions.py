"""Semantic-convention details on what is exported: request ids, server and queue URL on create
spans, per-message links, server.address on the messaging metrics, and the schema URL."""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from sqsobs import BatchProducer, Listener
from sqsobs.errors import ProducerClosed, SqsObsError
from sqsobs.listener._telemetry import ListenerTelemetry
from sqsobs.producer._telemetry import QueueTelemetry
from sqsobs.telemetry import SCHEMA_URL, get_instruments
from sqsobs.telemetry._spans import get_tracer
from sqsobs.telemetry.catalog import (
    CONSUMED_MESSAGES,
    MESSAGES_REJECTED,
    OPERATION_DURATION,
    POLL_DURATION,
    PROCESS_DURATION,
    SENT_MESSAGES,
)
from sqsobs.types import SqsMessage
from tests.helpers import wait_for
from tests.listener_support import SqsCalls

FAST = {"wait_time": 1, "idle_sleep_max": 0.0}

#: The SQS operation behind each span name's operation.
CALLS = {
    "send": "SendMessageBatch",
    "receive": "ReceiveMessage",
    "delete": "DeleteMessageBatch",
    "release": "ChangeMessageVisibilityBatch",
    "heartbeat": "ChangeMessageVisibilityBatch",
}


class RequestIds:
    """The RequestId of every answer a client got, by operation."""

    def __init__(self, client: Any) -> None:
        self.ids: dict[str, set[str]] = {}
        self.lock = threading.Lock()
        client.meta.events.register("after-call.sqs", self._after_call)

    def _after_call(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        request_id = (parsed.get("ResponseMetadata") or {}).get("RequestId")
        with self.lock:
            self.ids.setdefault(model.name, set()).add(request_id)


def test_every_span_of_an_sqs_call_carries_its_request_id(
    make_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    producer_client, listener_client = make_client(), make_client()
    sent, received = RequestIds(producer_client), RequestIds(listener_client)
    with BatchProducer(producer_client, flush_at_exit=False) as producer:
        futures = [producer.send(queue_url, body) for body in ("slow", "skip", "fast")]
        assert all(f.result(10) for f in futures)

    def handler(message: SqsMessage) -> bool:
        if message.body == "slow":
            time.sleep(1.6)  # outlives half the 2 s visibility timeout: one heartbeat
        return True

    sqs = SqsCalls(listener_client)
    listener = Listener(
        handler,
        queue_url=queue_url,
        mode="per_message",
        visibility_secs=2,
        filter_fn=lambda m: m.body != "skip",  # released with a backoff, never deleted
        client=sqs.client,
        **FAST,
    )
    with listener:
        assert wait_for(lambda: sqs.deleted == 2, timeout=10)
        assert wait_for(lambda: sqs.count("ChangeMessageVisibilityBatch") >= 2, timeout=10)
    ids = {**received.ids, "SendMessageBatch": sent.ids["SendMessageBatch"]}
    seen = set()
    for span in otel.spans():
        operation, _, queue = span.name.partition(" ")
        if queue != queue_name or operation not in CALLS:
            continue
        seen.add(operation)
        assert span.attributes["aws.request_id"] in ids[CALLS[operation]], span.name
    assert seen == set(CALLS)


def test_a_failed_call_carries_the_request_id_of_its_error(
    make_client: Any, sqs_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    client = make_client()
    answers = RequestIds(client)
    producer = BatchProducer(client, default_batch_interval=60, flush_at_exit=False)
    try:
        future = producer.send(queue_url, "lost")
        sqs_client.delete_queue(QueueUrl=queue_url)
        producer.flush(timeout_seconds=10)
        assert future.exception(10) is not None
    finally:
        producer.close()
    (send,) = [s for s in otel.spans() if s.name == f"send {queue_name}"]
    assert send.attributes["error.type"]
    assert send.attributes["aws.request_id"] in answers.ids["SendMessageBatch"]


def test_create_spans_carry_the_server_and_the_queue_url(
    make_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    with BatchProducer(make_client(), flush_at_exit=False) as producer:
        assert producer.send(queue_url, "m").result(10)
    (create,) = [s for s in otel.spans() if s.name == f"create {queue_name}"]
    url = urlsplit(queue_url)
    assert create.attributes["aws.sqs.queue.url"] == queue_url
    assert create.attributes["server.address"] == url.hostname
    assert create.attributes["server.port"] == url.port


def test_each_message_is_linked_with_its_id_from_receive_process_and_delete(
    make_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    with (
        BatchProducer(make_client(), flush_at_exit=False) as producer,
        get_tracer().start_as_current_span("request"),
    ):
        futures = [producer.send(queue_url, f"m{i}") for i in range(3)]
    ids = {f.result(10) for f in futures}
    creates = {s.context.span_id for s in otel.spans() if s.name == f"create {queue_name}"}
    sqs = SqsCalls(make_client())
    with Listener(
        lambda m: True, queue_url=queue_url, mode="per_message", client=sqs.client, **FAST
    ):
        assert wait_for(lambda: sqs.deleted == 3, timeout=10)
    spans = otel.spans()

    def creation_links(name: str) -> dict[str, int]:
        """message id -> linked span id, over the links to a create span."""
        found = {}
        for span in spans:
            if span.name == name:
                for link in span.links:
                    if link.context.span_id in creates:
                        found[link.attributes["messaging.message.id"]] = link.context.span_id
        return found

    for name in (f"receive {queue_name}", f"process {queue_name}", f"delete {queue_name}"):
        linked = creation_links(name)
        assert set(linked) == ids, name
        assert set(linked.values()) == creates, name
    for process in (s for s in spans if s.name == f"process {queue_name}"):
        (own,) = [link for link in process.links if link.context.span_id in creates]
        assert own.context.span_id == process.parent.span_id  # parent and link: the same context
        assert own.attributes["messaging.message.id"] == process.attributes["messaging.message.id"]


def test_two_regions_queues_of_one_name_stay_apart_in_the_messaging_metrics(otel: Any) -> None:
    urls = [
        f"https://sqs.{region}.amazonaws.com/123456789012/twin"
        for region in ("us-east-1", "eu-west-1")
    ]
    for url in urls:
        producer_side = QueueTelemetry("twin", url, get_instruments())
        producer_side.delivered(1)
        producer_side.call(0.01, None)
        listener_side = ListenerTelemetry("twin", url)
        listener_side.received([], time.time_ns(), 0.01)
        listener_side.processed(0.01, None)
    for spec in (SENT_MESSAGES, OPERATION_DURATION, CONSUMED_MESSAGES, PROCESS_DURATION):
        points = otel.points(spec.name, **{"messaging.destination.name": "twin"})
        servers = {p.attributes.get("server.address") for p in points}
        assert servers == {"sqs.us-east-1.amazonaws.com", "sqs.eu-west-1.amazonaws.com"}, spec.name


def test_tracer_and_meter_declare_the_semconv_schema(
    make_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    assert SCHEMA_URL == "https://opentelemetry.io/schemas/1.43.0"
    with BatchProducer(make_client(), flush_at_exit=False) as producer:
        assert producer.send(queue_url, "m").result(10)
    spans = [s for s in otel.spans() if s.name.endswith(f" {queue_name}")]
    assert spans and {s.instrumentation_scope.schema_url for s in spans} == {SCHEMA_URL}
    scopes = {
        scope_metrics.scope.schema_url
        for resource_metrics in otel.reader.get_metrics_data().resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        if scope_metrics.scope.name == "sqsobs"
    }
    assert scopes == {SCHEMA_URL}


def test_empty_long_polls_stay_out_of_the_operation_duration(
    make_client: Any, sqs_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    sqs = SqsCalls(make_client())
    with Listener(lambda m: True, queue_url=queue_url, client=sqs.client, wait_time=1):
        assert wait_for(lambda: sqs.count("ReceiveMessage") >= 3, timeout=10)
        sqs_client.send_message(QueueUrl=queue_url, MessageBody="one")
        assert wait_for(lambda: sqs.deleted == 1, timeout=10)
    queue = {"messaging.destination.name": queue_name}
    receive = {**queue, "messaging.operation.name": "receive"}
    # Only the receive that returned a message is an operation; every poll is a poll.
    assert otel.total(OPERATION_DURATION.name, **receive) == 1
    polls = otel.points(POLL_DURATION.name, **queue)
    assert sum(p.count for p in polls) >= 3
    assert max(p.max for p in polls) >= 0.9  # empty long polls waited their 1 s
    assert POLL_DURATION.buckets is not None and POLL_DURATION.buckets[-1] >= 20.0


def test_rejections_before_the_queue_is_known_never_label_a_metric_with_the_raw_argument(
    make_client: Any, otel: Any
) -> None:
    account_url = "https://sqs.eu-west-1.amazonaws.com/987654321098/missing-orders"
    garbage = "order #42 for alice@example.com"
    producer = BatchProducer(make_client(), flush_at_exit=False)
    try:
        for key in (account_url, garbage, "missing-named"):
            with pytest.raises(SqsObsError):
                producer.send(key, "m")
    finally:
        producer.close()
    closed = BatchProducer(make_client(), flush_at_exit=False)
    closed.close()
    with pytest.raises(ProducerClosed):
        closed.send("https://sqs.us-east-1.amazonaws.com/123456789012/late-orders", "m")
    labels = {
        p.attributes["messaging.destination.name"] for p in otel.points(MESSAGES_REJECTED.name)
    }
    assert {"missing-orders", "unknown", "missing-named", "late-orders"} <= labels
    assert not [label for label in labels if "/" in label or " " in label or "@" in label]
