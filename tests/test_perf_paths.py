"""The cheaper paths the profile work added keep the behaviour of the full ones."""

from __future__ import annotations

from typing import Any

from botocore.config import Config
from opentelemetry import baggage, trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from sqsobs.dramatiq import BatchSQSBroker
from sqsobs.limits import attribute_size
from sqsobs.telemetry._propagation import inject_context, inject_context_size
from tests.conftest import REGION


def _context(state: TraceState | None = None, bag: dict[str, str] | None = None) -> Context:
    span = NonRecordingSpan(
        SpanContext(2**90 + 1, 77, is_remote=False, trace_flags=TraceFlags(1), trace_state=state)
    )
    context = trace.set_span_in_context(span)
    for key, value in (bag or {}).items():
        context = baggage.set_baggage(key, value, context)
    return context


def test_inject_size_is_the_size_of_what_was_added() -> None:
    attributes: dict[str, Any] = {"k": {"DataType": "String", "StringValue": "v"}}
    context = _context(TraceState([("vendor", "abc")]), {"user": "ü ö"})
    added = inject_context_size(attributes, destination="q", context=context)
    assert set(attributes) == {"k", "traceparent", "tracestate", "baggage"}
    expected = sum(attribute_size(k, v) for k, v in attributes.items() if k != "k")
    assert added == expected > 0
    assert attributes["traceparent"]["StringValue"].startswith(f"00-{2**90 + 1:032x}-")


def test_room_and_fields_still_checked_on_the_fast_path() -> None:
    context = _context()
    assert inject_context_size({}, destination="q", context=context, room_bytes=10) == 0
    assert inject_context({}, destination="q", context=context, room_bytes=10) is False
    assert inject_context_size({}, destination="q", context=Context()) == 0
    taken = {"traceparent": {"DataType": "String", "StringValue": "mine"}}
    assert inject_context(taken, destination="q", context=context) is False
    assert taken["traceparent"]["StringValue"] == "mine"


def test_broker_skips_botocore_validation_unless_told_otherwise(sqs_server: Any) -> None:
    options = {"endpoint_url": sqs_server.endpoint_url, "region_name": REGION}
    brokers = [
        BatchSQSBroker(**options),
        BatchSQSBroker(config=Config(parameter_validation=True, read_timeout=7), **options),
    ]
    try:
        # The choice is baked into the client's serializer; the Config object keeps its default.
        default, told = (type(b.sqs.meta.client._serializer).__name__ for b in brokers)
        assert default == "JSONSerializer"
        assert told == "ParamValidationDecorator"
        assert brokers[1].sqs.meta.client.meta.config.read_timeout == 7
    finally:
        for broker in brokers:
            broker.close()
