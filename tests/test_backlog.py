"""The queue's backlog as gauges (``backlog_metrics``): GetQueueAttributes at a low rate, for the
queue and its dead-letter queue, traced like every SQS call, one reader per process and queue."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest
from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, StatusCode

from sqsobs import Listener, SqsMessage
from sqsobs.listener._backlog import BacklogReader
from sqsobs.listener._settings import ListenerSettings
from sqsobs.telemetry.catalog import DEAD_LETTER_MESSAGES, OPERATION_DURATION, QUEUE_MESSAGES
from tests.helpers import wait_for
from tests.listener_support import SqsCalls, send_bodies


def counts(otel: Any, spec: Any, queue: str) -> dict[str, float]:
    """state -> value the gauge reports for ``queue`` at one collection."""
    points = otel.points(spec.name, **{"messaging.destination.name": queue})
    return {p.attributes["sqsobs.queue.state"]: p.value for p in points}


def dlq_names(otel: Any, queue: str) -> set[str]:
    points = otel.points(DEAD_LETTER_MESSAGES.name, **{"messaging.destination.name": queue})
    return {p.attributes["sqsobs.dlq.name"] for p in points}


def reader_threads(queue: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"sqsobs-{queue}-backlog"]


@pytest.fixture
def redriven(make_queue: Any, sqs_client: Any) -> tuple[str, str]:
    """(queue URL, dead-letter queue URL): the queue's RedrivePolicy names the second."""
    dlq_url = make_queue("-dlq")
    arn = sqs_client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "3"})
    return make_queue(RedrivePolicy=policy), dlq_url


def test_backlog_gauges_read_the_queue_and_its_dead_letter_queue(
    redriven: tuple[str, str], make_client: Any, sqs_client: Any, queue_name: str, otel: Any
) -> None:
    queue_url, dlq_url = redriven
    send_bodies(sqs_client, queue_url, [f"m{i}" for i in range(12)])
    send_bodies(sqs_client, dlq_url, ["dead-1", "dead-2"])
    started, release = threading.Semaphore(0), threading.Event()

    def handle(message: SqsMessage) -> bool:
        started.release()
        release.wait(20)
        return True

    listener = Listener(
        handle,
        queue_url=queue_url,
        mode="per_message",
        worker_threads=2,
        max_prefetch=0,
        wait_time=1,
        backlog_metrics=True,
        backlog_interval_seconds=1,
        client=make_client(),
    )
    with listener:
        for _ in range(2):
            assert started.acquire(timeout=10)
        expected = {"visible": 10, "not_visible": 2, "delayed": 0}
        assert wait_for(lambda: counts(otel, QUEUE_MESSAGES, queue_name) == expected, 5), counts(
            otel, QUEUE_MESSAGES, queue_name
        )
        dead = {"visible": 2, "not_visible": 0, "delayed": 0}
        assert wait_for(lambda: counts(otel, DEAD_LETTER_MESSAGES, queue_name) == dead, 5)
        assert dlq_names(otel, queue_name) == {f"{queue_name}-dlq"}
        # Read again every interval: the new number shows.
        send_bodies(sqs_client, dlq_url, ["dead-3"])
        assert wait_for(lambda: counts(otel, DEAD_LETTER_MESSAGES, queue_name)["visible"] == 3, 5)
        release.set()
    assert counts(otel, QUEUE_MESSAGES, queue_name) == {}  # gone with the listener
    assert counts(otel, DEAD_LETTER_MESSAGES, queue_name) == {}
    assert reader_threads(queue_name) == []


