"""The listener's spans and metrics, and one trace from the producer to the handler."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from sqsobs import BatchProducer, Listener
from sqsobs.telemetry.catalog import (
    CONSUMED_MESSAGES,
    DELETES,
    EMPTY_RECEIVES,
    HANDLER_FAILURES,
    INFLIGHT,
    MESSAGE_AGE,
    OPERATION_DURATION,
    PROCESS_DURATION,
    RECEIVE_COUNT,
)
from sqsobs.types import BatchResult, SqsMessage
from tests.helpers import wait_for
from tests.listener_support import SqsCalls, send_bodies

FAST = {"wait_time": 1, "idle_sleep_max": 0.0}


def _by_name(spans: list[Any], name: str) -> list[Any]:
    return [span for span in spans if span.name == name]


def test_producer_to_handler_is_one_trace(
    make_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    handler_traces: list[int] = []

    def handler(message: SqsMessage) -> bool:
        handler_traces.append(trace.get_current_span().get_span_context().trace_id)
        return True

    tracer = trace.get_tracer("test")
    with BatchProducer(client=make_client(), default_batch_interval=0.05) as producer:
        with tracer.start_as_current_span("web request") as request:
            futures = [producer.send(queue_url, f"order {i}") for i in range(3)]
        assert all(f.result(timeout=10) for f in futures)
    sqs = SqsCalls(make_client())
    listener = Listener(handler, queue_url=queue_url, mode="per_message", client=sqs.client, **FAST)
    with listener:
        assert wait_for(lambda: sqs.deleted == 3, timeout=10)
    trace_id = request.get_span_context().trace_id
    assert handler_traces == [trace_id] * 3
    spans = otel.spans()
    creates = _by_name(spans, f"create {queue_name}")
    processes = _by_name(spans, f"process {queue_name}")
    receives = _by_name(spans, f"receive {queue_name}")
    assert len(creates) == 3 and len(processes) == 3 and receives
    create_ids = {span.context.span_id for span in creates}
    assert {span.parent.span_id for span in processes} == create_ids
    assert all(span.kind == SpanKind.CONSUMER for span in processes)
    assert all(span.context.trace_id == trace_id for span in processes)
    receive_ids = {span.context.span_id for span in receives}
    for span in processes:
        # One link to its receive, one to its creation context (also its parent).
        linked = {link.context.span_id for link in span.links}
        assert len(linked & receive_ids) == 1
        assert linked - receive_ids == {span.parent.span_id}
        assert span.attributes["messaging.message.id"]
    linked = {link.context.span_id for span in receives for link in span.links}
    assert linked == create_ids
    assert all(span.kind == SpanKind.CLIENT for span in receives)
    deletes = _by_name(spans, f"delete {queue_name}")
    assert sum(span.attributes["messaging.batch.message_count"] for span in deletes) == 3
    # A batch settle span links every message's creation context, so it is found from the trace.
    assert {link.context.span_id for span in deletes for link in span.links} == create_ids


def test_batch_mode_one_process_span_links_every_message(
    make_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    with BatchProducer(client=make_client(), default_batch_interval=0.05) as producer:
        futures = [producer.send(queue_url, f"m{i}") for i in range(4)]
        assert all(f.result(timeout=10) for f in futures)
    calls: list[int] = []

    def handler(messages: list[SqsMessage]) -> BatchResult:
        calls.append(len(messages))
        return BatchResult(failed_receipt_handles=[])

    sqs = SqsCalls(make_client())
    listener = Listener(handler, queue_url=queue_url, client=sqs.client, **FAST)
    with listener:
        assert wait_for(lambda: sqs.deleted == 4, timeout=10)
    spans = otel.spans()
    creates = {s.context.span_id for s in _by_name(spans, f"create {queue_name}")}
    processes = _by_name(spans, f"process {queue_name}")
    assert len(processes) == len(calls)
    linked = {link.context.span_id for span in processes for link in span.links}
    assert creates <= linked
    assert sum(span.attributes["messaging.batch.message_count"] for span in processes) == 4


def test_listener_metrics_come_from_the_catalog(
    sqs_client: Any, make_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    send_bodies(sqs_client, queue_url, [f"m{i}" for i in range(5)])

    def handler(message: SqsMessage) -> bool:
        return message.body != "m4"

    sqs = SqsCalls(make_client())
    listener = Listener(
        handler,
        queue_url=queue_url,
        mode="per_message",
        visibility_secs=30,
        client=sqs.client,
        **FAST,
    )
    with listener:
        assert wait_for(lambda: sqs.deleted == 4, timeout=10)
        assert wait_for(lambda: sqs.count("ReceiveMessage") > 1, timeout=5)
    queue = {"messaging.destination.name": queue_name}
    assert otel.total(CONSUMED_MESSAGES.name, **queue) == 5
    assert otel.total(DELETES.name, **queue) == 4
    assert otel.total(HANDLER_FAILURES.name, **queue) == 1
    assert otel.total(INFLIGHT.name, **queue) == 0
    assert otel.total(MESSAGE_AGE.name, **queue) == 5
    assert otel.total(RECEIVE_COUNT.name, **queue) == 5
    assert otel.total(EMPTY_RECEIVES.name, **queue) >= 1
    assert otel.total(PROCESS_DURATION.name, **queue) == 5
    receive = otel.points(
        OPERATION_DURATION.name, **queue, **{"messaging.operation.name": "receive"}
    )
    assert receive and receive[0].attributes["messaging.operation.type"] == "receive"
    deletes = otel.points(
        OPERATION_DURATION.name, **queue, **{"messaging.operation.name": "delete"}
    )
    assert sum(p.count for p in deletes) == sqs.count("DeleteMessageBatch")


def test_empty_receives_are_counted_and_traced_only_on_request(
    make_client: Any, queue_name: str, queue_url: str, otel: Any
) -> None:
    for traced in (False, True):
        otel.clear()
        sqs = SqsCalls(make_client())
        listener = Listener(
            lambda m: True,
            queue_url=queue_url,
            client=sqs.client,
            trace_empty_receives=traced,
            wait_time=0,
            idle_sleep_max=0.05,
        )
        with listener:
            assert wait_for(lambda calls=sqs: calls.count("ReceiveMessage") >= 3, timeout=10)
        spans = _by_name(otel.spans(), f"receive {queue_name}")
        if traced:
            assert spans and all(s.attributes["messaging.batch.message_count"] == 0 for s in spans)
        else:
            assert spans == []
    empty = otel.total(EMPTY_RECEIVES.name, **{"messaging.destination.name": queue_name})
    assert empty >= 6
