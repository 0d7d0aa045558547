"""The trace survives a full message: priority injection, the AWSTraceHeader fallback, and the
SNS envelope, from BatchProducer through a real queue to a Listener's handler."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context

from sqsobs import BatchProducer, Listener
from sqsobs.producer import ProducerSettings
from sqsobs.telemetry import messaging_attributes, span_name
from sqsobs.telemetry._spans import KINDS, OP_CREATE, get_tracer
from sqsobs.telemetry.catalog import PROPAGATION_SKIPPED
from sqsobs.types import SqsMessage
from tests.conftest import REGION, SqsServer
from tests.helpers import wait_for
from tests.listener_support import SqsCalls

FAST = {"wait_time": 1, "idle_sleep_max": 0.0}


def user_attributes(count: int) -> dict[str, Any]:
    return {f"user{i}": {"DataType": "String", "StringValue": f"v{i}"} for i in range(count)}


class Seen:
    """What the handler saw: raw messages and the trace it ran in."""

    def __init__(self) -> None:
        self.messages: list[SqsMessage] = []
        self.trace_ids: list[int] = []

    def __call__(self, message: SqsMessage) -> bool:
        self.messages.append(message)
        self.trace_ids.append(trace.get_current_span().get_span_context().trace_id)
        return True


def consume(make_client: Any, queue_url: str, count: int) -> Seen:
    seen = Seen()
    sqs = SqsCalls(make_client())
    with Listener(seen, queue_url=queue_url, mode="per_message", client=sqs.client, **FAST):
        assert wait_for(lambda: sqs.deleted == count, timeout=10)
    return seen


def spans_named(otel: Any, name: str) -> list[Any]:
    return [span for span in otel.spans() if span.name == name]


def skipped(otel: Any, queue: str, field: str) -> float:
    return float(
        otel.total(
            PROPAGATION_SKIPPED.name,
            **{"messaging.destination.name": queue, "sqsobs.propagation.field": field},
        )
    )


def test_xray_trace_header_is_on_by_default() -> None:
    assert ProducerSettings.resolve(environ={}).xray_trace_header is True
    assert (
        ProducerSettings.resolve(environ={"SQSOBS_XRAY_TRACE_HEADER": "0"}).xray_trace_header
        is False
    )


def test_nine_user_attributes_and_baggage_still_make_one_trace(
    make_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    token = otel_context.attach(baggage.set_baggage("tenant", "acme"))
    try:
        with (
            BatchProducer(make_client(), xray_trace_header=False, flush_at_exit=False) as producer,
            get_tracer().start_as_current_span("request") as request,
        ):
            assert producer.send(queue_url, "nine", attributes=user_attributes(9)).result(10)
    finally:
        otel_context.detach(token)
    seen = consume(make_client, queue_url, 1)
    (message,) = seen.messages
    assert set(message.raw["MessageAttributes"]) == {*user_attributes(9), "traceparent"}
    assert "AWSTraceHeader" not in message.attributes  # traceparent made it: no fallback needed
    (create,) = spans_named(otel, f"create {queue_name}")
    (process,) = spans_named(otel, f"process {queue_name}")
    assert seen.trace_ids == [request.get_span_context().trace_id]
    assert process.context.trace_id == create.context.trace_id
    assert process.parent.span_id == create.context.span_id
    assert skipped(otel, queue_name, "baggage") == 1
    assert skipped(otel, queue_name, "traceparent") == 0


@pytest.mark.parametrize("xray", [None, False], ids=["default", "xray-off"])
def test_ten_user_attributes_join_the_trace_through_aws_trace_header(
    make_client: Any, queue_name: str, queue_url: str, otel: Any, xray: bool | None
) -> None:
    with (
        BatchProducer(make_client(), xray_trace_header=xray, flush_at_exit=False) as producer,
        get_tracer().start_as_current_span("request") as request,
    ):
        assert producer.send(queue_url, "full", attributes=user_attributes(10)).result(10)
    seen = consume(make_client, queue_url, 1)
    (message,) = seen.messages
    assert message.raw["MessageAttributes"] == user_attributes(10)  # the user's attributes win
    (create,) = spans_named(otel, f"create {queue_name}")
    (process,) = spans_named(otel, f"process {queue_name}")
    header = message.attributes["AWSTraceHeader"]
    assert f"Parent={create.context.span_id:016x}" in header
    assert seen.trace_ids == [request.get_span_context().trace_id]
    assert process.parent.span_id == create.context.span_id
    assert skipped(otel, queue_name, "traceparent") == 1


def test_xray_off_sets_no_header_when_traceparent_fits(
    make_client: Any, queue_url: str, otel: Any
) -> None:
    with (
        BatchProducer(make_client(), xray_trace_header=False, flush_at_exit=False) as producer,
        get_tracer().start_as_current_span("request"),
    ):
        assert producer.send(queue_url, "roomy").result(10)
    (message,) = consume(make_client, queue_url, 1).messages
    assert "traceparent" in message.raw["MessageAttributes"]
    assert "AWSTraceHeader" not in message.attributes


def test_sns_envelope_carries_the_publishers_trace_to_the_handler(
    sqs_server: SqsServer, make_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    sns = boto3.session.Session().client(
        "sns", endpoint_url=sqs_server.endpoint_url, region_name=REGION
    )
    sqs = make_client()
    topic = sns.create_topic(Name=f"{queue_name}-topic")["TopicArn"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)  # no raw delivery
    with get_tracer().start_as_current_span(
        span_name(OP_CREATE, "fan-out"),
        kind=KINDS[OP_CREATE],
        attributes=messaging_attributes(OP_CREATE, "fan-out"),
    ) as publish:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)  # the publisher's context, as SNS message attributes
        attributes = {k: {"DataType": "String", "StringValue": v} for k, v in carrier.items()}
    sns.publish(TopicArn=topic, Message=json.dumps({"id": 7}), MessageAttributes=attributes)
    seen = consume(make_client, queue_url, 1)
    (message,) = seen.messages
    assert not message.raw.get("MessageAttributes")  # the context is only inside the envelope
    assert message.sns_notification is not None
    assert message.sns_notification["TopicArn"] == topic
    assert json.loads(message.unwrapped_body) == {"id": 7}
    (process,) = spans_named(otel, f"process {queue_name}")
    assert seen.trace_ids == [publish.get_span_context().trace_id]
    assert process.parent.span_id == publish.get_span_context().span_id


def test_a_plain_body_is_its_own_unwrapped_body() -> None:
    plain = SqsMessage(message_id="m", receipt_handle="r", body='{"Type": "Notification"}')
    assert plain.sns_notification is None
    assert plain.unwrapped_body == '{"Type": "Notification"}'


def test_without_create_spans_the_callers_context_is_the_creation_context(
    make_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    assert ProducerSettings.resolve(environ={}).create_spans is True
    assert ProducerSettings.resolve(environ={"SQSOBS_CREATE_SPANS": "false"}).create_spans is False
    with (
        BatchProducer(make_client(), create_spans=False, flush_at_exit=False) as producer,
        get_tracer().start_as_current_span("request") as request,
    ):
        futures = [producer.send(queue_url, f"m{i}") for i in range(3)]
    assert all(f.result(10) for f in futures)
    caller = request.get_span_context()
    assert spans_named(otel, f"create {queue_name}") == []
    (send,) = spans_named(otel, f"send {queue_name}")
    assert {link.context.span_id for link in send.links} == {caller.span_id}
    assert send.context.trace_id == caller.trace_id
    seen = consume(make_client, queue_url, 3)
    for message in seen.messages:
        parent = message.raw["MessageAttributes"]["traceparent"]["StringValue"].split("-")[2]
        assert parent == f"{caller.span_id:016x}"
        assert f"Parent={caller.span_id:016x}" in message.attributes["AWSTraceHeader"]
    processes = spans_named(otel, f"process {queue_name}")
    assert {p.parent.span_id for p in processes} == {caller.span_id}
    assert seen.trace_ids == [caller.trace_id] * 3