def test_each_read_is_a_client_span_with_other_instrumentation_suppressed(
    redriven: tuple[str, str], make_client: Any, queue_name: str, otel: Any
) -> None:
    queue_url, _ = redriven
    seen: list[tuple[str, bool]] = []
    client = make_client()

    def during_call(**_: Any) -> None:
        span = trace.get_current_span()
        name = getattr(span, "name", "")
        seen.append((name, bool(context.get_value(context._SUPPRESS_INSTRUMENTATION_KEY))))

    client.meta.events.register("before-send.sqs.GetQueueAttributes", during_call)
    reader = BacklogReader(client=client, queue_url=queue_url, interval_seconds=60)
    otel.clear()
    reader.read()
    assert seen == [
        (f"get_queue_attributes {queue_name}", True),
        (f"get_queue_attributes {queue_name}-dlq", True),
    ]
    spans = {s.name: s for s in otel.spans()}
    span = spans[f"get_queue_attributes {queue_name}"]
    assert span.kind is SpanKind.CLIENT
    assert span.attributes["messaging.operation.name"] == "get_queue_attributes"
    assert span.attributes["messaging.destination.name"] == queue_name
    assert span.attributes["aws.sqs.queue.url"] == queue_url
    assert span.parent is None  # a root span, never inside whatever the caller had open
    durations = otel.points(
        OPERATION_DURATION.name,
        **{
            "messaging.destination.name": queue_name,
            "messaging.operation.name": "get_queue_attributes",
        },
    )
    assert sum(p.count for p in durations) == 1


def test_a_failing_read_is_a_failed_span_a_warning_once_and_the_gauges_go_stale(
    queue_url: str, make_client: Any, sqs_client: Any, otel: Any, caplog: pytest.LogCaptureFixture
) -> None:
    queue_name = queue_url.rsplit("/", 1)[-1]
    now = [0.0]
    reader = BacklogReader(
        client=make_client(), queue_url=queue_url, interval_seconds=10, clock=lambda: now[0]
    )
    reader.read()
    assert {a["sqsobs.queue.state"]: v for v, a in reader.queue_readings()} == {
        "visible": 0,
        "not_visible": 0,
        "delayed": 0,
    }
    sqs_client.delete_queue(QueueUrl=queue_url)
    otel.clear()
    with caplog.at_level(logging.DEBUG, logger="sqsobs.listener._backlog"):
        reader.read()
        reader.read()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"reading the backlog of {queue_name}" in warnings[0].getMessage()
    assert "does not exist" in warnings[0].getMessage()
    (failed, _) = otel.spans()
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"]
    now[0] = 24.0  # 2.4 intervals after the last good read: still reported
    assert reader.queue_readings()
    now[0] = 26.0  # past 2.5 intervals: stale, reported no more
    assert reader.queue_readings() == []


def test_one_reader_per_process_and_queue(
    queue_url: str, make_client: Any, queue_name: str, otel: Any
) -> None:
    sqs = SqsCalls(make_client())
    options: dict[str, Any] = {
        "queue_url": queue_url,
        "wait_time": 1,
        "backlog_metrics": True,
        "backlog_interval_seconds": 1,
        "client": sqs.client,
    }
    first, second = Listener(lambda m: True, **options), Listener(lambda m: True, **options)
    with first, second:
        assert len(reader_threads(queue_name)) == 1
        before = sqs.requests["GetQueueAttributes"]
        threading.Event().wait(2.5)
        reads = sqs.requests["GetQueueAttributes"] - before
        assert 2 <= reads <= 4, reads  # about one a second, not two
        first.stop()
        assert len(reader_threads(queue_name)) == 1  # the second listener still reports
        assert counts(otel, QUEUE_MESSAGES, queue_name)
    assert reader_threads(queue_name) == []


def test_off_by_default_and_from_the_environment(queue_url: str, make_client: Any) -> None:
    settings = ListenerSettings.resolve(queue_url="q", environ={})
    assert (settings.backlog_metrics, settings.backlog_interval_seconds) == (False, 60.0)
    env = {"BACKLOG_METRICS": "1", "BACKLOG_INTERVAL": "15"}
    settings = ListenerSettings.resolve(queue_url="q", environ=env)
    assert (settings.backlog_metrics, settings.backlog_interval_seconds) == (True, 15.0)
    sqs = SqsCalls(make_client())
    with Listener(lambda m: True, queue_url=queue_url, wait_time=1, client=sqs.client):
        threading.Event().wait(1.0)
    assert sqs.requests["GetQueueAttributes"] == 1  # only the start's check of the URL
