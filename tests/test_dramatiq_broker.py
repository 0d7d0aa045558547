"""BatchSQSBroker with a real dramatiq Worker against the test server: one trace from the
producer's ``create`` through ``send`` to the worker's ``process``, hooks, naming, delays."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import inspect
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import dramatiq_sqs
import pytest
from dramatiq.common import current_millis
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from sqsobs import MessageTooLarge
from sqsobs.dramatiq import BatchSQSBroker, TracingMiddleware
from sqsobs.producer import ProducerSettings
from tests.conftest import REGION
from tests.helpers import drain_queue, wait_for

BrokerFactory = Callable[..., BatchSQSBroker]


@pytest.fixture
def make_broker(sqs_server: Any, queue_name: str) -> Iterator[BrokerFactory]:
    brokers: list[BatchSQSBroker] = []

    def factory(**kwargs: Any) -> BatchSQSBroker:
        kwargs.setdefault("namespace", queue_name[:60])
        broker = BatchSQSBroker(endpoint_url=sqs_server.endpoint_url, region_name=REGION, **kwargs)
        brokers.append(broker)
        return broker

    yield factory
    for broker in brokers:
        broker.close()
        for queue in broker.queues.values():
            with contextlib.suppress(Exception):
                queue.delete()


@contextlib.contextmanager
def running_worker(broker: BatchSQSBroker) -> Iterator[dramatiq.Worker]:
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(timeout=5000)


def test_worker_processes_what_the_broker_sent_in_the_producers_trace(
    make_broker: BrokerFactory, sqs_client: Any, otel: Any
) -> None:
    broker = make_broker(default_batch_interval=0.1)
    seen: dict[int, tuple[int, int]] = {}
    lock = threading.Lock()

    def work(n: int) -> None:
        context = trace.get_current_span().get_span_context()
        with lock:
            seen[n] = (context.trace_id, context.span_id)

    actor = dramatiq.actor(broker=broker, queue_name="work", max_retries=0)(work)
    with trace.get_tracer("test").start_as_current_span("request") as request:
        for n in range(5):
            actor.send(n)
    request_trace = request.get_span_context().trace_id
    sqs_name = f"{broker.namespace}_work"
    assert sqs_client.get_queue_url(QueueName=sqs_name)["QueueUrl"].endswith(sqs_name)
    with running_worker(broker):
        assert wait_for(lambda: len(seen) == 5, timeout=20)
    spans = otel.spans()
    creates = {s.context.span_id: s for s in spans if s.name == f"create {sqs_name}"}
    processes = [s for s in spans if s.name == f"process {sqs_name}"]
    sends = [s for s in spans if s.name == f"send {sqs_name}"]
    assert len(creates) == 5 and len(processes) == 5 and sends
    assert all(s.kind is SpanKind.PRODUCER for s in creates.values())
    for span in processes:
        assert span.kind is SpanKind.CONSUMER
        assert span.context.trace_id == request_trace
        assert span.parent is not None and span.parent.span_id in creates
        assert span.attributes["messaging.message.id"]
    assert {trace_id for trace_id, _ in seen.values()} == {request_trace}
    assert {span_id for _, span_id in seen.values()} == {s.context.span_id for s in processes}
    linked = {link.context.span_id for s in sends for link in s.links}
    assert linked == set(creates)
    assert all(s.context.trace_id == request_trace for s in sends)  # flush joined the trace


def test_enqueue_runs_middleware_hooks_and_close_flushes(
    make_broker: BrokerFactory, sqs_client: Any
) -> None:
    calls: list[str] = []

    class Recorder(dramatiq.Middleware):
        def before_enqueue(self, broker: Any, message: Any, delay: Any) -> None:
            calls.append(f"before:{message.args[0]}")

        def after_enqueue(self, broker: Any, message: Any, delay: Any) -> None:
            calls.append(f"after:{message.args[0]}")

    broker = make_broker(default_batch_interval=60, default_idle_timeout=0)
    broker.add_middleware(Recorder())
    assert isinstance(broker.middleware[0], TracingMiddleware)
    actor = dramatiq.actor(broker=broker, actor_name="noop", queue_name="hooks")(lambda n: None)
    for n in range(3):
        actor.send(n)
    assert calls == ["before:0", "after:0", "before:1", "after:1", "before:2", "after:2"]
    assert broker.get_queue_status("hooks")["buffer_size"] == 3
    url = broker.queues["hooks"].url
    broker.close()
    received = drain_queue(sqs_client, url)
    decoded = [dramatiq.Message.decode(base64.b64decode(m["Body"])) for m in received]
    assert sorted(m.args[0] for m in decoded) == [0, 1, 2]
    metrics = broker.get_metrics()
    assert metrics["metrics"]["messages_sent"]["hooks"] == 3
    assert metrics["background_thread_alive"] is False


def test_delay_over_15_minutes_is_kept_as_an_eta(make_broker: BrokerFactory) -> None:
    broker = make_broker(default_batch_interval=0)
    requests: list[dict[str, Any]] = []
    broker.producer.client.meta.events.register(
        "provide-client-params.sqs.SendMessageBatch",
        lambda params, **_: requests.extend(params["Entries"]),
    )
    actor = dramatiq.actor(broker=broker, actor_name="later", queue_name="later")(lambda n: None)
    before = current_millis()
    message = actor.send_with_options(args=(1,), delay=3_600_000)  # dramatiq-sqs would raise
    broker.force_flush_queue("later")
    assert len(requests) == 1 and requests[0]["DelaySeconds"] == 900
    sent = dramatiq.Message.decode(base64.b64decode(requests[0]["MessageBody"]))
    assert before + 3_600_000 <= sent.options["eta"] <= current_millis() + 3_600_000
    assert message.options["eta"] == sent.options["eta"]


def test_worker_holds_a_long_delayed_message_until_its_eta(make_broker: BrokerFactory) -> None:
    broker = make_broker(default_batch_interval=0)
    broker.max_sqs_delay_seconds = 1  # stands in for SQS's 900 s so the test runs in seconds
    done: list[int] = []
    actor = dramatiq.actor(broker=broker, actor_name="eta", queue_name="eta")(
        lambda: done.append(current_millis())
    )
    before = current_millis()
    message = actor.send_with_options(delay=2_500)
    with running_worker(broker):
        assert wait_for(lambda: bool(done), timeout=20)
    # The eta is wall-clock time (dramatiq's current_millis), so the run is measured on that
    # clock too: a monotonic stopwatch disagrees whenever the wall clock is stepped (a CI run
    # saw the message run 1.82 s after a 2.5 s delay on the monotonic clock).
    eta = message.options["eta"]
    assert before + 2_500 <= eta
    assert done[0] >= eta, f"ran {eta - done[0]} ms before its eta"


def test_failing_actor_marks_the_process_span_failed(make_broker: BrokerFactory, otel: Any) -> None:
    broker = make_broker(default_batch_interval=0)
    attempts: list[int] = []

    def boom() -> None:
        attempts.append(1)
        raise ValueError("nope")

    actor = dramatiq.actor(broker=broker, queue_name="boom", max_retries=0)(boom)
    actor.send()
    name = f"{broker.namespace}_boom"
    with running_worker(broker):
        assert wait_for(lambda: any(s.name == f"process {name}" for s in otel.spans()), timeout=20)
    span = next(s for s in otel.spans() if s.name == f"process {name}")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ValueError"
    assert attempts == [1]


def test_worker_process_spans_record_the_process_duration(
    make_broker: BrokerFactory, otel: Any
) -> None:
    broker = make_broker(default_batch_interval=0)

    def work(fail: bool) -> None:
        time.sleep(0.05)
        if fail:
            raise ValueError("nope")

    actor = dramatiq.actor(broker=broker, queue_name="timed", max_retries=0)(work)
    actor.send(False)
    actor.send(True)
    name = f"{broker.namespace}_timed"
    with running_worker(broker):
        assert wait_for(
            lambda: len([s for s in otel.spans() if s.name == f"process {name}"]) == 2, timeout=20
        )
    queue = {"messaging.destination.name": name, "messaging.operation.name": "process"}
    points = otel.points("messaging.process.duration", **queue)
    assert sum(p.count for p in points) == 2
    failed = [p for p in points if p.attributes.get("error.type") == "ValueError"]
    assert len(failed) == 1 and failed[0].count == 1
    assert all(p.min >= 0.04 for p in points)
    assert all(p.attributes["server.address"] for p in points)


def test_oversized_message_raises_both_error_types(make_broker: BrokerFactory) -> None:
    broker = make_broker()
    actor = dramatiq.actor(broker=broker, actor_name="big", queue_name="big")(lambda s: None)
    with pytest.raises(MessageTooLarge) as caught:
        actor.send("x" * 1_000_000)  # base64 grows it past 1 MiB
    assert isinstance(caught.value, dramatiq_sqs.MessageTooLarge)
    assert broker.get_queue_status("big")["buffer_size"] == 0


def test_the_broker_takes_every_producer_setting_and_returns_the_contracts_answers(
    make_broker: BrokerFactory,
) -> None:
    parameters = inspect.signature(BatchSQSBroker.__init__).parameters.values()
    keywords = [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert keywords == [field.name for field in dataclasses.fields(ProducerSettings)]
    broker = make_broker(
        batch_size=5, max_concurrent_sends=2, retry_backoff_max_seconds=3.0, xray_trace_header=True
    )
    settings = broker.producer.settings
    assert (settings.batch_size, settings.max_concurrent_sends) == (5, 2)
    assert (settings.retry_backoff_max_seconds, settings.xray_trace_header) == (3.0, True)
    assert broker.batch_size == 5  # dramatiq-sqs-batch's attribute, as resolved
    assert broker.flush_all(timeout_seconds=10) is True
    assert broker.force_flush_queue("never-used", 1) is True
    assert broker.close(timeout_seconds=10) is True
    assert broker.producer.closed and broker.close() is True
