"""A producer+listener round makes the same spans and metrics on both transports.

The same round (10 messages sent in one SendMessageBatch, received, handled in batch mode,
deleted in one DeleteMessageBatch, on one queue) runs with ``transport="boto3"`` and then
``transport="lean"``; span names, kinds, attributes, links and counts, and every metric point's
attributes and count, must be equal. Ids, timings and histogram sums are left out.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import boto3
from botocore.config import Config

from sqsobs import BatchProducer, Listener
from sqsobs.types import BatchResult, SqsMessage
from tests.conftest import REGION
from tests.helpers import wait_for
from tests.listener_support import SqsCalls

MESSAGES = 10
#: Span attributes that differ between two identical rounds.
VOLATILE = {"messaging.message.id", "aws.request_id"}


def _client(endpoint_url: str) -> Any:
    config = Config(retries={"total_max_attempts": 1}, max_pool_connections=20)
    return boto3.session.Session().client(
        "sqs", endpoint_url=endpoint_url, region_name=REGION, config=config
    )


def _span_key(span: Any) -> tuple[Any, ...]:
    attributes = tuple(sorted(
        (key, "<volatile>" if key in VOLATILE else value)
        for key, value in (span.attributes or {}).items()
    ))  # fmt: skip
    return (span.name, span.kind, span.status.status_code, attributes, len(span.links),
            len(span.events), span.parent is not None)  # fmt: skip


def _points(otel: Any) -> Counter[tuple[Any, ...]]:
    """Every metric point: (name, attributes) -> its count (sums, histogram counts, gauges)."""
    found: Counter[tuple[Any, ...]] = Counter()
    data = otel.reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    key = (metric.name, tuple(sorted(point.attributes.items())))
                    found[key] += getattr(point, "count", None) or getattr(point, "value", 0)
    return found


def _round(endpoint_url: str, queue_url: str, transport: str, otel: Any) -> tuple[Any, Any]:
    before = _points(otel)
    otel.clear()
    # Only the size trigger may flush: an idle or interval flush on a slow machine would split
    # the ten messages differently on each transport.
    with BatchProducer(_client(endpoint_url), transport=transport, default_batch_interval=30,
                       default_idle_timeout=30, flush_at_exit=False) as producer:  # fmt: skip
        futures = [producer.send(queue_url, f"message {i}") for i in range(MESSAGES)]
        # A full batch goes on its own ("size"); a flush() here would race it for the reason.
        assert all(f.result(timeout=10) for f in futures)
    handled: list[str] = []
    lock = threading.Lock()

    def handler(messages: list[SqsMessage]) -> BatchResult:
        with lock:
            handled.extend(m.body for m in messages)
        return BatchResult(failed_receipt_handles=[])

    sqs = SqsCalls(_client(endpoint_url))  # counts deletes with after-call hooks: both emit them
    # visibility_secs=10: a first receive asks for no less (IDLE_RECEIVE_VISIBILITY_SECONDS), so
    # no heartbeat races the delete, whose outcome would depend on timing, not on the transport.
    listener = Listener(
        handler,
        queue_url=queue_url,
        client=sqs.client,
        transport=transport,
        mode="batch",
        wait_time=1,
        idle_sleep_max=0.0,
        worker_threads=1,
        poller_threads=1,
        visibility_secs=10,
    )
    with listener:
        assert wait_for(lambda: sqs.deleted >= MESSAGES, 15)
    assert sorted(handled) == sorted(f"message {i}" for i in range(MESSAGES))
    spans = Counter(_span_key(span) for span in otel.spans())
    after = _points(otel)
    metrics = Counter({key: after[key] - before[key] for key in after})
    return spans, +metrics


def test_spans_and_metrics_are_identical_on_both_transports(
    sqs_server: Any, queue_url: str, otel: Any
) -> None:
    boto_spans, boto_metrics = _round(sqs_server.endpoint_url, queue_url, "boto3", otel)
    lean_spans, lean_metrics = _round(sqs_server.endpoint_url, queue_url, "lean", otel)
    names = {key[0].split(" ")[0] for key in boto_spans}
    assert {"create", "send", "receive", "process", "delete"} <= names, names
    assert lean_spans == boto_spans
    assert {key[0] for key in boto_metrics} >= {"messaging.client.sent.messages"}
    assert lean_metrics == boto_metrics
