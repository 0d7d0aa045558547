"""The ECS agent's task scale-in protection endpoint, as a small HTTP client.

``PUT $ECS_AGENT_URI/task-protection/v1/state`` with ``{"ProtectionEnabled": bool,
"ExpiresInMinutes": n}`` (1 to 2880; the agent's default is 120). The agent answers JSON: 200
``{"protection": {...}}`` when ECS accepted it, 200 ``{"failure": {"Reason": ...}}`` when ECS
refused it (``TASK_NOT_VALID`` for a task outside a service), or 4xx/5xx ``{"error": {"Code":
...}}`` (no task role credentials, ``ecs:UpdateTaskProtection`` denied, ECS unreachable). Every
answer becomes an :class:`Answer`; nothing raises. Proxies from the environment are not used:
the agent is on a link-local address. Other instrumentation is suppressed around the call (a
housekeeping call every few minutes; counted in ``sqsobs.listener.task_protection.updates``).

Example::

    endpoint = AgentEndpoint("http://169.254.170.2/api/abc")
    answer = endpoint.update(True, expires_in_minutes=5)
    answer.ok, answer.error_type      # True, None
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from sqsobs._suppress import suppress_other_instrumentation

__all__ = ["AGENT_URI_ENV", "PATH", "AgentEndpoint", "Answer"]

#: The variable the ECS agent sets in every container of a task.
AGENT_URI_ENV = "ECS_AGENT_URI"
PATH = "/task-protection/v1/state"
#: Bounds of ``ExpiresInMinutes`` the endpoint accepts.
MIN_MINUTES, MAX_MINUTES = 1, 2880


@dataclass(frozen=True)
class Answer:
    """What one update came to: ``ok``, or a low-cardinality ``error_type`` and a detail."""

    ok: bool
    error_type: str | None = None
    detail: str = ""
    #: ``ExpirationDate`` of the protection, as the agent gave it (RFC 3339), when enabled.
    expiration: str | None = None


class AgentEndpoint:
    """PUTs the task's protection state to the agent at ``agent_uri``."""

    def __init__(self, agent_uri: str, *, timeout_seconds: float = 5.0) -> None:
        self.url = agent_uri.rstrip("/") + PATH
        self._timeout = timeout_seconds
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def update(self, enabled: bool, *, expires_in_minutes: int | None = None) -> Answer:
        """Ask for protection on (for ``expires_in_minutes``) or off; never raises."""
        body: dict[str, Any] = {"ProtectionEnabled": enabled}
        if enabled and expires_in_minutes is not None:
            body["ExpiresInMinutes"] = min(MAX_MINUTES, max(MIN_MINUTES, expires_in_minutes))
        request = urllib.request.Request(
            self.url,
            data=json.dumps(body).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        try:
            with (
                suppress_other_instrumentation(),
                self._opener.open(request, timeout=self._timeout) as response,
            ):
                return _answer(response.status, response.read(), enabled)
        except urllib.error.HTTPError as error:
            with error:
                return _answer(error.code, error.read(), enabled)
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            kind = "timeout" if isinstance(reason, (socket.timeout, TimeoutError)) else None
            return Answer(False, kind or type(reason).__name__, str(reason))


def _answer(status: int, payload: bytes, enabled: bool) -> Answer:
    """The agent's answer: success, failure (status 200) or error (4xx/5xx)."""
    try:
        data = json.loads(payload)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return Answer(False, f"http_{status}", payload[:200].decode(errors="replace"))
    if status == 200 and isinstance(data.get("protection"), dict):
        protection = data["protection"]
        if protection.get("ProtectionEnabled") is not enabled:
            return Answer(False, "unexpected_state", json.dumps(protection)[:200])
        return Answer(True, expiration=protection.get("ExpirationDate"))
    if isinstance(data.get("failure"), dict):
        failure = data["failure"]
        reason = str(failure.get("Reason") or "failure")
        return Answer(False, reason, str(failure.get("Detail") or ""))
    if isinstance(data.get("error"), dict):
        error = data["error"]
        code = str(error.get("Code") or f"http_{status}")
        return Answer(False, code, str(error.get("Message") or ""))
    return Answer(False, f"http_{status}", json.dumps(data)[:200])
