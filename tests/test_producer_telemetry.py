"""The producer's spans and metrics: one trace from ``create`` through ``flush`` to ``send``,
links, attributes, catalog metrics, trace context in the message, X-Ray header."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from sqsobs import BatchProducer
from tests.helpers import drain_queue


def _name(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def test_one_trace_from_create_through_flush_to_send(
    make_client: Any, sqs_client: Any, queue_url: str, otel: Any
) -> None:
    producer = BatchProducer(
        make_client(), default_batch_interval=60, default_idle_timeout=0, flush_at_exit=False
    )
    try:
        with trace.get_tracer("test").start_as_current_span("request") as request:
            futures = [producer.send(queue_url, f"m{i}") for i in range(3)]
        assert producer.flush(timeout=10)
        ids = [f.result() for f in futures]
        # The gauge reads the buffer: empty once flushed (a closed producer reports nothing).
        depths = otel.points(
            "sqsobs.producer.buffer.depth", **{"messaging.destination.name": _name(queue_url)}
        )
    finally:
        producer.close()
    name = _name(queue_url)
    spans = otel.spans()
    root = request.get_span_context()
    creates = [s for s in spans if s.name == f"create {name}"]
    (flush,) = [s for s in spans if s.name == f"flush {name}"]
    (send,) = [s for s in spans if s.name == f"send {name}"]
    assert len(creates) == 3
    for span in creates:
        assert span.kind is SpanKind.PRODUCER and span.parent.span_id == root.span_id
        assert span.attributes["messaging.system"] == "aws_sqs"
        assert span.attributes["messaging.operation.type"] == "create"
        assert span.attributes["messaging.destination.name"] == name
    assert {s.context.trace_id for s in [*creates, flush, send]} == {root.trace_id}
    assert flush.kind is SpanKind.INTERNAL and flush.parent.span_id == creates[0].context.span_id
    assert flush.attributes["sqsobs.flush.reason"] == "manual"
    assert flush.attributes["sqsobs.flush.message_count"] == 3
    assert flush.attributes["sqsobs.flush.bytes"] > 6
    assert send.kind is SpanKind.CLIENT and send.parent.span_id == flush.context.span_id
    assert send.attributes["messaging.batch.message_count"] == 3
    assert send.attributes["aws.sqs.queue.url"] == queue_url
    assert send.attributes["messaging.operation.type"] == "send"
    assert "error.type" not in send.attributes
    assert {link.context.span_id for link in send.links} == {s.context.span_id for s in creates}

    received = {m["MessageId"]: m for m in drain_queue(sqs_client, queue_url)}
    assert set(received) == set(ids)
    parents = {
        m["MessageAttributes"]["traceparent"]["StringValue"].split("-")[2]
        for m in received.values()
    }
    assert parents == {f"{s.context.span_id:016x}" for s in creates}

    dest = {"messaging.destination.name": name}
    assert (
        otel.total("messaging.client.sent.messages", **dest, **{"messaging.operation.name": "send"})
        == 3
    )
    assert otel.total("sqsobs.producer.flushes", **dest, **{"sqsobs.flush.reason": "manual"}) == 1
    assert otel.total("sqsobs.producer.batch.messages", **dest) == 1
    assert otel.total("sqsobs.producer.batch.size", **dest) == 1
    assert otel.total("sqsobs.producer.buffer.time", **dest) == 3
    assert otel.total("messaging.client.operation.duration", **dest) == 1
    (depth,) = depths
    assert depth.value == 0


def test_messages_from_different_traces_flush_as_a_root_with_links(
    make_client: Any, queue_url: str, otel: Any
) -> None:
    producer = BatchProducer(
        make_client(), default_batch_interval=60, default_idle_timeout=0, flush_at_exit=False
    )
    tracer = trace.get_tracer("test")
    try:
        for i in range(2):
            with tracer.start_as_current_span(f"request-{i}"):
                producer.send(queue_url, f"m{i}")
        producer.flush(timeout=10)
    finally:
        producer.close()
    name = _name(queue_url)
    (flush,) = [s for s in otel.spans() if s.name == f"flush {name}"]
    (send,) = [s for s in otel.spans() if s.name == f"send {name}"]
    assert flush.parent is None
    assert len({link.context.trace_id for link in send.links}) == 2


def test_no_room_for_trace_context_still_sends_and_xray_header_is_optional(
    make_client: Any, sqs_client: Any, queue_url: str, otel: Any
) -> None:
    client = make_client()
    entries: list[dict[str, Any]] = []
    client.meta.events.register(
        "provide-client-params.sqs.SendMessageBatch",
        lambda params, **_: entries.extend(params["Entries"]),
    )
    full = {f"a{i}": {"DataType": "String", "StringValue": "v"} for i in range(10)}
    producer = BatchProducer(
        client, default_batch_interval=0, xray_trace_header=True, flush_at_exit=False
    )
    try:
        with trace.get_tracer("test").start_as_current_span("request"):
            assert producer.send(queue_url, "full", attributes=full).result(timeout=10)
    finally:
        producer.close()
    (entry,) = entries
    assert set(entry["MessageAttributes"]) == set(full)  # user attributes win
    header = entry["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"]
    (create,) = [s for s in otel.spans() if s.name == f"create {_name(queue_url)}"]
    assert f"Parent={create.context.span_id:016x}" in header
    skipped = otel.total(
        "sqsobs.propagation.skipped",
        **{"messaging.destination.name": _name(queue_url), "sqsobs.propagation.reason": "no_room"},
    )
    assert skipped == 1
    assert [m["Body"] for m in drain_queue(sqs_client, queue_url)] == ["full"]
