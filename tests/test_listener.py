"""The listener against the real test server: throughput without duplicates, heartbeats, partial
failures with a DLQ, start-up errors, and the drain of a programmatic Listener."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from sqsobs import Listener
from sqsobs.errors import ListenerClosed, QueueDoesNotExist
from sqsobs.telemetry.catalog import HANDLER_FAILURES, HEARTBEATS
from sqsobs.types import BatchResult, SqsMessage
from tests.faultproxy import Fault, FaultProxy
from tests.helpers import drain_queue, wait_for
from tests.listener_support import Recorder, SqsCalls, queue_counts, send_bodies

FAST = {"wait_time": 1, "idle_sleep_max": 0.0}
# moto's FIFO long poll spins holding the queue lock while visible messages wait behind an
# in-flight group, delaying deletes past a short visibility timeout: FIFO tests poll short.
FIFO_FAST = {"wait_time": 0, "idle_sleep_max": 0.05}


@pytest.mark.parametrize("mode", ["batch", "per_message"])
def test_2000_messages_4_workers_each_handled_once_and_deleted(
    mode: str, sqs_client: Any, make_client: Any, queue_url: str
) -> None:
    total = 2000
    send_bodies(sqs_client, queue_url, [f"m{i}" for i in range(total)])
    seen = Recorder()

    def per_message(message: SqsMessage) -> bool:
        seen.add([message])
        return True

    def batch(messages: list[SqsMessage]) -> BatchResult:
        seen.add(messages)
        return BatchResult(failed_receipt_handles=[])

    handler = batch if mode == "batch" else per_message
    sqs = SqsCalls(make_client())
    listener = Listener(
        handler,
        queue_url=queue_url,
        mode=mode,
        worker_threads=4,
        visibility_secs=30,
        client=sqs.client,
        **FAST,
    )
    with listener:
        assert wait_for(lambda: sqs.deleted >= total, timeout=90)
    assert seen.distinct() == total
    assert max(seen.bodies.values()) == 1
    assert sqs.deleted == total
    assert queue_counts(sqs_client, queue_url) == (0, 0)
    deletes = sqs.count("DeleteMessageBatch")
    calls = sqs.count("ReceiveMessage") + deletes
    if mode == "batch":
        # 10 per receive and 10 per delete, plus a few empty polls at the end.
        assert calls / total <= 0.25
    else:
        # Never more messages than free workers (4) per receive; deletes still batched.
        assert deletes / total <= 0.2


def test_handler_running_3x_visibility_keeps_message_invisible_with_batched_heartbeats(
    sqs_client: Any, make_client: Any, queue_url: str, otel: Any
) -> None:
    visibility, count = 2, 5
    send_bodies(sqs_client, queue_url, [f"slow{i}" for i in range(count)])
    seen = Recorder()

    def slow(message: SqsMessage) -> bool:
        seen.add([message])
        time.sleep(3 * visibility)
        return True

    sqs = SqsCalls(make_client())
    listener = Listener(
        slow,
        queue_url=queue_url,
        mode="per_message",
        worker_threads=count,
        visibility_secs=visibility,
        client=sqs.client,
        **FAST,
    )
    with listener:
        assert wait_for(lambda: seen.distinct() == count, timeout=10)
        # Meanwhile another consumer sees nothing: the heartbeat keeps them invisible.
        time.sleep(visibility + 0.5)
        stolen = sqs_client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        assert stolen.get("Messages", []) == []
        assert wait_for(lambda: sqs.deleted == count, timeout=15)
    assert seen.total() == count
    assert drain_queue(sqs_client, queue_url) == []
    # ~3 s of extensions every ~1 s for 5 messages: one call per beat, not one per message.
    # Every handler succeeded, so no visibility call was a release: each one is a heartbeat.
    calls = sqs.count("ChangeMessageVisibilityBatch")
    assert 2 <= calls <= 8
    spans = [s for s in otel.spans() if s.name == f"heartbeat {listener.telemetry.queue}"]
    assert len(spans) == calls
    assert max(s.attributes["messaging.batch.message_count"] for s in spans) == count
    extended = otel.total(
        HEARTBEATS.name, **{"messaging.destination.name": listener.telemetry.queue}
    )
    assert extended >= count * 2 > calls


def test_partial_batch_failure_exactly_failed_come_back_then_reach_the_dlq(
    sqs_client: Any, make_client: Any, make_queue: Any
) -> None:
    dlq_url = make_queue("-dlq")
    dlq_arn = sqs_client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    queue_url = make_queue(RedrivePolicy=policy)
    bodies = [f"p{i}" for i in range(20)]
    failing = {"p3", "p7", "p11", "p12", "p19"}
    send_bodies(sqs_client, queue_url, bodies)
    seen = Recorder()

    def handler(messages: list[SqsMessage]) -> BatchResult:
        seen.add(messages)
        return BatchResult(
            failed_receipt_handles=[m.receipt_handle for m in messages if m.body in failing]
        )

    listener = Listener(
        handler, queue_url=queue_url, visibility_secs=1, client=make_client(), **FAST
    )
    with listener:
        assert wait_for(lambda: queue_counts(sqs_client, dlq_url)[0] == len(failing), timeout=20)
    for body in bodies:
        assert seen.bodies[body] == (2 if body in failing else 1), body
    assert {m["Body"] for m in drain_queue(sqs_client, dlq_url)} == failing
    assert drain_queue(sqs_client, queue_url) == []


def test_per_message_false_or_exception_leaves_the_message_for_redelivery(
    sqs_client: Any, make_client: Any, queue_url: str, otel: Any
) -> None:
    send_bodies(sqs_client, queue_url, ["ok", "false", "raise"])
    seen = Recorder()

    def handler(message: SqsMessage) -> bool:
        seen.add([message])
        if message.receive_count > 1:
            return True
        if message.body == "raise":
            raise ValueError("boom")
        return message.body == "ok"

    sqs = SqsCalls(make_client())
    listener = Listener(
        handler,
        queue_url=queue_url,
        mode="per_message",
        visibility_secs=1,
        client=sqs.client,
        **FAST,
    )
    with listener:
        assert wait_for(lambda: sqs.deleted == 3, timeout=15)
    assert dict(seen.bodies) == {"ok": 1, "false": 2, "raise": 2}
    queue = listener.telemetry.queue
    failures = {
        p.attributes["error.type"]: p.value
        for p in otel.points(HANDLER_FAILURES.name, **{"messaging.destination.name": queue})
    }
    assert failures == {"ValueError": 1, "handler_returned_false": 1}


def test_lambda_style_response_ports_unchanged(
    sqs_client: Any, make_client: Any, queue_url: str
) -> None:
    send_bodies(sqs_client, queue_url, ["a", "b", "c"])
    seen = Recorder()

    def lambda_handler(messages: list[SqsMessage]) -> dict[str, Any]:
        seen.add(messages)
        failures = [
            {"itemIdentifier": m.message_id}
            for m in messages
            if m.body == "b" and m.receive_count == 1
        ]
        return {"batchItemFailures": failures}

    sqs = SqsCalls(make_client())
    listener = Listener(
        lambda_handler, queue_url=queue_url, visibility_secs=1, client=sqs.client, **FAST
    )
    with listener:
        assert wait_for(lambda: sqs.deleted == 3, timeout=15)
    assert dict(seen.bodies) == {"a": 1, "b": 2, "c": 1}


def test_unknown_failed_handle_fails_the_whole_batch_and_deletes_nothing(
    sqs_client: Any, make_client: Any, queue_url: str
) -> None:
    send_bodies(sqs_client, queue_url, ["x", "y"])
    calls: list[int] = []

    def buggy(messages: list[SqsMessage]) -> BatchResult:
        calls.append(len(messages))
        return BatchResult(failed_receipt_handles=["not-a-handle"])

    sqs = SqsCalls(make_client())
    listener = Listener(buggy, queue_url=queue_url, visibility_secs=30, client=sqs.client, **FAST)
    with listener:
        assert wait_for(lambda: sum(calls) == 2, timeout=10)
        time.sleep(0.3)
    assert sqs.deleted == 0
    assert queue_counts(sqs_client, queue_url) == (0, 2)


def test_missing_queue_or_bad_name_fails_at_start(make_client: Any, sqs_client: Any) -> None:
    url = sqs_client.create_queue(QueueName="t-listener-gone")["QueueUrl"]
    sqs_client.delete_queue(QueueUrl=url)
    listener = Listener(lambda m: True, queue_url=url, client=make_client())
    with pytest.raises(QueueDoesNotExist):
        listener.start()
    assert listener.stop() is True  # nothing started, nothing to drain
    with pytest.raises(ListenerClosed):
        listener.start()
    with pytest.raises(QueueDoesNotExist):
        Listener(lambda m: True, queue_url="t-listener-no-such-name", client=make_client()).start()


def test_queue_given_by_name_is_resolved(
    sqs_client: Any, make_client: Any, queue_name: str, queue_url: str
) -> None:
    send_bodies(sqs_client, queue_url, ["by-name"])
    seen = Recorder()
    sqs = SqsCalls(make_client())
    listener = Listener(seen.add, queue_url=queue_name, client=sqs.client, **FAST)
    with listener:
        assert wait_for(lambda: sqs.deleted == 1, timeout=10)
    assert listener.queue_url == queue_url
    assert dict(seen.bodies) == {"by-name": 1}


def test_stop_lets_inflight_finish_and_releases_unstarted_fifo_messages(
    sqs_client: Any, make_client: Any, make_queue: Any
) -> None:
    queue_url = make_queue(fifo=True, ContentBasedDeduplication="true")
    send_bodies(sqs_client, queue_url, [f"f{i}" for i in range(5)], MessageGroupId="g")
    started = threading.Event()
    seen = Recorder()

    def handler(message: SqsMessage) -> bool:
        started.set()
        time.sleep(2.5)  # longer than the visibility timeout: the heartbeat goes on while draining
        seen.add([message])
        return True

    # Two free workers: one receive takes f0 and f1, one worker runs the group in order.
    sqs = SqsCalls(make_client())
    listener = Listener(
        handler,
        queue_url=queue_url,
        mode="per_message",
        worker_threads=2,
        visibility_secs=2,
        client=sqs.client,
        **FIFO_FAST,
    )
    listener.start()
    assert started.wait(10)
    begun = time.monotonic()
    assert listener.stop(timeout_seconds=10) is True
    assert time.monotonic() - begun < 5
    assert list(seen.bodies) == ["f0"]
    assert sqs.deleted == 1
    assert listener.stats.released == 1  # f1: received, never started
    # f1 is visible again at once (not after its visibility timeout), and the order holds.
    remaining = drain_queue(sqs_client, queue_url)
    assert [m["Body"] for m in remaining] == ["f1", "f2", "f3", "f4"]


def test_messages_a_poll_returns_after_stop_are_made_visible_again(
    sqs_server: Any, sqs_client: Any, make_client: Any, queue_url: str
) -> None:
    send_bodies(sqs_client, queue_url, ["late"])
    seen = Recorder()
    with FaultProxy(sqs_server.endpoint_url) as proxy:
        # The receive is on the wire while stop() is called; its answer arrives afterwards.
        proxy.add(Fault("latency", operations={"ReceiveMessage"}, seconds=1.0, count=1))
        listener = Listener(
            seen.add,
            queue_url=queue_url,
            visibility_secs=30,
            poller_threads=1,
            client=make_client(endpoint_url=proxy.endpoint_url),
            **FAST,
        )
        listener.start()
        time.sleep(0.3)
        assert listener.stop(timeout_seconds=10)
    assert seen.total() == 0
    assert listener.stats.received == 1 and listener.stats.released == 1
    assert queue_counts(sqs_client, queue_url) == (1, 0)
