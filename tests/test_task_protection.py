"""ECS task scale-in protection (``ecs_task_protection``) against a local agent endpoint.

tests/ecs_agent.py implements the endpoint's documented contract (request shape, ExpiresInMinutes,
success / failure / error answers and their status codes); it rejects any request that breaks
it, so every test here also checks what sqsobs sends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sqsobs import Listener, SqsMessage
from sqsobs.listener import _task_protection as tp
from sqsobs.listener._agent_endpoint import AgentEndpoint
from sqsobs.listener._registry import clear_listeners, registered_listeners, sqs_listener
from sqsobs.listener._settings import ListenerSettings
from sqsobs.listener._task_protection import TaskProtection
from sqsobs.telemetry.catalog import TASK_PROTECTION_UPDATES
from sqsobs.testing import free_port
from tests.ecs_agent import FakeAgent
from tests.helpers import Clock, wait_for
from tests.listener_support import SqsCalls, send_bodies


@pytest.fixture
def agent() -> Iterator[FakeAgent]:
    fake = FakeAgent()
    try:
        yield fake
    finally:
        fake.close()


# --- the endpoint ------------------------------------------------------------------------------


def test_protect_and_unprotect_send_the_documented_request(agent: FakeAgent) -> None:
    endpoint = AgentEndpoint(agent.uri)
    on = endpoint.update(True, expires_in_minutes=5)
    assert on.ok and on.error_type is None and on.expiration and on.expiration.endswith("Z")
    assert agent.protected
    off = endpoint.update(False, expires_in_minutes=5)
    assert off.ok and not agent.protected
    # ExpiresInMinutes goes with protection on only; the fake rejects anything else.
    assert agent.bodies() == [
        {"ProtectionEnabled": True, "ExpiresInMinutes": 5},
        {"ProtectionEnabled": False},
    ]
    assert [put.status for put in agent.puts] == [200, 200]


def test_expiry_is_clamped_to_what_the_agent_accepts(agent: FakeAgent) -> None:
    endpoint = AgentEndpoint(agent.uri)
    assert endpoint.update(True, expires_in_minutes=10_000).ok
    assert endpoint.update(True, expires_in_minutes=0).ok
    assert [b["ExpiresInMinutes"] for b in agent.bodies()] == [2880, 1]


def test_the_fake_agent_rejects_malformed_requests(agent: FakeAgent) -> None:
    # The contract's 400s: the fake would catch sqsobs sending any of these.
    import json
    import urllib.error
    import urllib.request

    def put(body: Any, content_type: str = "application/json") -> int:
        request = urllib.request.Request(
            agent.uri + "/task-protection/v1/state",  # $ECS_AGENT_URI/task-protection/v1/state
            data=json.dumps(body).encode(),
            method="PUT",
            headers={"Content-Type": content_type},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as error:
            return error.code

    assert put({"ExpiresInMinutes": 5}) == 400
    assert put({"ProtectionEnabled": "yes"}) == 400
    assert put({"ProtectionEnabled": True, "Unknown": 1}) == 400
    assert put({"ProtectionEnabled": True, "ExpiresInMinutes": 2881}) == 400
    assert put({"ProtectionEnabled": True}, content_type="text/plain") == 400
    assert put({"ProtectionEnabled": True}) == 200
    assert agent.expires_at - time.time() == pytest.approx(120 * 60, abs=5)  # the default


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("task_not_valid", "TASK_NOT_VALID"),  # 200 with a failure
        ("access_denied", "AccessDeniedException"),  # 403
        ("not_found", "ResourceNotFoundException"),  # 404
        ("server_error", "ServerException"),  # 500
        ("timeout", "RequestCanceled"),  # 504
    ],
)
def test_failures_and_errors_become_error_types(agent: FakeAgent, mode: str, expected: str) -> None:
    agent.mode = mode
    answer = AgentEndpoint(agent.uri).update(True, expires_in_minutes=5)
    assert not answer.ok
    assert answer.error_type == expected
    assert answer.detail


def test_an_unreachable_or_slow_agent_is_an_answer_not_an_exception(
    agent: FakeAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = AgentEndpoint(f"http://127.0.0.1:{free_port()}/api/x", timeout_seconds=2)
    refused = closed.update(True, expires_in_minutes=5)
    assert not refused.ok and refused.error_type == "ConnectionRefusedError"
    agent.delay_seconds = 1.0
    slow = AgentEndpoint(agent.uri, timeout_seconds=0.2).update(True, expires_in_minutes=5)
    assert not slow.ok and slow.error_type == "timeout"
    # A proxy in the environment is not used for the link-local agent.
    agent.delay_seconds = 0.0
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")
    assert AgentEndpoint(agent.uri).update(True, expires_in_minutes=5).ok


# --- the keeper ----------------------------------------------------------------------------


class Busy:
    """A stand-in for a worker pool's running count."""

    def __init__(self) -> None:
        self.running = 0

    def __call__(self) -> int:
        return self.running


