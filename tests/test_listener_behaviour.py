"""Listener behaviour against the real test server: FIFO order, poll errors, filters, retry
backoff, max_extend, async handlers, hooks, the health endpoint and run_listeners()."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace

from sqsobs import Listener, request_shutdown, run_listeners, sqs_listener
from sqsobs.errors import ConfigError
from sqsobs.listener._health import HealthServer
from sqsobs.listener._registry import clear_listeners
from sqsobs.telemetry.catalog import MAX_EXTEND_EXCEEDED, POLL_ERRORS
from sqsobs.types import SqsMessage
from tests.conftest import SqsServer
from tests.faultproxy import Fault, FaultProxy
from tests.helpers import wait_for
from tests.listener_support import Recorder, SqsCalls, queue_counts, send_bodies
from tests.servers import LOCALSTACK_FIFO_GROUP_REOPENED, skip_for

FAST = {"wait_time": 1, "idle_sleep_max": 0.0}
# moto's FIFO long poll spins holding the queue lock while visible messages wait behind an
# in-flight group, delaying deletes past a short visibility timeout: FIFO tests poll short.
FIFO_FAST = {"wait_time": 0, "idle_sleep_max": 0.05}


@pytest.fixture(autouse=True)
def _empty_registry() -> Iterator[None]:
    clear_listeners()
    yield
    clear_listeners()


def test_fifo_group_in_order_and_rest_of_group_waits_after_a_failure(
    sqs_server: SqsServer, sqs_client: Any, make_client: Any, make_queue: Any
) -> None:
    # A3 and A4 go back at once behind the failed A2; only the group lock keeps them after A2.
    skip_for(sqs_server, LOCALSTACK_FIFO_GROUP_REOPENED)
    queue_url = make_queue(fifo=True, ContentBasedDeduplication="true")
    for group in ("A", "B"):
        send_bodies(sqs_client, queue_url, [f"{group}{i}" for i in range(5)], MessageGroupId=group)
    seen = Recorder()

    def handler(message: SqsMessage) -> bool:
        seen.add([message])
        return not (message.body == "A2" and message.receive_count == 1)

    sqs = SqsCalls(make_client())
    listener = Listener(
        handler,
        queue_url=queue_url,
        mode="per_message",
        visibility_secs=1,
        client=sqs.client,
        **FIFO_FAST,
    )
    with listener:
        assert wait_for(lambda: sqs.deleted == 10, timeout=20), (
            ",".join(seen.order),
            sqs.deleted,
            listener.stats.snapshot(),
        )
    order = seen.order
    assert [b for b in order if b.startswith("A")] == ["A0", "A1", "A2", "A2", "A3", "A4"]
    assert [b for b in order if b.startswith("B")] == ["B0", "B1", "B2", "B3", "B4"]


def test_poll_errors_back_off_are_counted_and_polling_resumes(
    sqs_server: Any, sqs_client: Any, make_client: Any, queue_url: str, otel: Any
) -> None:
    send_bodies(sqs_client, queue_url, ["after-throttling"])
    seen = Recorder()
    with FaultProxy(sqs_server.endpoint_url) as proxy:
        fault = proxy.add(Fault("throttle", operations={"ReceiveMessage"}, count=3))
        sqs = SqsCalls(make_client(endpoint_url=proxy.endpoint_url))
        listener = Listener(seen.add, queue_url=queue_url, client=sqs.client, **FAST)
        with listener:
            assert wait_for(lambda: sqs.deleted == 1, timeout=15)
    assert fault.applied == 3
    assert dict(seen.bodies) == {"after-throttling": 1}
    errors = otel.points(
        POLL_ERRORS.name,
        **{"messaging.destination.name": listener.telemetry.queue},
    )
    assert [(p.attributes["error.type"], p.value) for p in errors] == [("ThrottlingException", 3)]


def test_filtered_messages_are_not_handled_and_not_redelivered_in_a_hot_loop(
    sqs_client: Any, make_client: Any, queue_url: str
) -> None:
    send_bodies(sqs_client, queue_url, ["keep", "skip"])
    seen = Recorder()
    sqs = SqsCalls(make_client())
    listener = Listener(
        seen.add,
        queue_url=queue_url,
        filter_fn=lambda m: m.body != "skip",
        retry_backoff_base=30,
        client=sqs.client,
        **FAST,
    )
    with listener:
        assert wait_for(lambda: sqs.deleted == 1, timeout=10)
        time.sleep(1.0)
    assert dict(seen.bodies) == {"keep": 1}
    assert listener.stats.filtered == 1  # sqs-fargate-listener's visibility 0: dozens
    assert queue_counts(sqs_client, queue_url) == (0, 1)


def test_retry_backoff_brings_a_failure_back_sooner_than_the_visibility_timeout(
    sqs_client: Any, make_client: Any, queue_url: str
) -> None:
    send_bodies(sqs_client, queue_url, ["flaky"])
    seen = Recorder()

    def handler(message: SqsMessage) -> bool:
        seen.add([message])
        return message.receive_count > 1

    sqs = SqsCalls(make_client())
    listener = Listener(
        handler,
        queue_url=queue_url,
        mode="per_message",
        visibility_secs=60,
        retry_backoff=True,
        retry_backoff_base=1,
        retry_backoff_max=2,
        client=sqs.client,
        **FAST,
    )
    begun = time.monotonic()
    with listener:
        assert wait_for(lambda: sqs.deleted == 1, timeout=10)
    assert time.monotonic() - begun < 10  # not the 60 s visibility timeout
    assert seen.bodies["flaky"] == 2


def test_handler_outliving_max_extend_is_counted_and_its_message_comes_back(
    sqs_client: Any, make_client: Any, queue_url: str, otel: Any
) -> None:
    send_bodies(sqs_client, queue_url, ["long"])
    seen = Recorder()

    def handler(message: SqsMessage) -> bool:
        seen.add([message])
        if message.receive_count == 1:
            time.sleep(4)
        return True

    sqs = SqsCalls(make_client())
    listener = Listener(
        handler,
        queue_url=queue_url,
        mode="per_message",
        worker_threads=2,
        visibility_secs=1,
        max_extend=1,
        client=sqs.client,
        **FAST,
    )
    with listener:
        assert wait_for(lambda: seen.bodies["long"] == 2, timeout=10)
        assert wait_for(lambda: sqs.deleted >= 1, timeout=10)
    exceeded = otel.total(
        MAX_EXTEND_EXCEEDED.name,
        **{"messaging.destination.name": listener.telemetry.queue},
    )
    assert exceeded == 1


def test_async_handlers_share_one_event_loop_inside_their_process_span(
    sqs_client: Any, make_client: Any, queue_url: str, otel: Any
) -> None:
    send_bodies(sqs_client, queue_url, [f"a{i}" for i in range(12)])
    loops: set[int] = set()
    threads: set[int] = set()
    spans: list[bool] = []
    lock = threading.Lock()

    async def handler(message: SqsMessage) -> bool:
        await asyncio.sleep(0.01)
        with lock:
            loops.add(id(asyncio.get_running_loop()))
            threads.add(threading.get_ident())
            spans.append(trace.get_current_span().get_span_context().is_valid)
        return True

    sqs = SqsCalls(make_client())
    listener = Listener(
        handler,
        queue_url=queue_url,
        mode="per_message",
        worker_threads=4,
        client=sqs.client,
        **FAST,
    )
    with listener:
        assert wait_for(lambda: sqs.deleted == 12, timeout=10)
    assert len(loops) == 1 and len(threads) == 1
    assert spans == [True] * 12


def test_hooks_see_every_outcome_and_a_raising_hook_changes_nothing(
    sqs_client: Any, make_client: Any, queue_url: str
) -> None:
    send_bodies(sqs_client, queue_url, ["good", "bad"])
    outcomes: list[tuple[str, str]] = []

    def on_success(message: SqsMessage) -> None:
        outcomes.append(("ok", message.body))
        raise RuntimeError("a broken hook")

    def on_failure(message: SqsMessage, error: BaseException | None) -> None:
        outcomes.append(("failed", f"{message.body}:{type(error).__name__}"))

    def handler(message: SqsMessage) -> bool:
        if message.body == "bad":
            raise KeyError("x")
        return True

    sqs = SqsCalls(make_client())
    listener = Listener(
        handler,
        queue_url=queue_url,
        mode="per_message",
        on_success=on_success,
        on_failure=on_failure,
        visibility_secs=30,
        client=sqs.client,
        **FAST,
    )
    with listener:
        assert wait_for(lambda: len(outcomes) == 2, timeout=10)
        assert wait_for(lambda: sqs.deleted == 1, timeout=5)
    assert sorted(outcomes) == [("failed", "bad:KeyError"), ("ok", "good")]


def test_health_endpoint_reports_running_then_draining(make_client: Any, queue_url: str) -> None:
    listener = Listener(lambda m: True, queue_url=queue_url, client=make_client(), **FAST)
    listener.start()
    server = HealthServer(0, [listener], host="127.0.0.1").start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=5) as response:
            assert json.load(response) == {"status": "ok"}
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            stats = json.load(response)["listeners"][0]
        assert stats["queue_url"] == queue_url and stats["received"] == 0
        listener.request_stop()
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{base}/health", timeout=5)
        assert caught.value.code == 503
    finally:
        listener.join(5)
        server.stop()


def test_run_listeners_runs_every_queue_and_returns_after_the_drain(
    sqs_client: Any, make_client: Any, make_queue: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    payments, notifications = make_queue("-pay"), make_queue("-note")
    send_bodies(sqs_client, payments, ["p1", "p2"])
    send_bodies(sqs_client, notifications, ["n1"])
    monkeypatch.setenv("QUEUE_URL", notifications)
    monkeypatch.setenv("WAIT_TIME", "1")
    monkeypatch.setenv("IDLE_SLEEP_MAX", "0")
    seen = Recorder()
    pay, note = SqsCalls(make_client()), SqsCalls(make_client())

    @sqs_listener(queue_url=payments, mode="batch", client=pay.client)
    def process_payments(msgs: list[SqsMessage]) -> None:
        seen.add(msgs)

    @sqs_listener(mode="per_message", client=note.client)  # queue from QUEUE_URL
    def send_notifications(msg: SqsMessage) -> bool:
        seen.add([msg])
        return True

    result: list[Any] = []
    runner = threading.Thread(target=lambda: result.append(run_listeners(configure_logs=False)))
    runner.start()
    try:
        assert wait_for(lambda: seen.distinct() == 3, timeout=10)
    finally:
        request_shutdown()
        runner.join(15)
    assert not runner.is_alive()
    listeners = result[0]
    assert [listener.queue_url for listener in listeners] == [payments, notifications]
    assert all(not listener.running for listener in listeners)
    assert pay.deleted + note.deleted == 3


def test_bad_environment_fails_run_listeners_before_anything_starts(
    make_client: Any, queue_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCH_SIZE", "11")

    @sqs_listener(queue_url=queue_url, client=make_client())
    def handler(msgs: list[SqsMessage]) -> None:
        return None

    with pytest.raises(ConfigError, match="BATCH_SIZE"):
        run_listeners(configure_logs=False)


def test_decorator_rejects_bad_arguments_at_once() -> None:
    with pytest.raises(ConfigError, match="wait_time"):
        sqs_listener(queue_url="q", wait_time=25)
    with pytest.raises(ConfigError, match="mode"):
        sqs_listener(queue_url="q", mode="lambda")


def test_async_callable_objects_run_and_a_returned_coroutine_is_a_failure(
    sqs_client: Any, make_client: Any, make_queue: Any
) -> None:
    class AsyncHandler:
        def __init__(self) -> None:
            self.seen: list[str] = []

        async def __call__(self, message: SqsMessage) -> bool:
            await asyncio.sleep(0)
            self.seen.append(message.body)
            return True

    async def forgotten(message: SqsMessage) -> bool:
        return True

    def not_awaited(message: SqsMessage) -> Any:
        return forgotten(message)  # a sync handler handing back a coroutine

    good_url, bad_url = make_queue("-obj"), make_queue("-coro")
    send_bodies(sqs_client, good_url, ["x"])
    send_bodies(sqs_client, bad_url, ["y"])
    handler = AsyncHandler()
    good_sqs, bad_sqs = SqsCalls(make_client()), SqsCalls(make_client())
    good = Listener(handler, queue_url=good_url, mode="per_message", client=good_sqs.client, **FAST)
    bad = Listener(
        not_awaited,
        queue_url=bad_url,
        mode="per_message",
        visibility_secs=30,
        client=bad_sqs.client,
        **FAST,
    )
    with good, bad:
        assert wait_for(lambda: good_sqs.deleted == 1 and bad.stats.failed == 1, timeout=10)
    assert handler.seen == ["x"]
    assert bad_sqs.deleted == 0
    assert queue_counts(sqs_client, bad_url) == (0, 1)
