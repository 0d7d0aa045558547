"""Per-message mode's prefetch (issue 15.3): a receive asks for up to ``batch_size`` once the
workers are nearly free; what they cannot start at once waits in a small buffer that the
heartbeat keeps invisible, that shutdown releases at once, that never holds more than starts
within half a visibility timeout, and that never splits a FIFO group."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

import pytest

from sqsobs import Listener
from sqsobs.listener._prefetch import PrefetchBound
from sqsobs.types import SqsMessage
from tests.helpers import wait_for
from tests.listener_support import Recorder, SqsCalls, queue_counts, send_bodies
from tests.servers import LOCALSTACK_FIFO_GROUP_REOPENED, skip_for

FAST = {"wait_time": 1, "idle_sleep_max": 0.0}
FIFO_FAST = {"wait_time": 0, "idle_sleep_max": 0.05}


def _asked(client: Any) -> list[int]:
    """Record the MaxNumberOfMessages of every ReceiveMessage ``client`` makes."""
    asked: list[int] = []
    client.meta.events.register(
        "provide-client-params.sqs.ReceiveMessage",
        lambda params, **_: asked.append(params["MaxNumberOfMessages"]),
    )
    return asked


def test_the_bound_is_what_the_workers_start_within_half_a_visibility_timeout() -> None:
    bound = PrefetchBound(workers=4, most=10, visibility_secs=60)
    assert bound.limit() == 0  # nothing timed yet
    bound.observe(1.0)
    assert bound.limit() == 10  # 4 * floor(30 / 1) = 120, capped at max_prefetch
    bound.observe(12.0)  # a slow task: the estimate rises at once
    assert bound.limit() == 8  # 4 * floor(30 / 12)
    bound.observe(40.0)
    assert bound.limit() == 0  # longer than half the timeout: prefetch nothing
    bound.observe(1.0)  # one fast task does not open it again at once
    assert bound.task_seconds == pytest.approx(36.1)
    assert bound.limit() == 0
    assert PrefetchBound(workers=4, most=0, visibility_secs=60).limit() == 0


def test_4_workers_make_at_most_a_quarter_of_a_call_per_message(
    sqs_client: Any, make_client: Any, queue_url: str
) -> None:
    # Issue 15's target: receive + delete calls per message <= 0.25 with 4 workers, batch 10.
    total = 600
    send_bodies(sqs_client, queue_url, [f"m{i}" for i in range(total)])
    seen = Recorder()
    sqs = SqsCalls(make_client())
    listener = Listener(
        lambda m: seen.add([m]) or True,
        queue_url=queue_url,
        mode="per_message",
        worker_threads=4,
        batch_size=10,
        visibility_secs=30,
        client=sqs.client,
        **FAST,
    )
    with listener:
        assert wait_for(lambda: sqs.deleted >= total, timeout=90)
        receives = sqs.count("ReceiveMessage")
    calls = receives + sqs.count("DeleteMessageBatch")
    print(
        f"\nper message, 4 workers: {receives / total:.3f} receives + deletes = {calls / total:.3f}"
    )
    assert seen.distinct() == total and max(seen.bodies.values()) == 1
    assert calls / total <= 0.25
    assert queue_counts(sqs_client, queue_url) == (0, 0)


def test_max_prefetch_0_receives_only_for_free_workers(
    sqs_client: Any, make_client: Any, queue_url: str
) -> None:
    send_bodies(sqs_client, queue_url, [f"m{i}" for i in range(60)])
    sqs = SqsCalls(make_client())
    asked = _asked(sqs.client)
    with Listener(
        lambda m: True,
        queue_url=queue_url,
        mode="per_message",
        worker_threads=2,
        max_prefetch=0,
        client=sqs.client,
        **FAST,
    ):
        assert wait_for(lambda: sqs.deleted == 60, timeout=30)
    assert max(asked) <= 2


def test_prefetched_messages_are_kept_invisible_by_the_heartbeat(
    sqs_client: Any, make_client: Any, queue_url: str
) -> None:
    send_bodies(sqs_client, queue_url, ["warm"])
    seen = Recorder()

    def handler(message: SqsMessage) -> bool:
        seen.add([message])
        if message.body != "warm":
            time.sleep(1.2)  # the buffered ones wait up to 6 s: three visibility timeouts
        return True

    sqs = SqsCalls(make_client())
    listener = Listener(
        handler,
        queue_url=queue_url,
        mode="per_message",
        worker_threads=1,
        max_prefetch=5,
        visibility_secs=2,
        client=sqs.client,
        **FAST,
    )
    bodies = [f"slow{i}" for i in range(6)]
    with listener:
        assert wait_for(lambda: sqs.deleted == 1, timeout=10)  # "warm" timed a handler
        send_bodies(sqs_client, queue_url, bodies)
        assert wait_for(lambda: listener.stats.received == 7, timeout=10)  # 1 runs, 5 wait
        stolen: list[str] = []
        while seen.total() < 7:  # meanwhile another consumer sees nothing
            got = sqs_client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
            stolen += [m["Body"] for m in got.get("Messages", [])]
            time.sleep(0.2)
        assert wait_for(lambda: sqs.deleted == 7, timeout=10)
        extensions = sqs.count("ChangeMessageVisibilityBatch")
    assert stolen == []
    assert all(seen.bodies[b] == 1 for b in bodies)
    assert extensions >= 3  # the waiting messages were extended, in batched calls
    assert queue_counts(sqs_client, queue_url) == (0, 0)


def test_prefetched_messages_are_released_at_once_on_stop(
    sqs_client: Any, make_client: Any, queue_url: str
) -> None:
    send_bodies(sqs_client, queue_url, ["warm"])
    seen = Recorder()
    warming, stored = threading.Event(), threading.Event()
    running = threading.Event()
    finished: list[float] = []

    def handler(message: SqsMessage) -> bool:
        seen.add([message])
        if message.body == "warm":
            # The one worker is busy until the six are stored, so no receive is made before: a
            # long poll that caught the batch half-stored would leave the rest on the queue until
            # the worker is nearly free again (by design), and nothing would be prefetched.
            warming.set()
            stored.wait(10)
        else:
            running.set()
            time.sleep(3.0)
            finished.append(time.monotonic())
        return True

    sqs = SqsCalls(make_client())
    listener = Listener(
        handler,
        queue_url=queue_url,
        mode="per_message",
        worker_threads=1,
        visibility_secs=30,
        client=sqs.client,
        **FAST,
    )
    bodies = [f"job{i}" for i in range(6)]
    listener.start()
    try:
        assert warming.wait(10)
        send_bodies(sqs_client, queue_url, bodies)
        stored.set()
        assert wait_for(lambda: sqs.deleted == 1, timeout=10)
        assert wait_for(lambda: listener.stats.received == 7, timeout=5)
        assert running.wait(5)
        listener.request_stop()
        begun = time.monotonic()
        released: list[dict[str, Any]] = []  # another consumer takes them, right away
        while len(released) < 5 and time.monotonic() - begun < 3.0:
            released += sqs_client.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
        took = time.monotonic() - begun
    finally:
        stored.set()
        listener.request_stop()  # idempotent; a failed precondition must not hide behind join
        assert listener.join(timeout_seconds=10)
    print(f"\n5 prefetched messages visible to another consumer {took:.2f} s after stop")
    assert len(released) == 5 and took < 1.0
    assert begun + took < finished[0]  # released while the running handler went on
    assert listener.stats.released == 5 and listener.stats.succeeded == 2
    handled = [b for b in bodies if seen.bodies[b]]
    assert len(handled) == 1 and seen.bodies[handled[0]] == 1
    assert sorted([m["Body"] for m in released] + handled) == sorted(bodies)
    assert queue_counts(sqs_client, queue_url) == (0, 5)  # the other consumer holds them


def test_fifo_groups_stay_in_order_and_whole_with_prefetch(
    sqs_client: Any, make_client: Any, make_queue: Any, sqs_server: Any
) -> None:
    # b2 fails: the rest of its group is made visible again behind it, which LocalStack answers
    # by handing out b3 and b4 while b2 is still in flight.
    skip_for(sqs_server, LOCALSTACK_FIFO_GROUP_REOPENED)
    queue_url = make_queue(fifo=True, ContentBasedDeduplication="true", VisibilityTimeout=2)
    groups = ["a", "b", "c", "d"]
    for group in groups:
        send_bodies(sqs_client, queue_url, [f"{group}{i}" for i in range(5)], MessageGroupId=group)
    handled: dict[str, list[str]] = defaultdict(list)
    lock = threading.Lock()
    failed_once: set[str] = set()

    def handler(message: SqsMessage) -> bool:
        time.sleep(0.05)
        with lock:
            if message.body == "b2" and "b2" not in failed_once:
                failed_once.add("b2")
                return False  # the rest of group b waits for b2
            handled[message.group_id or ""].append(message.body)
        return True

    sqs = SqsCalls(make_client())
    asked = _asked(sqs.client)
    listener = Listener(
        handler,
        queue_url=queue_url,
        mode="per_message",
        worker_threads=2,
        visibility_secs=2,
        client=sqs.client,
        **FIFO_FAST,
    )
    with listener:
        assert wait_for(lambda: sqs.deleted == 20, timeout=40), dict(handled)
    for group in groups:
        assert handled[group] == [f"{group}{i}" for i in range(5)], dict(handled)
    assert failed_once == {"b2"}
    assert max(asked) > 2  # more than the free workers: the prefetch was used
    assert queue_counts(sqs_client, queue_url) == (0, 0)
