"""Listener delivery defects of issue 11 (items 9-11), each shown against the real test server.

- 11.9: handlers raising ``BaseException`` (``sys.exit()``, argparse's ``parser.error()``,
  ``KeyboardInterrupt``) are handler failures of their message; the workers live on, and a
  thread that dies anyway is replaced (workers) or turns ``/health`` unhealthy (the rest).
- 11.10: no lock is held across a heartbeat call: a stalled ChangeMessageVisibilityBatch holds
  back neither deletes nor failing workers, and a release still lands after an extension of the
  same message that was on the wire.
- 11.11: Lambda's shapes of complete success (``{}``, ``None``, ``{"batchItemFailures": None}``,
  ``{"batchItemFailures": []}``, ``[]``) delete the whole batch.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from sqsobs import Listener
from sqsobs.listener._health import HealthServer
from sqsobs.telemetry.catalog import HANDLER_FAILURES
from sqsobs.types import SqsMessage
from tests.faultproxy import Fault, FaultProxy
from tests.helpers import drain_queue, wait_for
from tests.listener_support import Recorder, SqsCalls, queue_counts, send_bodies

FAST = {"wait_time": 1, "idle_sleep_max": 0.0}


def _health(port: int, path: str = "/health") -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def _failures(otel: Any, queue: str) -> dict[str, float]:
    points = otel.points(HANDLER_FAILURES.name, **{"messaging.destination.name": queue})
    return {p.attributes["error.type"]: p.value for p in points}


# --- 11.9: BaseException in handlers -------------------------------------------------------------
def _exit_once(message: SqsMessage) -> None:
    """Leave the way command-line code does, on the first delivery only."""
    if message.receive_count > 1:
        return
    kind = message.body.split("-")[0]
    if kind == "exit":
        sys.exit(1)
    if kind == "argparse":
        parser = argparse.ArgumentParser(prog="handler", exit_on_error=False)
        parser.error("bad arguments")  # SystemExit(2), whatever exit_on_error says
    if kind == "interrupt":
        raise KeyboardInterrupt


def test_per_message_handlers_raising_system_exit_fail_their_message_and_keep_the_workers(
    sqs_client: Any, make_client: Any, queue_url: str, otel: Any
) -> None:
    # The measurement: 6 of 30 handlers call sys.exit() once; today 0 of 30 get handled.
    leaving = [f"{kind}-{i}" for i, kind in enumerate(["exit", "argparse", "interrupt"] * 2)]
    bodies = [*leaving, *(f"ok-{i}" for i in range(24))]
    send_bodies(sqs_client, queue_url, bodies)
    seen = Recorder()

    def handler(message: SqsMessage) -> bool:
        seen.add([message])
        _exit_once(message)
        return True

    sqs = SqsCalls(make_client())
    listener = Listener(
        handler,
        queue_url=queue_url,
        mode="per_message",
        worker_threads=4,
        visibility_secs=1,
        client=sqs.client,
        **FAST,
    )
    server = HealthServer(0, [listener], host="127.0.0.1")
    with listener:
        server.start()
        try:
            assert wait_for(lambda: sqs.deleted == len(bodies), timeout=30), seen.bodies
            assert _health(server.port) == (200, {"status": "ok"})
        finally:
            server.stop()
    for body in bodies:
        assert seen.bodies[body] == (2 if body in leaving else 1), body
    assert listener.stats.failed == len(leaving)
    assert queue_counts(sqs_client, queue_url) == (0, 0)
    failures = _failures(otel, listener.telemetry.queue)
    assert failures == {"SystemExit": 4, "KeyboardInterrupt": 2}
    process = [s for s in otel.spans() if s.name == f"process {listener.telemetry.queue}"]
    errors = sorted(s.attributes.get("error.type", "") for s in process if not s.status.is_ok)
    assert errors == ["KeyboardInterrupt"] * 2 + ["SystemExit"] * 4


@pytest.mark.parametrize("style", ["sync", "async"])
def test_batch_handler_raising_system_exit_fails_the_batch_and_the_listener_goes_on(
    style: str, sqs_client: Any, make_client: Any, queue_url: str, otel: Any
) -> None:
    bodies = [f"b{i}" for i in range(5)]
    send_bodies(sqs_client, queue_url, bodies)
    seen = Recorder()

    def sync_batch(messages: list[SqsMessage]) -> None:
        seen.add(messages)
        if any(m.receive_count == 1 for m in messages):
            sys.exit("leaving")

    async def async_batch(messages: list[SqsMessage]) -> None:
        sync_batch(messages)

    sqs = SqsCalls(make_client())
    listener = Listener(
        sync_batch if style == "sync" else async_batch,
        queue_url=queue_url,
        mode="batch",
        worker_threads=2,
        visibility_secs=1,
        client=sqs.client,
        **FAST,
    )
    with listener:
        assert wait_for(lambda: sqs.deleted == len(bodies), timeout=20), seen.bodies
    assert min(seen.bodies[b] for b in bodies) >= 2  # failed once, then handled
    assert _failures(otel, listener.telemetry.queue) == {"SystemExit": listener.stats.failed}
    assert listener.stats.failed >= len(bodies)


def _raise_in_thread(thread: threading.Thread, exception: type[BaseException]) -> None:
    """Raise ``exception`` inside ``thread`` (as a C extension or a signal library could)."""
    assert thread.ident is not None
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread.ident), ctypes.py_object(exception)
    )
    assert done == 1


def _threads(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


def test_a_worker_thread_that_dies_anyway_is_replaced(
    sqs_client: Any, make_client: Any, queue_url: str
) -> None:
    seen = Recorder()
    sqs = SqsCalls(make_client())
    listener = Listener(
        lambda m: seen.add([m]) or True,
        queue_url=queue_url,
        mode="per_message",
        worker_threads=2,
        client=sqs.client,
        **FAST,
    )
    with listener:
        prefix = f"sqsobs-{listener.telemetry.queue}-worker-"
        assert wait_for(lambda: len(_threads(prefix)) == 2)
        victim = _threads(prefix)[0]
        _raise_in_thread(victim, SystemExit)
        listener._engine.pool.wake()  # type: ignore[union-attr]  # the waiting worker runs on
        victim.join(5)
        assert not victim.is_alive()
        assert wait_for(lambda: len(_threads(prefix)) == 2)  # replaced
        assert listener.healthy
        send_bodies(sqs_client, queue_url, [f"after{i}" for i in range(6)])
        assert wait_for(lambda: sqs.deleted == 6, timeout=15)
    assert seen.distinct() == 6


# The thread dies of the SystemExit this test raises in it; pytest would report that as a warning.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_heartbeat_thread_turns_health_unhealthy(make_client: Any, queue_url: str) -> None:
    listener = Listener(lambda m: True, queue_url=queue_url, client=make_client(), **FAST)
    server = HealthServer(0, [listener], host="127.0.0.1")
    with listener:
        server.start()
        try:
            assert _health(server.port) == (200, {"status": "ok"})
            heartbeat = _threads(f"sqsobs-{listener.telemetry.queue}-heartbeat")[0]
            _raise_in_thread(heartbeat, SystemExit)
            with listener._engine.heartbeat._wake:  # type: ignore[union-attr]
                listener._engine.heartbeat._wake.notify_all()  # type: ignore[union-attr]
            heartbeat.join(5)
            assert not listener.healthy
            status, body = _health(server.port)
            assert status == 503 and body["status"] == "unhealthy"
            assert body["threads"] == [heartbeat.name]
            assert _health(server.port, "/ready")[0] == 200  # still receiving: ready, not live
        finally:
            server.stop()


# --- 11.10: no lock across a heartbeat call ------------------------------------------------------
def test_stalled_heartbeat_calls_hold_back_neither_deletes_nor_failing_workers(
    sqs_server: Any, sqs_client: Any, queue_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Handlers of 3 s on a 4 s visibility timeout: the heartbeat extends them at 2 s, and every
    # ChangeMessageVisibilityBatch hangs at the proxy for 8 s (a brownout of that one API).
    bodies = [f"ok{i}" for i in range(3)] + ["fails"]
    send_bodies(sqs_client, queue_url, bodies)
    seen = Recorder()
    ended: dict[str, float] = {}

    def handler(message: SqsMessage) -> bool:
        seen.add([message])
        if message.body == "fails":
            return False  # let go at once; the worker must not wait for the heartbeat
        time.sleep(3.0)
        ended[message.body] = time.monotonic()
        return True

    with FaultProxy(sqs_server.endpoint_url) as proxy:
        stall = proxy.add(Fault("stall", operations={"ChangeMessageVisibilityBatch"}, seconds=8.0))
        # The listener builds its own clients (their timeouts are part of the fix).
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", proxy.endpoint_url)
        listener = Listener(
            handler,
            queue_url=queue_url,
            mode="per_message",
            worker_threads=4,
            visibility_secs=4,
            **FAST,
        )
        with listener:
            assert wait_for(lambda: len(ended) == 3, timeout=15)
            finished = max(ended.values())
            assert wait_for(lambda: proxy.count("DeleteMessageBatch") >= 1, timeout=10)
            deleted_after = time.monotonic() - finished
            # Past the 4 s timeout of the first receive: nothing came back to be handled again.
            time.sleep(2.5)
            assert stall.applied >= 1  # the heartbeat really was stalled
            counts = queue_counts(sqs_client, queue_url)
            listener.request_stop()
        proxy.clear()
    assert deleted_after < 1.0, f"deletes waited {deleted_after:.1f} s for a heartbeat call"
    for body in bodies[:3]:
        assert seen.bodies[body] == 1, dict(seen.bodies)
    assert counts[0] + counts[1] <= 1  # only "fails" may be left
    assert listener.stats.succeeded == 3


def test_a_receive_cut_by_the_shutdown_ends_its_poller_without_a_warning(
    sqs_server: Any, make_client: Any, queue_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A long poll still on the wire when the listener stops is abandoned; when it then fails
    # (the server or its container went away), the poller ends: no "retrying" warning, no retry.
    with FaultProxy(sqs_server.endpoint_url) as proxy:
        proxy.add(Fault("stall_reset", operations={"ReceiveMessage"}))
        listener = Listener(
            lambda message: True,
            queue_url=queue_url,
            mode="per_message",
            client=make_client(endpoint_url=proxy.endpoint_url),
            **FAST,
        )
        listener.start()
        assert wait_for(lambda: proxy.count("ReceiveMessage", "stall_reset") >= 1, timeout=10)
        assert listener.stop(timeout_seconds=5)
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="sqsobs"):
            proxy.release()
            time.sleep(1.0)
        receives = sum(proxy.count("ReceiveMessage", kind) for kind in ("stall_reset", "forwarded"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == []
    assert receives == 1  # and no receive after the stop


@pytest.mark.parametrize(
    ("visibility", "wait", "short", "poll"),
    [(60, 20, 5.0, 30.0), (8, 5, 2.0, 15.0), (2, 0, 1.0, 10.0)],
)
def test_short_calls_time_out_well_within_half_a_visibility_timeout(
    visibility: int, wait: int, short: float, poll: float
) -> None:
    from sqsobs.listener._clients import default_clients
    from sqsobs.listener._settings import ListenerSettings

    settings = ListenerSettings.resolve(
        queue_url="q", visibility_secs=visibility, wait_time=wait, environ={}
    )
    client, poll_client = default_clients(settings)
    assert (client.meta.config.read_timeout, client.meta.config.connect_timeout) == (short, short)
    assert short <= max(1.0, visibility / 4)  # the heartbeat can retry before half a timeout
    assert poll_client.meta.config.read_timeout == poll > wait  # a quiet long poll is no timeout


def test_a_release_waits_for_an_extension_of_its_message_on_the_wire(
    sqs_server: Any, sqs_client: Any, queue_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first visibility call (the heartbeat's) hangs 2 s; the handler fails at once with a
    # 0 s retry backoff. The release (visibility 0) must reach SQS after the extension, or the
    # extension would hide the message again for the whole 20 s visibility timeout.
    send_bodies(sqs_client, queue_url, ["retry-me"])
    seen: list[float] = []
    begun = time.monotonic()

    def handler(message: SqsMessage) -> bool:
        seen.append(time.monotonic() - begun)
        return message.receive_count > 1

    with FaultProxy(sqs_server.endpoint_url) as proxy:
        proxy.add(Fault("stall", operations={"ChangeMessageVisibilityBatch"}, seconds=2.0, count=1))
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", proxy.endpoint_url)
        listener = Listener(
            handler,
            queue_url=queue_url,
            mode="per_message",
            visibility_secs=20,
            retry_backoff=True,
            retry_backoff_base=0,
            retry_backoff_max=0,
            **FAST,
        )
        with listener:
            assert wait_for(lambda: len(seen) == 2, timeout=12), seen
            assert wait_for(lambda: listener.stats.succeeded == 1, timeout=5)
    assert seen[1] < 10  # came back after the release, not after the 20 s timeout
    assert drain_queue(sqs_client, queue_url) == []


# --- 11.11: Lambda's success shapes --------------------------------------------------------------
@pytest.mark.parametrize(
    "result",
    [{}, None, {"batchItemFailures": None}, {"batchItemFailures": []}, []],
    ids=["empty-dict", "none", "null-list", "empty-list", "bare-empty-list"],
)
def test_lambda_complete_success_shapes_delete_the_whole_batch(
    result: Any, sqs_client: Any, make_client: Any, queue_url: str
) -> None:
    # The measurement: with {} each of 20 messages was seen 3 times and none deleted.
    bodies = [f"l{i}" for i in range(20)]
    send_bodies(sqs_client, queue_url, bodies)
    seen = Recorder()

    def lambda_handler(messages: list[SqsMessage]) -> Any:
        seen.add(messages)
        return result

    sqs = SqsCalls(make_client())
    listener = Listener(
        lambda_handler, queue_url=queue_url, visibility_secs=1, client=sqs.client, **FAST
    )
    with listener:
        assert wait_for(lambda: sqs.deleted == len(bodies), timeout=10), dict(seen.bodies)
        time.sleep(1.5)  # a failed batch would be back by now
    assert all(seen.bodies[body] == 1 for body in bodies), dict(seen.bodies)
    assert listener.stats.failed == 0
    assert queue_counts(sqs_client, queue_url) == (0, 0)
