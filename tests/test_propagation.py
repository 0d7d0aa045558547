"""Trace context in message attributes: real round trips, no-room skips, hostile input ignored."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from sqsobs.limits import attribute_size
from sqsobs.telemetry._extraction import extract_context
from sqsobs.telemetry._propagation import (
    REASON_ATTRIBUTE_TAKEN,
    REASON_ERROR,
    REASON_INVALID,
    REASON_MALFORMED,
    REASON_NO_ROOM,
    REASON_NO_ROOM_BYTES,
    inject_context,
)
from sqsobs.telemetry._spans import KINDS, OP_CREATE, OP_PROCESS, get_tracer, span_name
from sqsobs.telemetry._xray import AWS_TRACE_HEADER, xray_trace_header
from sqsobs.telemetry.catalog import PROPAGATION_SKIPPED
from tests.helpers import drain_queue

VALID_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def skipped(otel: Any, queue: str, reason: str) -> float:
    return float(
        otel.total(
            PROPAGATION_SKIPPED.name,
            **{"messaging.destination.name": queue, "sqsobs.propagation.reason": reason},
        )
    )


def span_context(context: Context | None) -> Any:
    return trace.get_current_span(context).get_span_context()


def user_attributes(count: int) -> dict[str, Any]:
    return {f"user{i}": {"DataType": "String", "StringValue": f"v{i}"} for i in range(count)}


@contextlib.contextmanager
def producer_span(queue: str) -> Iterator[Any]:
    with get_tracer().start_as_current_span(
        span_name(OP_CREATE, queue), kind=KINDS[OP_CREATE]
    ) as span:
        yield span


# --- round trips through the test server ---------------------------------------------------------


def test_round_trip_through_a_real_queue_links_process_to_create(
    otel: Any, sqs_client: Any, queue_url: str, queue_name: str
) -> None:
    token = otel_context.attach(baggage.set_baggage("tenant", "acme"))
    try:
        with producer_span(queue_name) as create:
            attributes = user_attributes(2)
            assert inject_context(attributes, destination=queue_name) is True
    finally:
        otel_context.detach(token)
    assert set(attributes) == {"user0", "user1", "traceparent", "baggage"}
    sqs_client.send_message(QueueUrl=queue_url, MessageBody="hello", MessageAttributes=attributes)

    (message,) = drain_queue(sqs_client, queue_url)
    extracted = extract_context(message, destination=queue_name)
    assert span_context(extracted).trace_id == create.get_span_context().trace_id
    assert span_context(extracted).span_id == create.get_span_context().span_id
    assert span_context(extracted).is_remote
    assert baggage.get_baggage("tenant", extracted) == "acme"
    with get_tracer().start_as_current_span(
        span_name(OP_PROCESS, queue_name), context=extracted, kind=KINDS[OP_PROCESS]
    ):
        pass
    process = next(s for s in otel.spans() if s.name == f"process {queue_name}")
    assert process.parent.span_id == create.get_span_context().span_id
    assert process.context.trace_id == create.get_span_context().trace_id
    assert skipped(otel, queue_name, REASON_MALFORMED) == 0


def test_ten_user_attributes_stay_intact_and_the_skip_is_counted(
    otel: Any, sqs_client: Any, queue_url: str, queue_name: str
) -> None:
    attributes = user_attributes(10)
    before = {k: dict(v) for k, v in attributes.items()}
    with producer_span(queue_name):
        assert inject_context(attributes, destination=queue_name) is False
    assert attributes == before
    assert skipped(otel, queue_name, REASON_NO_ROOM) == 1
    sqs_client.send_message(QueueUrl=queue_url, MessageBody="full", MessageAttributes=attributes)
    (message,) = drain_queue(sqs_client, queue_url)
    assert message["MessageAttributes"] == before
    assert extract_context(message, destination=queue_name) is None
    assert skipped(otel, queue_name, REASON_MALFORMED) == 0  # absent is not malformed


def skipped_field(otel: Any, queue: str, reason: str, field: str) -> float:
    return float(
        otel.total(
            PROPAGATION_SKIPPED.name,
            **{
                "messaging.destination.name": queue,
                "sqsobs.propagation.reason": reason,
                "sqsobs.propagation.field": field,
            },
        )
    )


def test_fields_go_in_by_priority_traceparent_first(otel: Any, queue_name: str) -> None:
    # 9 user attributes + baggage: traceparent takes the last slot, baggage is left out.
    token = otel_context.attach(baggage.set_baggage("k", "v"))
    try:
        nine = user_attributes(9)
        with producer_span(queue_name) as create:
            assert inject_context(nine, destination=queue_name) is True
    finally:
        otel_context.detach(token)
    assert set(nine) == {*user_attributes(9), "traceparent"}
    parent = nine["traceparent"]["StringValue"].split("-")[2]
    assert parent == f"{create.get_span_context().span_id:016x}"
    assert skipped_field(otel, queue_name, REASON_NO_ROOM, "baggage") == 1
    assert skipped_field(otel, queue_name, REASON_NO_ROOM, "traceparent") == 0
    assert skipped(otel, queue_name, REASON_NO_ROOM) == 1


def test_tracestate_follows_traceparent_and_baggage_comes_last(otel: Any, queue_name: str) -> None:
    state = TraceState([("vendor", "opaque")])
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1), trace_state=state)
    context = baggage.set_baggage("k", "v", trace.set_span_in_context(NonRecordingSpan(remote)))
    eight = user_attributes(8)
    assert inject_context(eight, destination=queue_name, context=context) is True
    assert set(eight) - set(user_attributes(8)) == {"traceparent", "tracestate"}
    assert skipped_field(otel, queue_name, REASON_NO_ROOM, "baggage") == 1
    # Room for traceparent and baggage but not tracestate (bytes): tracestate is the one left.
    roomy: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    inject_context(fields, destination="probe", context=context)
    sizes = {key: attribute_size(key, value) for key, value in fields.items()}
    room = sizes["traceparent"] + sizes["baggage"]
    assert inject_context(roomy, destination=queue_name, context=context, room_bytes=room)
    assert set(roomy) == {"traceparent", "baggage"}
    assert skipped_field(otel, queue_name, REASON_NO_ROOM_BYTES, "tracestate") == 1
    # No room for traceparent: tracestate alone would be useless and goes with it; baggage fits.
    nine = user_attributes(9)
    assert inject_context(nine, destination=queue_name, context=context, room_bytes=50) is False
    assert set(nine) - set(user_attributes(9)) == {"baggage"}
    assert skipped_field(otel, queue_name, REASON_NO_ROOM_BYTES, "traceparent") == 1
    assert skipped_field(otel, queue_name, REASON_NO_ROOM_BYTES, "tracestate") == 2


def test_user_traceparent_wins_and_byte_room_is_respected(otel: Any, queue_name: str) -> None:
    mine = {"traceparent": {"DataType": "String", "StringValue": VALID_TRACEPARENT}}
    with producer_span(queue_name):
        assert inject_context(mine, destination=queue_name) is False
        tight: dict[str, Any] = {}
        assert inject_context(tight, destination=queue_name, room_bytes=20) is False
        roomy: dict[str, Any] = {}
        assert inject_context(roomy, destination=queue_name, room_bytes=200) is True
    assert mine["traceparent"]["StringValue"] == VALID_TRACEPARENT
    assert tight == {}
    assert skipped(otel, queue_name, REASON_ATTRIBUTE_TAKEN) == 1
    assert skipped(otel, queue_name, REASON_NO_ROOM_BYTES) == 1


def test_nothing_to_propagate_adds_nothing_and_counts_nothing(otel: Any, queue_name: str) -> None:
    attributes: dict[str, Any] = {}
    assert inject_context(attributes, destination=queue_name) is False
    assert attributes == {}
    assert otel.total(PROPAGATION_SKIPPED.name, **{"messaging.destination.name": queue_name}) == 0


class _Raising(TextMapPropagator):
    def extract(self, carrier: Any, context: Any = None, getter: Any = None) -> Context:
        raise RuntimeError("broken extract")

    def inject(self, carrier: Any, context: Any = None, setter: Any = None) -> None:
        raise RuntimeError("broken inject")

    @property
    def fields(self) -> set[str]:
        return {"traceparent"}


class _BadName(TextMapPropagator):
    def extract(self, carrier: Any, context: Any = None, getter: Any = None) -> Context:
        return context or Context()

    def inject(self, carrier: Any, context: Any = None, setter: Any = None) -> None:
        assert setter is not None
        setter.set(carrier, "AWS.reserved", "x")

    @property
    def fields(self) -> set[str]:
        return {"AWS.reserved"}


@contextlib.contextmanager
def global_propagator(propagator: TextMapPropagator) -> Iterator[None]:
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(propagator)
    try:
        yield
    finally:
        propagate.set_global_textmap(previous)


def test_a_broken_or_unfit_propagator_never_raises(otel: Any, queue_name: str) -> None:
    message = {"MessageAttributes": {"traceparent": {"DataType": "String", "StringValue": "x"}}}
    with global_propagator(_Raising()), producer_span(queue_name):
        attributes: dict[str, Any] = {}
        assert inject_context(attributes, destination=queue_name) is False
        assert extract_context(message, destination=queue_name) is None
    with global_propagator(_BadName()), producer_span(queue_name):
        assert inject_context(attributes, destination=queue_name) is False
    assert attributes == {}
    assert skipped(otel, queue_name, REASON_ERROR) == 1
    assert skipped(otel, queue_name, REASON_INVALID) == 1
    assert skipped(otel, queue_name, REASON_MALFORMED) == 1


# --- hostile input on the consumer side -----------------------------------------------------------


HOSTILE_ATTRIBUTES: dict[str, Any] = {
    "bad traceparent": {"DataType": "String", "StringValue": "00-zz-yy-01"},
    "all-zero trace id": {
        "DataType": "String",
        "StringValue": "00-00000000000000000000000000000000-b7ad6b7169203331-01",
    },
    "huge string": {"DataType": "String", "StringValue": "00-" + "a" * 200_000},
    "binary data type": {"DataType": "Binary", "BinaryValue": VALID_TRACEPARENT.encode()},
    "number data type": {"DataType": "Number", "StringValue": VALID_TRACEPARENT},
    "not a mapping": VALID_TRACEPARENT,
    "value not a str": {"DataType": "String", "StringValue": 12},
}


@pytest.mark.parametrize("case", sorted(HOSTILE_ATTRIBUTES))
def test_malformed_traceparent_is_ignored_and_counted(otel: Any, case: str) -> None:
    queue = f"hostile-{case.replace(' ', '-')}"
    message = {"MessageAttributes": {"traceparent": HOSTILE_ATTRIBUTES[case]}}
    assert extract_context(message, destination=queue) is None
    assert skipped(otel, queue, REASON_MALFORMED) == 1


BAD_XRAY = {
    "garbage": "not a header",
    "no parent": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
    "short root": "Root=1-5759e988-bd86;Parent=53995c3f42cd8ad8;Sampled=1",
    "wrong version": "Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
    "not hex": "Root=1-5759e988-bd862e3fe1be46a99427279z;Parent=53995c3f42cd8ad8",
    "hex prefix trick": "Root=1-0x59e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
    "zero span": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000",
    "huge": "Root=1-" + "f" * 100_000,
    "not a str": 42,
}


@pytest.mark.parametrize("case", sorted(BAD_XRAY))
def test_malformed_aws_trace_header_is_ignored_and_counted(otel: Any, case: str) -> None:
    queue = f"xray-{case.replace(' ', '-')}"
    message = {"Attributes": {AWS_TRACE_HEADER: BAD_XRAY[case]}}
    assert extract_context(message, destination=queue) is None
    assert skipped(otel, queue, REASON_MALFORMED) == 1


def test_hostile_attributes_survive_a_real_queue_and_are_ignored(
    otel: Any, sqs_client: Any, queue_url: str, queue_name: str
) -> None:
    attributes = {
        "traceparent": {"DataType": "Binary", "BinaryValue": VALID_TRACEPARENT.encode()},
        "tracestate": {"DataType": "String", "StringValue": "x" * 50_000},
        "baggage": {"DataType": "String", "StringValue": "%%%;;;==="},
    }
    sqs_client.send_message(
        QueueUrl=queue_url,
        MessageBody="hostile",
        MessageAttributes=attributes,
        MessageSystemAttributes={
            AWS_TRACE_HEADER: {"DataType": "String", "StringValue": "Root=1-bad;Parent=zz"}
        },
    )
    (message,) = drain_queue(sqs_client, queue_url)
    assert extract_context(message, destination=queue_name) is None
    assert skipped(otel, queue_name, REASON_MALFORMED) == 1


# --- AWSTraceHeader ---------------------------------------------------------------------------


def test_xray_header_round_trips_through_a_real_queue(
    otel: Any, sqs_client: Any, queue_url: str, queue_name: str
) -> None:
    with producer_span(queue_name) as create:
        header = xray_trace_header()
    assert header is not None
    trace_id = f"{create.get_span_context().trace_id:032x}"
    assert header == (
        f"Root=1-{trace_id[:8]}-{trace_id[8:]};"
        f"Parent={create.get_span_context().span_id:016x};Sampled=1"
    )
    sqs_client.send_message(
        QueueUrl=queue_url,
        MessageBody="xray",
        MessageSystemAttributes={AWS_TRACE_HEADER: {"DataType": "String", "StringValue": header}},
    )
    (message,) = drain_queue(sqs_client, queue_url)
    assert message["Attributes"][AWS_TRACE_HEADER] == header
    extracted = span_context(extract_context(message, destination=queue_name))
    assert extracted.trace_id == create.get_span_context().trace_id
    assert extracted.span_id == create.get_span_context().span_id
    assert extracted.trace_flags.sampled


def test_xray_header_is_a_fallback_that_keeps_baggage(otel: Any) -> None:
    header = (
        "Sampled=0;Lineage=a:1;Parent=53995c3f42cd8ad8;Root=1-5759e988-bd862e3fe1be46a994272793"
    )
    traceparent = {"DataType": "String", "StringValue": "garbage"}
    message: dict[str, Any] = {
        "MessageAttributes": {
            "traceparent": traceparent,
            "baggage": {"DataType": "String", "StringValue": "tenant=acme"},
        },
        "Attributes": {AWS_TRACE_HEADER: header},
    }
    context = extract_context(message, destination="xray-fallback")
    assert span_context(context).trace_id == 0x5759E988BD862E3FE1BE46A994272793
    assert span_context(context).span_id == 0x53995C3F42CD8AD8
    assert not span_context(context).trace_flags.sampled
    assert baggage.get_baggage("tenant", context) == "acme"
    # The W3C context wins when both are valid.
    traceparent["StringValue"] = VALID_TRACEPARENT
    preferred = span_context(extract_context(message, destination="xray-fallback"))
    assert preferred.trace_id == 0x0AF7651916CD43DD8448EB211C80319C


def test_no_header_without_a_valid_span() -> None:
    assert xray_trace_header() is None
