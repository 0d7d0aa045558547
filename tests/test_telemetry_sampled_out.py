"""Spans sampled out cost no per-message work beyond the trace context the messages carry.

A sampler that drops everything sees every span the producer, the listener (both modes) and
the dramatiq broker's workers start; none of them may come with per-message links or a
per-message attribute, no ``Link`` may be built at all, and no span reaches a processor, while
every message still carries its ``traceparent`` and every handler runs in the producer's trace.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

from sqsobs import BatchProducer, Listener
from sqsobs.telemetry import ATTR_MESSAGE_ID
from sqsobs.types import SqsMessage
from tests.helpers import wait_for
from tests.listener_support import SqsCalls

FAST = {"wait_time": 1, "idle_sleep_max": 0.0}
MESSAGES = 25


class DropAll(Sampler):
    """Drops every span and remembers what each start offered it."""

    def __init__(self, otel: Any) -> None:
        self.otel = otel  # the session's SDK: its span processor must see nothing
        self.lock = threading.Lock()
        self.starts: list[tuple[str, dict[str, Any], int]] = []
        self.links_built = 0

    def should_sample(  # noqa: PLR0917 - the SDK calls it positionally
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        with self.lock:
            self.starts.append((name, dict(attributes or {}), len(links or ())))
        return SamplingResult(Decision.DROP)

    def get_description(self) -> str:
        return "DropAll"


@pytest.fixture
def dropped(otel: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[DropAll]:
    """The session's tracer provider with a drop-everything sampler, and Link() counted."""
    sampler = DropAll(otel)
    # Tracers take their provider's sampler when they are made, and the provider caches them:
    # new ones for this test (the code under test is built inside it), the old ones after it.
    monkeypatch.setattr(otel.tracer_provider, "sampler", sampler)
    monkeypatch.setattr(otel.tracer_provider, "_tracers", {})
    original = Link.__init__

    def counting(self: Link, *args: Any, **kwargs: Any) -> None:
        sampler.links_built += 1
        original(self, *args, **kwargs)

    monkeypatch.setattr(Link, "__init__", counting)
    yield sampler


def _send(make_client: Any, queue_url: str) -> None:
    with BatchProducer(client=make_client(), default_batch_interval=0.05) as producer:
        futures = [producer.send(queue_url, f"m{i}") for i in range(MESSAGES)]
        assert all(f.result(timeout=10) for f in futures)


def _assert_nothing_per_message(sampler: DropAll, queue_url: str) -> None:
    names = {name.split(" ")[0] for name, _, _ in sampler.starts}
    # The sampler was asked about every kind of span the round makes (the test is not vacuous).
    assert {"create", "flush", "send", "receive", "process", "delete"} <= names, names
    assert [s for s in sampler.starts if s[2]] == [], "links built for spans that do not record"
    assert [s for s in sampler.starts if ATTR_MESSAGE_ID in s[1]] == []
    assert sampler.links_built == 0
    queue_name = queue_url.rsplit("/", 1)[-1]
    assert [s for s in sampler.otel.spans() if queue_name in s.name] == []


@pytest.mark.parametrize("mode", ["per_message", "batch"])
def test_sampled_out_round_builds_no_links_and_no_message_attributes(
    mode: str, make_client: Any, queue_url: str, dropped: DropAll
) -> None:
    seen: list[tuple[str | None, int]] = []
    lock = threading.Lock()

    def handle(messages: list[SqsMessage]) -> None:
        current = trace.get_current_span().get_span_context().trace_id
        with lock:
            for message in messages:
                seen.append((message.message_attributes().get("traceparent"), current))

    def per_message(message: SqsMessage) -> bool:
        handle([message])
        return True

    def batch(messages: list[SqsMessage]) -> None:
        handle(messages)

    _send(make_client, queue_url)
    sqs = SqsCalls(make_client())
    handler = per_message if mode == "per_message" else batch
    listener = Listener(handler, queue_url=queue_url, mode=mode, client=sqs.client, **FAST)
    with listener:
        assert wait_for(lambda: sqs.deleted == MESSAGES, timeout=20)
    assert len(seen) == MESSAGES
    # The context still travels: a sampled-out traceparent (sampled flag clear) on every
    # message, and a per-message handler runs in its message's trace.
    assert all(tp is not None and int(tp[-2:], 16) & 1 == 0 for tp, _ in seen), seen
    if mode == "per_message":
        assert all(int(tp.split("-")[1], 16) == current for tp, current in seen if tp)
    _assert_nothing_per_message(dropped, queue_url)


def test_sampled_out_dramatiq_worker_builds_no_message_attributes(
    sqs_server: Any, queue_name: str, dropped: DropAll
) -> None:
    import dramatiq

    from sqsobs.dramatiq import BatchSQSBroker
    from tests.conftest import REGION

    broker = BatchSQSBroker(
        endpoint_url=sqs_server.endpoint_url,
        region_name=REGION,
        namespace=queue_name[:60],
        default_batch_interval=0.05,
    )
    traces: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        with lock:
            traces.append(trace.get_current_span().get_span_context().trace_id)

    actor = dramatiq.actor(broker=broker, queue_name="work", max_retries=0)(work)
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    try:
        for n in range(MESSAGES):
            actor.send(n)
        worker.start()
        assert wait_for(lambda: len(traces) == MESSAGES, timeout=20)
    finally:
        worker.stop(timeout=5000)
        broker.close()
        for queue in broker.queues.values():
            queue.delete()
    # Each actor ran in its message's (sampled-out) trace: one per message, carried over SQS.
    assert len(set(traces)) == MESSAGES and 0 not in traces
    processes = [s for s in dropped.starts if s[0].startswith("process ")]
    assert len(processes) == MESSAGES
    assert [s for s in dropped.starts if ATTR_MESSAGE_ID in s[1] or s[2]] == []
    assert dropped.links_built == 0
    assert dropped.otel.spans() == []
