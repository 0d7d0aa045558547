"""The listener's lifecycle and entry points: one settings list taken by every entry point, one
state that only moves forward, stop()/join() returning the first drain's result, and the health
endpoint of a Listener given a port (shared by the listeners on one port)."""

from __future__ import annotations

import dataclasses
import inspect
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sqsobs import Listener, run_listeners, sqs_listener
from sqsobs._settings import markdown_table
from sqsobs.errors import ConfigError, ListenerClosed
from sqsobs.listener import ListenerSettings
from sqsobs.listener._listener import ListenerState
from sqsobs.listener._registry import clear_listeners, registered_listeners
from sqsobs.testing import free_port
from sqsobs.types import SqsMessage
from tests.helpers import wait_for
from tests.listener_support import send_bodies

FAST = {"wait_time": 1, "idle_sleep_max": 0.0}
SETTINGS = {field.name for field in dataclasses.fields(ListenerSettings)}
HOOKS = {"filter_fn", "on_success", "on_failure"}


@pytest.fixture(autouse=True)
def _empty_registry() -> Iterator[None]:
    clear_listeners()
    yield
    clear_listeners()


def _keywords(function: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(function).parameters)


# --- one list of options -------------------------------------------------------------------------
def test_decorator_and_listener_take_exactly_the_settings_fields() -> None:
    listener = _keywords(Listener)
    decorator = _keywords(sqs_listener)
    assert set(listener) == SETTINGS | HOOKS | {"handler", "client", "s3_client", "name", "environ"}
    assert set(decorator) == SETTINGS | HOOKS | {"client", "s3_client"}
    # No default is restated: every setting keyword means "not given" until resolved.
    for keywords in (listener, decorator):
        assert {name: keywords[name].default for name in SETTINGS} == dict.fromkeys(SETTINGS)


