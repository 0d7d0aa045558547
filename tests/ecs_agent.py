"""A local stand-in for the ECS agent's task scale-in protection endpoint (tests only).

It implements the contract the agent documents and its handler enforces
(``PUT /task-protection/v1/state``, aws/amazon-ecs-agent ``agent/handlers/agentapi/
taskprotection/v1``): a JSON body with ``ProtectionEnabled`` (required, a bool) and
``ExpiresInMinutes`` (optional, 1 to 2880, default 120); unknown fields, wrong types or a missing
``ProtectionEnabled`` get 400 ``InvalidParameterException``; success is 200
``{"protection": {"ExpirationDate", "ProtectionEnabled", "TaskArn"}}``; ECS refusing is 200
``{"failure": {"Arn", "Reason", "Detail"}}``; errors are ``{"requestID", "error": {"Arn", "Code",
"Message"}}`` with 400, 403, 404, 500 or 504. ``GET`` answers the current state.

Set ``mode`` to answer the next requests with a failure or an error; ``delay_seconds`` makes it
slow. Every PUT is recorded (time, body, status).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: The endpoint's path under the agent URI (``$ECS_AGENT_URI/task-protection/v1/state``).
PREFIX = "/api/task-1"
PATH = PREFIX + "/task-protection/v1/state"
TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/cluster/0123456789abcdef"
DEFAULT_MINUTES = 120
MAX_MINUTES = 2880

#: mode -> (status, body) of the answer; "ok" is computed.
ANSWERS: dict[str, tuple[int, dict[str, Any]]] = {
    "task_not_valid": (
        200,
        {"failure": {"Arn": TASK_ARN, "Reason": "TASK_NOT_VALID", "Detail": "not in a service"}},
    ),
    "access_denied": (
        403,
        {"error": {"Arn": TASK_ARN, "Code": "AccessDeniedException", "Message": "no role"}},
    ),
    "not_found": (
        404,
        {"error": {"Arn": TASK_ARN, "Code": "ResourceNotFoundException", "Message": "no task"}},
    ),
    "server_error": (
        500,
        {"error": {"Arn": TASK_ARN, "Code": "ServerException", "Message": "ECS failed"}},
    ),
    "timeout": (
        504,
        {"error": {"Arn": TASK_ARN, "Code": "RequestCanceled", "Message": "timed out"}},
    ),
}


@dataclass
class Put:
    """One PUT the agent received."""

    at: float  # time.monotonic()
    body: Any
    status: int


@dataclass
class FakeAgent:
    """The endpoint on a free loopback port; ``uri`` is what ``ECS_AGENT_URI`` would be."""

    mode: str = "ok"
    delay_seconds: float = 0.0
    puts: list[Put] = field(default_factory=list)
    protected: bool = False
    expires_at: float = 0.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                owner._put(self)

            def do_GET(self) -> None:
                if self.path != PATH:
                    owner._send(self, 404, {"error": {"Code": "NotFound"}})
                    return
                owner._send(self, 200, {"protection": owner._state()})

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{PREFIX}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def bodies(self) -> list[Any]:
        with self._lock:
            return [put.body for put in self.puts]

    def enabled_history(self) -> list[bool]:
        """ProtectionEnabled of every PUT the agent accepted (status 200, well formed)."""
        with self._lock:
            return [p.body["ProtectionEnabled"] for p in self.puts if p.status == 200]

    # --- the contract ----------------------------------------------------------------------
    def _put(self, request: BaseHTTPRequestHandler) -> None:
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length)
        status, body = self._decide(request, raw)
        with self._lock:
            try:
                parsed: Any = json.loads(raw)
            except ValueError:
                parsed = raw.decode(errors="replace")
            self.puts.append(Put(time.monotonic(), parsed, status))
        self._send(request, status, body)

    def _decide(self, request: BaseHTTPRequestHandler, raw: bytes) -> tuple[int, dict[str, Any]]:
        if request.path != PATH:
            return 404, {"error": {"Code": "NotFound", "Message": request.path}}
        if request.headers.get("Content-Type") != "application/json":
            return _invalid("UpdateTaskProtection: content type must be application/json")
        try:
            body = json.loads(raw)
        except ValueError:
            return _invalid("UpdateTaskProtection: failed to decode request")
        if not isinstance(body, dict) or set(body) - {"ProtectionEnabled", "ExpiresInMinutes"}:
            return _invalid("UpdateTaskProtection: failed to decode request")
        enabled, minutes = body.get("ProtectionEnabled"), body.get("ExpiresInMinutes")
        if not isinstance(enabled, bool):
            return _invalid("Invalid request: does not contain 'ProtectionEnabled' field")
        if minutes is not None and (
            not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 1
        ):
            return _invalid("UpdateTaskProtection: failed to decode request")
        if minutes is not None and minutes > MAX_MINUTES:
            return _invalid("expiresInMinutes must be at most 2880")
        if self.mode != "ok":
            return ANSWERS[self.mode]
        with self._lock:
            self.protected = enabled
            minutes = DEFAULT_MINUTES if minutes is None else minutes
            self.expires_at = time.time() + minutes * 60 if enabled else 0.0
        return 200, {"protection": self._state(), "requestID": str(uuid.uuid4())}

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"ProtectionEnabled": self.protected, "TaskArn": TASK_ARN}
        if self.protected:
            expiry = dt.datetime.fromtimestamp(self.expires_at, dt.timezone.utc)
            state["ExpirationDate"] = expiry.isoformat().replace("+00:00", "Z")
        return state

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)


def _invalid(message: str) -> tuple[int, dict[str, Any]]:
    return 400, {
        "requestID": str(uuid.uuid4()),
        "error": {"Arn": TASK_ARN, "Code": "InvalidParameterException", "Message": message},
    }