def keeper(agent: FakeAgent, **overrides: Any) -> TaskProtection:
    options: dict[str, Any] = {
        "expires_in_minutes": 1,
        "renew_after_seconds": 0.4,
        "idle_seconds": 0.5,
        "check_seconds": 0.05,
    }
    options.update(overrides)
    return TaskProtection(AgentEndpoint(agent.uri, timeout_seconds=2), **options)


def test_idle_is_counted_from_the_first_look_that_finds_the_workers_idle(agent: FakeAgent) -> None:
    # A look can come late (the thread waited for a slow agent call, or for the CPU), and the
    # workers may have gone idle just before it: only from that look on are they known idle.
    # Counting from the last busy look dropped the protection 0.16 s after the workers went idle
    # (idle_seconds 0.5) when a loaded machine delayed the keeper (the test below, in a full run).
    clock, busy = Clock(), Busy()
    protection = keeper(agent, clock=clock)
    protection.add("listener", busy, lambda request, error: None)
    busy.running = 1
    protection.step()
    assert agent.protected
    busy.running = 0
    clock.now += 0.6  # a late look: more than idle_seconds since the last one that saw work
    protection.step()
    assert agent.protected
    clock.now += 0.4
    protection.step()
    assert agent.protected  # seen idle for 0.4 s
    clock.now += 0.2
    protection.step()
    assert not agent.protected  # seen idle for 0.6 s
    assert agent.enabled_history() == [True, True, True, False]


def test_protects_while_busy_renews_before_expiry_and_drops_when_idle(agent: FakeAgent) -> None:
    busy, updates = Busy(), []
    protection = keeper(agent)
    protection.add("listener", busy, lambda request, error: updates.append((request, error)))
    protection.start()
    try:
        time.sleep(0.3)
        assert agent.puts == []  # idle: nothing asked
        busy.running = 2
        protection.handler_started()
        assert wait_for(lambda: agent.protected, timeout=2)
        started = time.monotonic()
        time.sleep(1.0)  # busy for 1 s: renewed every 0.4 s
        assert agent.enabled_history()[:3] == [True, True, True]
        assert all(b["ExpiresInMinutes"] == 1 for b in agent.bodies())
        busy.running = 0
        assert wait_for(lambda: not agent.protected, timeout=3)
        idle_for = agent.puts[-1].at - started - 1.0
        assert 0.4 <= idle_for <= 1.5  # dropped after idle_seconds (0.5), not before
        # The agent changes state when the PUT arrives; the keeper reports the update once the
        # answer has reached it, a moment later (CI once read the list in between).
        assert wait_for(lambda: updates[-1] == ("unprotect", None), timeout=3), updates
        assert updates[0] == ("protect", None)
    finally:
        protection.stop()
    assert agent.enabled_history()[-1] is False