def test_decorator_keeps_sqs_fargate_listeners_argument_order() -> None:
    fargate = [
        "queue_url",
        "mode",
        "wait_time",
        "batch_size",
        "visibility_secs",
        "max_extend",
        "worker_threads",
    ]
    assert list(_keywords(sqs_listener))[: len(fargate)] == fargate
    assert _keywords(sqs_listener)["queue_url"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD


def test_every_entry_point_takes_every_option() -> None:
    options: dict[str, Any] = {
        "health_check_port": 0,
        "trace_empty_receives": True,
        "delete_linger_seconds": 0.2,
        "poller_threads": 1,
        "shutdown_timeout_seconds": 5.0,
        "transport": "lean",
    }
    direct = Listener(lambda m: True, queue_url="q", environ={}, **options).settings
    resolved = ListenerSettings.resolve(queue_url="q", environ={}, **options)

    @sqs_listener(queue_url="q", **options)
    def handler(messages: list[SqsMessage]) -> None:
        return None

    decorated = registered_listeners()[0].build().settings
    assert direct == resolved == decorated
    assert {name: getattr(direct, name) for name in options} == options


@pytest.mark.parametrize(
    ("argument", "value"),
    [("delete_linger_seconds", -1.0), ("health_check_port", 70000), ("retry_backoff_max", 1)],
)
def test_a_bad_explicit_argument_fails_at_decoration(argument: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=argument):
        sqs_listener(queue_url="q", **{argument: value})
    with pytest.raises(ConfigError, match=argument):
        Listener(lambda m: True, queue_url="q", environ={}, **{argument: value})


def test_environment_variables_and_defaults_are_unchanged() -> None:
    settings = ListenerSettings.resolve(queue_url="q", environ={})
    assert dataclasses.asdict(settings) == {
        "queue_url": "q", "mode": "batch", "wait_time": 20, "batch_size": 10,
        "visibility_secs": 60, "max_extend": 900, "worker_threads": 4, "poller_threads": 2,
        "idle_sleep_max": 2.0, "shutdown_timeout_seconds": 25.0, "retry_backoff": False,
        "retry_backoff_base": 30, "retry_backoff_max": 600, "health_check_port": None,
        "trace_empty_receives": False, "max_prefetch": 10, "delete_linger_seconds": 0.05,
        "delete_large_payloads": True, "transport": "boto3",
        # Running at scale (issue 12): both opt-in.
        "backlog_metrics": False, "backlog_interval_seconds": 60.0, "ecs_task_protection": False,
    }  # fmt: skip
    # Changed on purpose (issue 11.12): 25 s of drain fits ECS's and Kubernetes' 30 s default.
    env = {"POLLER_THREADS": "3", "WORKER_THREADS": "3", "SHUTDOWN_TIMEOUT": "7"}
    from_env = ListenerSettings.resolve(queue_url="q", environ=env)
    assert (from_env.poller_threads, from_env.shutdown_timeout_seconds) == (3, 7.0)
    assert ListenerSettings.resolve(queue_url="q", worker_threads=1, environ={}).poller_threads == 1
    with pytest.raises(ConfigError, match="POLLER_THREADS"):
        ListenerSettings.resolve(queue_url="q", environ={"POLLER_THREADS": "5"})


def test_the_settings_table_documents_every_field_with_its_variable() -> None:
    rows = markdown_table(ListenerSettings).splitlines()[2:]
    assert [row.split("|")[1].strip() for row in rows] == [
        f"`{field.name}`" for field in dataclasses.fields(ListenerSettings)
    ]
    variables = {row.split("|")[1].strip(" `"): row.split("|")[2].strip(" `") for row in rows}
    assert variables["queue_url"] == "QUEUE_URL" and variables["worker_threads"] == "WORKER_THREADS"
    assert variables["shutdown_timeout_seconds"] == "SHUTDOWN_TIMEOUT"
    assert all(row.split("|")[4].strip() for row in rows)  # every field has a meaning


# --- one state, moving forward -------------------------------------------------------------------
def test_a_listener_stopped_before_it_started_cannot_start(
    make_client: Any, queue_url: str
) -> None:
    listener = Listener(lambda m: True, queue_url=queue_url, client=make_client())
    listener.request_stop()
    assert not listener.running
    with pytest.raises(ListenerClosed, match="stopped"):
        listener.start()
    assert listener.join() is True


def test_join_without_a_stop_request_waits_and_stops_nothing(
    make_client: Any, queue_url: str
) -> None:
    listener = Listener(lambda m: True, queue_url=queue_url, client=make_client(), **FAST)
    listener.start()
    try:
        begun = time.monotonic()
        assert listener.join(timeout_seconds=0.3) is False
        assert time.monotonic() - begun >= 0.3
        assert listener.running
    finally:
        assert listener.stop(timeout_seconds=10) is True
    assert not listener.running
    with pytest.raises(ListenerClosed):
        listener.start()


def test_stop_and_join_return_the_first_drains_result_to_every_caller(
    sqs_client: Any, make_client: Any, queue_url: str
) -> None:
    send_bodies(sqs_client, queue_url, ["slow"])
    started, release = threading.Event(), threading.Event()

    def handler(message: SqsMessage) -> bool:
        started.set()
        release.wait(10)
        return True

    listener = Listener(
        handler,
        queue_url=queue_url,
        mode="per_message",
        visibility_secs=30,
        client=make_client(),
        **FAST,
    )
    listener.start()
    assert started.wait(10)
    results: list[bool] = []
    lock = threading.Lock()

    def call(method: Callable[[float], bool], timeout: float) -> None:
        outcome = method(timeout)
        with lock:
            results.append(outcome)

    # The handler outlives the first drain's timeout: that drain reports False ...
    first = threading.Thread(target=call, args=(listener.stop, 0.5))
    first.start()
    assert wait_for(lambda: listener._state is ListenerState.DRAINING, timeout=5)
    # ... and so does every caller that came while it drained, whatever its own timeout.
    others = [
        threading.Thread(target=call, args=(method, 10.0))
        for method in (listener.join, listener.stop, listener.join)
    ]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join(15)
    assert results == [False] * 4
    release.set()
    assert listener.stop() is False and listener.join(0) is False
    assert not listener.running


def test_a_clean_stop_is_true_for_every_later_call(make_client: Any, queue_url: str) -> None:
    listener = Listener(lambda m: True, queue_url=queue_url, client=make_client(), **FAST)
    listener.start()
    assert listener.stop(timeout_seconds=10) is True
    begun = time.monotonic()
    assert listener.stop() is True and listener.join() is True
    assert time.monotonic() - begun < 0.5  # nothing is drained twice


# --- health endpoint -----------------------------------------------------------------------------
def _get(port: int, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def _closed(port: int) -> bool:
    try:
        _get(port, "/health")
    except urllib.error.URLError:
        return True
    return False


def test_a_listener_given_a_port_serves_its_health_while_it_runs(
    make_client: Any, queue_url: str
) -> None:
    port = free_port()
    listener = Listener(
        lambda m: True,
        queue_url=queue_url,
        client=make_client(),
        health_check_port=port,
        name="orders",
        **FAST,
    )
    assert _closed(port)
    listener.start()
    try:
        assert _get(port, "/health") == (200, {"status": "ok"})
        status, body = _get(port, "/metrics")
        assert status == 200 and [m["name"] for m in body["listeners"]] == ["orders"]
        assert body["listeners"][0]["queue_url"] == queue_url
        listener.request_stop()
        assert _get(port, "/health") == (503, {"status": "draining"})
    finally:
        assert listener.join(10)
    assert _closed(port)


def test_run_listeners_serves_listeners_given_one_port_together(
    make_client: Any, make_queue: Any
) -> None:
    port = free_port()
    first, second = make_queue("-a"), make_queue("-b")

    @sqs_listener(queue_url=first, health_check_port=port, client=make_client(), **FAST)
    def handle_a(messages: list[SqsMessage]) -> None:
        return None

    @sqs_listener(queue_url=second, health_check_port=port, client=make_client(), **FAST)
    def handle_b(messages: list[SqsMessage]) -> None:
        return None

    listeners = run_listeners(block=False, configure_logs=False, install_signal_handlers=False)
    try:
        status, body = _get(port, "/metrics")
        assert status == 200
        assert sorted(m["name"] for m in body["listeners"]) == ["handle_a", "handle_b"]
        assert _get(port, "/health")[0] == 200
        listeners[0].request_stop()
        assert _get(port, "/health")[0] == 503  # one of them is draining
        assert listeners[0].join(10)
        assert _get(port, "/health")[0] == 200  # the other still runs and is served
    finally:
        for listener in listeners:
            listener.stop(10)
    assert wait_for(lambda: _closed(port), timeout=5)
