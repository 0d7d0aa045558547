"""FakeSQSQueue as sqs-fargate-listener's users use it; the fake under the producer and listener.

The first tests are written the way that package's documentation shows ``FakeSQSQueue``; then
what sqsobs adds (redelivery rounds, FIFO, timeouts), the pytest plugin, and the producer and the
listener running unchanged on a ``FakeSQS``: one trace from ``send()`` to the handler.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace

from sqsobs import BatchProducer
from sqsobs.listener import BatchResult, SqsMessage
from sqsobs.testing import DEFAULT_QUEUE_URL, FakeSQS, FakeSQSQueue, RunResult
from tests.helpers import wait_for

pytest_plugins = ["pytester"]


def my_batch_handler(messages: list[SqsMessage]) -> BatchResult:
    return BatchResult(failed_receipt_handles=[])


def my_handler(msg: SqsMessage) -> bool:
    return True


# --- sqs-fargate-listener's FakeSQSQueue, as its documentation uses it ----------------------------


def test_batch_mode_as_upstreams_docstring() -> None:
    queue = FakeSQSQueue()
    queue.send({"order_id": "123"})
    queue.send({"order_id": "456"})

    result = queue.run_handler(my_batch_handler, mode="batch")
    assert result.processed == 2
    assert result.failed == 0


def test_per_message_mode_and_async_handlers_as_upstreams_docstring() -> None:
    queue = FakeSQSQueue()
    queue.send({"event": "signup"})
    result = queue.run_handler(my_handler, mode="per_message")
    assert result.processed == 1

    seen: list[Any] = []

    async def async_handler(msg: SqsMessage) -> bool:
        await asyncio.sleep(0)
        seen.append(msg.json)
        return True

    queue.send({"event": "login"})
    result = queue.run_handler(async_handler, mode="per_message")
    assert (result.processed, seen) == (1, [{"event": "login"}])


def test_send_messages_and_counts_as_upstream() -> None:
    queue = FakeSQSQueue()
    assert queue.queue_url == DEFAULT_QUEUE_URL
    assert queue.send({"a": 1}) == "fake-msg-1"
    assert queue.send("raw text", attributes={"kind": {"DataType": "String", "StringValue": "x"}})
    queue.send("plain attributes", attributes={"kind": "y", "n": 3, "blob": b"\x01"})
    first, second, third = queue.messages
    assert (first.body, first.json, first.receipt_handle) == ('{"a": 1}', {"a": 1}, "fake-rh-1")
    assert second.md["MessageAttributes"] == {"kind": {"DataType": "String", "StringValue": "x"}}
    assert third.message_attributes() == {"kind": "y", "n": "3", "blob": b"\x01"}
    assert (queue.pending_count, queue.deleted_count) == (3, 0)

    result = queue.run_handler(lambda m: m.body != "raw text", mode="per_message")
    assert result == RunResult(processed=2, failed=1, filtered=0)
    assert (queue.pending_count, queue.deleted_count, len(queue.messages)) == (1, 2, 3)
    assert [m.body for m in queue.pending_messages] == ["raw text"]
    queue.reset()
    assert (queue.pending_count, queue.deleted_count, queue.messages) == (0, 0, [])


def test_filter_fn_and_failures_are_counted_as_upstream() -> None:
    queue = FakeSQSQueue()
    for n in range(6):
        queue.send({"n": n})

    def handler(msg: SqsMessage) -> bool:
        if msg.json["n"] == 1:
            raise ValueError("boom")
        return msg.json["n"] != 3

    result = queue.run_handler(handler, mode="per_message", filter_fn=lambda m: m.json["n"] < 4)
    assert result == RunResult(processed=2, failed=2, filtered=2)
    assert (queue.deleted_count, queue.pending_count) == (2, 4)


def test_a_batch_handler_that_raises_fails_the_batch() -> None:
    queue = FakeSQSQueue()
    queue.send("a")
    queue.send("b")

    def broken(messages: list[SqsMessage]) -> BatchResult:
        raise RuntimeError("down")

    assert queue.run_handler(broken, mode="batch") == RunResult(failed=2)
    assert queue.pending_count == 2


def test_an_empty_queue_never_calls_the_handler() -> None:
    calls: list[Any] = []
    assert FakeSQSQueue().run_handler(calls.append, mode="batch") == RunResult()
    assert calls == []


# --- what sqsobs adds ----------------------------------------------------------------------------


def test_the_next_run_redelivers_failures_with_a_higher_receive_count() -> None:
    queue = FakeSQSQueue()
    queue.send("flaky")
    counts: list[int] = []

    def handler(msg: SqsMessage) -> bool:
        counts.append(msg.receive_count)
        return msg.receive_count > 1

    assert queue.run_handler(handler, mode="per_message").failed == 1
    assert queue.in_flight_count == 1
    assert queue.run_handler(handler, mode="per_message").processed == 1
    assert counts == [1, 2] and queue.pending_count == 0


def test_batches_take_lambdas_partial_failure_format_and_none() -> None:
    queue = FakeSQSQueue()
    ids = [queue.send({"n": n}) for n in range(12)]

    def handler(messages: list[SqsMessage]) -> dict[str, Any]:
        failed = [m.message_id for m in messages if m.json["n"] % 5 == 0]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}

    assert queue.run_handler(handler, mode="batch") == RunResult(processed=9, failed=3)
    assert [m.message_id for m in queue.pending_messages] == [ids[0], ids[5], ids[10]]
    assert queue.run_handler(lambda messages: None, mode="batch").processed == 3


def test_fifo_groups_stop_behind_a_failure() -> None:
    queue = FakeSQSQueue("jobs.fifo")
    for body, group in (("a1", "A"), ("a2", "A"), ("b1", "B")):
        queue.send(body, group_id=group)
    handled: list[str] = []

    def handler(msg: SqsMessage) -> bool:
        handled.append(msg.body)
        return msg.body != "a1"

    # a2 is not delivered while a1, of its group, is in flight.
    assert queue.run_handler(handler, mode="per_message") == RunResult(processed=1, failed=1)
    assert handled == ["a1", "b1"]
    assert [m.body for m in queue.pending_messages] == ["a1", "a2"]

    def batch(messages: list[SqsMessage]) -> BatchResult:
        handled.extend(m.body for m in messages)
        return BatchResult([m.receipt_handle for m in messages if m.body == "a1"])

    # One batch holds both: a2, behind the failed a1, is given back unhandled.
    assert queue.run_handler(batch, mode="batch") == RunResult(failed=1, released=1)
    assert handled[2:] == ["a1", "a2"]


def test_a_handler_that_never_finishes_times_out() -> None:
    queue = FakeSQSQueue()
    queue.send("stuck")
    gate = threading.Event()
    try:
        with pytest.raises(TimeoutError, match="did not settle"):
            queue.run_handler(lambda m: gate.wait(10), mode="per_message", timeout_seconds=0.3)
    finally:
        gate.set()


def test_queues_of_one_fake_sqs_share_it() -> None:
    sqs = FakeSQS()
    orders = sqs.queue("orders")
    again = FakeSQSQueue("orders", sqs=sqs)
    orders.send("x")
    assert again.pending_count == 1 and orders.client is sqs
    assert sqs.get_queue_url(QueueName="orders")["QueueUrl"] == orders.url
    assert sqs.calls["SendMessage"] == 0  # the test's own sends are not the code's calls


# --- the producer and the listener on the fake ---------------------------------------------------


def test_producer_to_fake_to_listener_is_one_trace(otel: Any) -> None:
    sqs = FakeSQS()
    orders = sqs.queue("orders")
    handled: dict[str, int] = {}

    def handler(msg: SqsMessage) -> bool:
        handled[msg.body] = trace.get_current_span().get_span_context().trace_id
        return True

    with trace.get_tracer("test").start_as_current_span("POST /orders") as request:
        with BatchProducer(sqs, default_batch_interval=0.05) as producer:
            message_id = producer.send("orders", "order-1").result(timeout=10)
    assert orders.messages[0].message_id == message_id
    assert orders.messages[0].message_attributes()["traceparent"]
    with orders.listener(handler, mode="per_message", wait_time=1, idle_sleep_max=0.0):
        assert wait_for(lambda: orders.deleted_count == 1, timeout=10)
    assert handled == {"order-1": request.get_span_context().trace_id}
    assert sqs.calls["SendMessageBatch"] == 1 and sqs.calls["DeleteMessageBatch"] == 1


def test_the_producer_retries_an_injected_throttle() -> None:
    sqs = FakeSQS()
    orders = sqs.queue("orders")
    sqs.fail_next("SendMessageBatch", "RequestThrottled")
    with BatchProducer(
        sqs, default_batch_interval=0.01, retry_backoff_base_seconds=0.01
    ) as producer:
        assert producer.send("orders", "m").result(timeout=10).startswith("fake-msg-")
    assert sqs.calls["SendMessageBatch"] == 2 and orders.pending_count == 1


@pytest.mark.parametrize(("max_extend", "extended"), [(0, False), (30, True)])
def test_max_extend_zero_never_extends_visibility(max_extend: int, extended: bool) -> None:
    queue = FakeSQSQueue()
    queue.send("slow")
    done = threading.Event()

    def slow(msg: SqsMessage) -> bool:
        time.sleep(1.6)  # past visibility_secs=1
        done.set()
        return True

    listener = queue.listener(slow, mode="per_message", visibility_secs=1, max_extend=max_extend,
                              wait_time=0, idle_sleep_max=0.05, worker_threads=1)  # fmt: skip
    with listener:
        assert done.wait(10)
    # The message is visible again after 1 s: a slow machine may receive it once more (prefetch)
    # and release it at the stop, one ChangeMessageVisibilityBatch per release; the rest extend.
    extensions = queue.sqs.calls["ChangeMessageVisibilityBatch"] - listener.stats.released
    assert (extensions > 0) is extended


# --- the pytest plugin ---------------------------------------------------------------------------


def test_the_plugin_gives_fresh_fakes_per_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from sqsobs.testing import FakeSQS, FakeSQSQueue

        def test_one(fake_sqs_queue):
            assert isinstance(fake_sqs_queue, FakeSQSQueue)
            fake_sqs_queue.send("x")
            assert fake_sqs_queue.pending_count == 1

        def test_two(fake_sqs_queue, fake_sqs):
            assert fake_sqs_queue.pending_count == 0
            assert fake_sqs_queue.client is fake_sqs and isinstance(fake_sqs, FakeSQS)
        """
    )
    result = pytester.runpytest("-p", "sqsobs.testing.pytest_plugin", "-q")
    result.assert_outcomes(passed=2)


def test_the_plugin_serves_one_embedded_server_per_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_one(embedded_sqs, embedded_sqs_client):
            url = embedded_sqs_client.create_queue(QueueName="q")["QueueUrl"]
            assert url.startswith(embedded_sqs.endpoint_url.replace("127.0.0.1", ""))  or url

        def test_two(embedded_sqs, embedded_sqs_client):
            assert embedded_sqs_client.get_queue_url(QueueName="q")["QueueUrl"]
        """
    )
    result = pytester.runpytest_subprocess("-p", "sqsobs.testing.pytest_plugin", "-q")
    result.assert_outcomes(passed=2)


def test_the_plugin_is_an_entry_point_named_as_its_module() -> None:
    if sys.version_info < (3, 11):
        pytest.skip("tomllib")
    import tomllib

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    entry_points = tomllib.loads(pyproject.read_text())["project"]["entry-points"]["pytest11"]
    assert entry_points == {"sqsobs.testing.pytest_plugin": "sqsobs.testing.pytest_plugin"}
