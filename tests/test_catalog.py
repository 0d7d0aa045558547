"""The metric catalog, the instruments built from it, the span helpers and the docs table."""

from __future__ import annotations

import re
from typing import Any

import pytest
from opentelemetry.exporter.prometheus._mapping import map_unit, sanitize_full_name
from opentelemetry.sdk.metrics.export import Gauge, Histogram, Sum
from opentelemetry.trace import SpanKind, StatusCode

from sqsobs.errors import QueueDoesNotExist, Throttled
from sqsobs.telemetry import catalog
from sqsobs.telemetry._instruments import get_instruments
from sqsobs.telemetry._spans import (
    KINDS,
    OP_CREATE,
    OP_DELETE,
    OP_HEARTBEAT,
    OP_PROCESS,
    OP_RECEIVE,
    OP_RELEASE,
    OP_SEND,
    OPERATION_TYPES,
    error_type,
    get_tracer,
    messaging_attributes,
    metric_attributes,
    record_error,
    span_name,
)
from sqsobs.telemetry.catalog import (
    ATTR_DESTINATION,
    ATTR_ERROR_TYPE,
    ATTR_OPERATION_NAME,
    ATTR_OPERATION_TYPE,
    ATTR_SYSTEM,
    CATALOG,
    DURATION_BUCKETS_SECONDS,
    FLUSHES,
    OPERATION_DURATION,
    PROPAGATION_SKIPPED,
    SENT_MESSAGES,
    SYSTEM,
    MetricSpec,
    by_name,
    markdown_table,
)

# What the messaging semantic conventions define: name -> (kind, unit).
SEMCONV = {
    "messaging.client.sent.messages": ("counter", "{message}"),
    "messaging.client.consumed.messages": ("counter", "{message}"),
    "messaging.client.operation.duration": ("histogram", "s"),
    "messaging.process.duration": ("histogram", "s"),
}


def _extras(spec: MetricSpec) -> dict[str, str]:
    if spec is FLUSHES:
        return {"flush_reason": "size"}
    if spec is PROPAGATION_SKIPPED:
        return {"propagation_reason": "no_room"}
    return {}


def _operation(spec: MetricSpec) -> str | None:
    return OP_SEND if ATTR_OPERATION_NAME in spec.attributes else None


# --- the catalog as data ------------------------------------------------------------------------


def test_names_are_unique_and_namespaced() -> None:
    names = [spec.name for spec in CATALOG]
    assert len(names) == len(set(names))
    for name in names:
        assert name in SEMCONV or name.startswith("sqsobs."), name
        assert by_name(name).name == name
    with pytest.raises(KeyError):
        by_name("sqsobs.no.such.metric")


def test_semantic_convention_metrics_follow_the_conventions() -> None:
    for name, (kind, unit) in SEMCONV.items():
        spec = by_name(name)
        assert (spec.kind, spec.unit) == (kind, unit)
        assert {ATTR_SYSTEM, ATTR_DESTINATION, ATTR_OPERATION_NAME, ATTR_ERROR_TYPE} <= set(
            spec.attributes
        )
        if kind == "histogram":
            assert spec.buckets == DURATION_BUCKETS_SECONDS
    assert DURATION_BUCKETS_SECONDS == (
        0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
    )  # fmt: skip
    # "Conditionally required if applicable" on the operation duration only.
    assert ATTR_OPERATION_TYPE in OPERATION_DURATION.attributes
    assert ATTR_OPERATION_TYPE not in SENT_MESSAGES.attributes


def test_every_spec_is_complete() -> None:
    for spec in CATALOG:
        assert spec.attributes[:2] == (ATTR_SYSTEM, ATTR_DESTINATION), spec.name
        assert spec.description.endswith("."), spec.name
        assert (spec.buckets is not None) == (spec.kind == "histogram"), spec.name
        if spec.buckets:
            assert list(spec.buckets) == sorted(set(spec.buckets)), spec.name