def test_a_busy_queue_does_not_flap(agent: FakeAgent) -> None:
    # Handlers of 50 ms with gaps of 100 ms: shorter than idle_seconds, so one protection.
    busy = Busy()
    protection = keeper(agent, renew_after_seconds=30)
    protection.add("listener", busy, lambda *_: None)
    protection.start()
    try:
        for _ in range(12):
            busy.running = 1
            protection.handler_started()
            time.sleep(0.05)
            busy.running = 0
            time.sleep(0.1)
        assert agent.enabled_history() == [True]
        assert wait_for(lambda: agent.enabled_history() == [True, False], timeout=3)
    finally:
        protection.stop()


def test_a_handler_shorter_than_a_look_still_protects(agent: FakeAgent) -> None:
    busy = Busy()  # never seen running: the start itself counts
    protection = keeper(agent, check_seconds=5.0)
    protection.add("listener", busy, lambda *_: None)
    protection.start()
    try:
        protection.handler_started()
        assert wait_for(lambda: agent.enabled_history() == [True], timeout=2)
    finally:
        protection.stop()


def test_failures_are_counted_logged_once_and_retried_then_recover(
    agent: FakeAgent, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tp, "RETRY", tp.Backoff(0.1, 0.2, jitter=False))
    agent.mode = "access_denied"
    busy, updates = Busy(), []
    busy.running = 1
    protection = keeper(agent)
    protection.add("listener", busy, lambda request, error: updates.append((request, error)))
    with caplog.at_level(logging.DEBUG, logger="sqsobs.listener._task_protection"):
        protection.start()
        try:
            assert wait_for(lambda: len(updates) >= 4, timeout=3)
            assert set(updates) == {("protect", "AccessDeniedException")}
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1 and "AccessDeniedException" in warnings[0].getMessage()
            agent.mode = "ok"
            # The agent answers before the keeper reports: wait for the report, not the answer.
            assert wait_for(lambda: updates[-1] == ("protect", None), timeout=3)
            assert agent.protected
        finally:
            protection.stop()
    assert not agent.protected


# --- through the listener ------------------------------------------------------------------


@pytest.fixture
def fast_protection(monkeypatch: pytest.MonkeyPatch, agent: FakeAgent) -> FakeAgent:
    monkeypatch.setenv("ECS_AGENT_URI", agent.uri)
    monkeypatch.setattr(tp, "IDLE_SECONDS", 0.5)
    monkeypatch.setattr(tp, "CHECK_SECONDS", 0.05)
    return agent


def protected_listener(handle: Any, queue_url: str, client: Any) -> Listener:
    """A per-message listener with ecs_task_protection on (use it as a context manager)."""
    return Listener(
        handle,
        queue_url=queue_url,
        mode="per_message",
        wait_time=1,
        idle_sleep_max=0.0,
        ecs_task_protection=True,
        client=client,
    )


def _updates(otel: Any, queue: str, request: str, error: str | None = None) -> float:
    attributes = {"messaging.destination.name": queue, "sqsobs.protection.request": request}
    points = otel.points(TASK_PROTECTION_UPDATES.name, **attributes)
    return sum(p.value for p in points if p.attributes.get("error.type") == error)


def test_a_listener_keeps_its_task_protected_while_a_handler_runs(
    fast_protection: FakeAgent, make_client: Any, sqs_client: Any, queue_url: str, otel: Any
) -> None:
    agent, queue_name = fast_protection, queue_url.rsplit("/", 1)[-1]
    send_bodies(sqs_client, queue_url, ["slow"])
    started, release = threading.Event(), threading.Event()

    def handle(message: SqsMessage) -> bool:
        started.set()
        release.wait(10)
        return True

    sqs = SqsCalls(make_client())
    with protected_listener(handle, queue_url, sqs.client):
        assert started.wait(10)
        assert wait_for(lambda: agent.protected, timeout=3)
        assert agent.bodies()[0] == {"ProtectionEnabled": True, "ExpiresInMinutes": 5}
        time.sleep(0.8)  # longer than idle_seconds: still protected while the handler runs
        assert agent.protected
        release.set()
        assert wait_for(lambda: sqs.deleted == 1, timeout=10)
        assert wait_for(lambda: not agent.protected, timeout=3)
    assert agent.enabled_history() == [True, False]
    assert _updates(otel, queue_name, "protect") == 1
    assert _updates(otel, queue_name, "unprotect") == 1