def test_prometheus_names_follow_the_exporter_mapping() -> None:
    for spec in CATALOG:
        base = sanitize_full_name(spec.name)
        unit = map_unit(spec.unit)
        if unit and not base.endswith(f"_{unit}"):
            base = f"{base}_{unit}"
        expected = f"{base}_total" if spec.kind == "counter" else base
        assert spec.prometheus_name == expected, spec.name
        assert spec.prometheus_labels == tuple(a.replace(".", "_") for a in spec.attributes)


def test_no_prometheus_family_name_ends_in_a_reserved_suffix() -> None:
    for spec in CATALOG:
        family = (
            spec.prometheus_name.removesuffix("_total")
            if spec.kind == "counter"
            else (spec.prometheus_name)
        )
        assert not re.search(r"_(count|sum|bucket|total|info)$", family), spec.name


def test_unit_words_for_units_the_catalog_may_use() -> None:
    def named(unit: str, kind: Any = "histogram") -> str:
        return MetricSpec("a.b", kind, unit, "d.", (ATTR_SYSTEM,), "both", (1.0,)).prometheus_name

    assert named("ms") == "a_b_milliseconds"
    assert named("By") == "a_b_bytes"
    assert named("1") == "a_b"
    assert named("{thing}") == "a_b"
    assert named("s", "counter") == "a_b_seconds_total"


def test_the_generated_metric_table_has_a_row_per_catalog_entry() -> None:
    table = markdown_table()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) == len(CATALOG)
    for spec, row in zip(CATALOG, rows, strict=True):
        assert f"`{spec.name}`" in row and f"`{spec.prometheus_name}`" in row


# --- instruments on an in-memory SDK -----------------------------------------------------------


class _Owner:
    """Something an observable instrument reads (held weakly by the instruments)."""


def test_instruments_record_with_catalog_name_kind_unit_buckets_and_attributes(otel: Any) -> None:
    queue = "catalog-instruments"
    inst = get_instruments()
    owners = _Owner()
    for spec in CATALOG:
        attrs = metric_attributes(spec, queue, operation=_operation(spec), **_extras(spec))
        if spec.kind == "counter":
            inst.counter(spec).add(2, attrs)
        elif spec.kind == "updown_counter":
            inst.updown(spec).add(5, attrs)
            inst.updown(spec).add(-1, attrs)
        elif spec.kind in ("observable_updown_counter", "observable_gauge"):
            inst.observe(spec, owners, lambda _, attrs=attrs: [(4, attrs)])
        else:
            inst.histogram(spec).record(0.02, attrs)
    found = {}
    for resource_metrics in otel.reader.get_metrics_data().resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            assert scope_metrics.scope.name == "sqsobs"
            for metric in scope_metrics.metrics:
                found[metric.name] = metric
    for spec in CATALOG:
        metric = found[spec.name]
        assert (metric.unit, metric.description) == (spec.unit, spec.description)
        points = [p for p in metric.data.data_points if p.attributes.get(ATTR_DESTINATION) == queue]
        assert len(points) == 1, spec.name
        point = points[0]
        assert point.attributes[ATTR_SYSTEM] == SYSTEM
        assert set(point.attributes) <= set(spec.attributes), spec.name
        if spec.kind == "histogram":
            assert isinstance(metric.data, Histogram)
            assert tuple(point.explicit_bounds) == spec.buckets
            assert point.count == 1
        elif spec.kind == "observable_gauge":
            # A gauge everywhere: never a cumulative sum (EMF would turn that into deltas).
            assert isinstance(metric.data, Gauge)
            assert point.value == 4
        else:
            assert isinstance(metric.data, Sum)
            assert metric.data.is_monotonic is (spec.kind == "counter")
            assert point.value == (2 if spec.kind == "counter" else 4)


def test_get_instruments_is_cached_per_provider() -> None:
    assert get_instruments() is get_instruments()


# --- metric_attributes -------------------------------------------------------------------------


def test_metric_attributes_keep_to_what_the_spec_declares() -> None:
    assert metric_attributes(OPERATION_DURATION, "q", operation=OP_DELETE) == {
        ATTR_SYSTEM: SYSTEM,
        ATTR_DESTINATION: "q",
        ATTR_OPERATION_NAME: OP_DELETE,
        ATTR_OPERATION_TYPE: "settle",
    }
    # error.type only on failure; operation.type only where the spec carries it.
    sent = metric_attributes(SENT_MESSAGES, "q", operation=OP_SEND, error_type="throttled")
    assert sent[ATTR_ERROR_TYPE] == "throttled" and ATTR_OPERATION_TYPE not in sent
    assert metric_attributes(catalog.BUFFER_DEPTH, "q", operation=OP_SEND) == {
        ATTR_SYSTEM: SYSTEM,
        ATTR_DESTINATION: "q",
    }
    assert metric_attributes(FLUSHES, "q", flush_reason="idle")["sqsobs.flush.reason"] == "idle"


def test_metric_attributes_refuse_misuse() -> None:
    with pytest.raises(ValueError, match="operation"):
        metric_attributes(SENT_MESSAGES, "q")
    with pytest.raises(ValueError, match=r"sqsobs\.flush\.reason"):
        metric_attributes(SENT_MESSAGES, "q", operation=OP_SEND, flush_reason="size")


# --- span helpers ------------------------------------------------------------------------------


def test_span_kinds_follow_the_messaging_conventions() -> None:
    assert KINDS[OP_CREATE] is SpanKind.PRODUCER
    assert KINDS[OP_PROCESS] is SpanKind.CONSUMER
    for operation in (OP_SEND, OP_RECEIVE, OP_DELETE, OP_HEARTBEAT, OP_RELEASE):
        assert KINDS[operation] is SpanKind.CLIENT
    assert OPERATION_TYPES[OP_DELETE] == OPERATION_TYPES[OP_RELEASE] == "settle"
    assert OPERATION_TYPES[OP_HEARTBEAT] is None


def test_spans_carry_semconv_name_kind_and_attributes(otel: Any) -> None:
    url = "http://sqs.eu-west-1.localhost:4566/000000000000/orders"
    with get_tracer().start_as_current_span(
        span_name(OP_SEND, "orders"),
        kind=KINDS[OP_SEND],
        attributes=messaging_attributes(OP_SEND, "orders", queue_url=url, batch_count=10),
    ):
        pass
    (span,) = otel.spans()
    assert span.name == "send orders"
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope.name == "sqsobs"
    assert dict(span.attributes) == {
        "messaging.system": "aws_sqs",
        "messaging.operation.name": "send",
        "messaging.operation.type": "send",
        "messaging.destination.name": "orders",
        "messaging.batch.message_count": 10,
        "aws.sqs.queue.url": url,
        "server.address": "sqs.eu-west-1.localhost",
        "server.port": 4566,
    }


def test_messaging_attributes_without_url_or_with_a_bad_one() -> None:
    attrs = messaging_attributes(OP_HEARTBEAT, "q", message_id="m-1")
    assert attrs == {
        "messaging.system": "aws_sqs",
        "messaging.operation.name": "heartbeat",
        "messaging.destination.name": "q",
        "messaging.message.id": "m-1",
    }
    bad = messaging_attributes(OP_SEND, "q", queue_url="http://[::1")
    assert "server.address" not in bad and bad["aws.sqs.queue.url"] == "http://[::1"


def test_record_error_marks_the_span(otel: Any) -> None:
    with get_tracer().start_as_current_span("process q") as span:
        record_error(span, Throttled("slow down", code="ThrottlingException"))
    (finished,) = otel.spans()
    assert finished.status.status_code is StatusCode.ERROR
    assert finished.attributes["error.type"] == "ThrottlingException"
    assert finished.events[0].name == "exception"


def test_error_type_is_low_cardinality() -> None:
    assert error_type(QueueDoesNotExist("gone")) == "queue_does_not_exist"
    assert error_type(Throttled("no code")) == "throttled"
    assert error_type(KeyError("x")) == "KeyError"