def test_the_last_listener_out_drops_the_protection_and_counts_it(
    fast_protection: FakeAgent, make_client: Any, sqs_client: Any, queue_url: str, otel: Any
) -> None:
    agent, queue_name = fast_protection, queue_url.rsplit("/", 1)[-1]
    send_bodies(sqs_client, queue_url, ["m"])
    started, release = threading.Event(), threading.Event()

    def handle(message: SqsMessage) -> bool:
        started.set()
        release.wait(10)
        return True

    listener = protected_listener(handle, queue_url, make_client()).start()
    assert started.wait(10)
    assert wait_for(lambda: agent.protected, timeout=3)
    listener.request_stop()
    release.set()  # the handler ends inside the drain: no time to go idle before the stop
    assert listener.join(10)
    assert not agent.protected  # dropped by the last listener out
    assert agent.enabled_history() == [True, False]
    assert _updates(otel, queue_name, "unprotect") == 1


def test_a_failing_or_hanging_agent_never_holds_a_handler(
    fast_protection: FakeAgent,
    make_client: Any,
    queue_url: str,
    otel: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    agent, queue_name = fast_protection, queue_url.rsplit("/", 1)[-1]
    agent.mode, agent.delay_seconds = "server_error", 2.0
    send_bodies(make_client(), queue_url, [f"m{i}" for i in range(5)])
    took: list[float] = []

    def handle(message: SqsMessage) -> bool:
        took.append(time.monotonic())
        return True

    sqs = SqsCalls(make_client())
    began = time.monotonic()
    with caplog.at_level(logging.WARNING), protected_listener(handle, queue_url, sqs.client):
        assert wait_for(lambda: sqs.deleted == 5, timeout=10)
        handled_in = max(took) - began
        assert wait_for(lambda: _updates(otel, queue_name, "protect", "ServerException"), 6)
    assert handled_in < 1.5, handled_in  # the agent answers after 2 s: nobody waited for it
    assert any("ServerException" in r.getMessage() for r in caplog.records)


def test_without_the_agent_uri_it_warns_and_runs(
    monkeypatch: pytest.MonkeyPatch,
    make_client: Any,
    sqs_client: Any,
    queue_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("ECS_AGENT_URI", raising=False)
    send_bodies(sqs_client, queue_url, ["m"])
    sqs = SqsCalls(make_client())
    with (
        caplog.at_level(logging.WARNING),
        Listener(
            lambda m: True,
            queue_url=queue_url,
            mode="per_message",
            wait_time=1,
            ecs_task_protection=True,
            client=sqs.client,
        ),
    ):
        assert wait_for(lambda: sqs.deleted == 1, timeout=10)
    assert any("ECS_AGENT_URI is not set" in r.getMessage() for r in caplog.records)


def test_the_setting_comes_from_the_argument_the_decorator_or_ecs_task_protection() -> None:
    assert not ListenerSettings.resolve(queue_url="q", environ={}).ecs_task_protection
    assert ListenerSettings.resolve(
        queue_url="q", environ={"ECS_TASK_PROTECTION": "1"}
    ).ecs_task_protection
    assert ListenerSettings.resolve(
        queue_url="q", ecs_task_protection=True, environ={}
    ).ecs_task_protection
    assert not ListenerSettings.resolve(
        queue_url="q", ecs_task_protection=False, environ={"ECS_TASK_PROTECTION": "true"}
    ).ecs_task_protection
    clear_listeners()
    try:
        sqs_listener("q", ecs_task_protection=True)(lambda m: True)
        (spec,) = registered_listeners()
        assert spec.options["ecs_task_protection"] is True
        assert spec.build().settings.ecs_task_protection
    finally:
        clear_listeners()
