"""A fault-injecting HTTP proxy for SQS's JSON protocol, on loopback, for tests.

It sits between a boto3 client and the test server and, per request, can answer throttling or
5xx errors itself, reset the connection before forwarding (the request never reached SQS) or after
forwarding (SQS stored it, the client never hears: the ambiguous case), add latency, stall, or
stall and then reset (``stall_reset``: a server that went away mid-call); or forward and mark
every failed batch entry of the answer ``SenderFault: false`` (``blame_server``, as LocalStack
4.13.1 answers ChangeMessageVisibilityBatch).
Faults target operations by name (the ``X-Amz-Target`` header) and apply with a probability
and/or a fixed number of times. Sockets set TCP_NODELAY (without it each response stalls ~40 ms).

Example::

    with FaultProxy(sqs_server.endpoint_url) as proxy:
        proxy.add(Fault("throttle", operations={"SendMessageBatch"}, count=3))
        client = make_client(endpoint_url=proxy.endpoint_url)
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlparse

FaultKind = Literal[
    "throttle",
    "error500",
    "error503",
    "reset_request",
    "reset_response",
    "latency",
    "stall",
    "stall_reset",
    "blame_server",
]

_ERRORS: dict[str, tuple[int, str, str]] = {
    # kind: (HTTP status, query-compatible code, fault side)
    "throttle": (400, "ThrottlingException", "Sender"),
    "error500": (500, "InternalError", "Receiver"),
    "error503": (503, "ServiceUnavailable", "Receiver"),
}


@dataclass
class Fault:
    """One fault rule: ``kind`` applied to ``operations`` (None: all)."""

    kind: FaultKind
    operations: frozenset[str] | set[str] | None = None
    probability: float = 1.0
    count: int | None = None
    seconds: float = 0.0
    applied: int = field(default=0, init=False)

    def matches(self, operation: str, rng: random.Random) -> bool:
        if self.operations is not None and operation not in self.operations:
            return False
        if self.count is not None and self.applied >= self.count:
            return False
        return rng.random() < self.probability


class _NoDelayConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        assert self.sock is not None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: FaultProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Resets are made on purpose; their tracebacks are noise."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._upstream: _NoDelayConnection | None = None

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the proxy's counters instead."""

    def do_GET(self) -> None:
        self._relay(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        proxy = self.server.proxy
        target = self.headers.get("X-Amz-Target", "")
        operation = target.rsplit(".", 1)[-1] if target else "unknown"
        fault = proxy._pick(operation)
        proxy._count(operation, fault.kind if fault else "forwarded")
        if fault is None:
            self._relay(body)
        elif fault.kind in _ERRORS:
            self._answer_error(fault.kind)
        elif fault.kind == "reset_request":
            self._reset()
        elif fault.kind == "reset_response":
            self._forward(body)
            self._reset()
        elif fault.kind == "blame_server":
            self._relay(body, _blame_server)
        elif fault.kind == "stall_reset":
            proxy._stall(fault.seconds)  # then the connection dies: the server went away
            self._reset()
        else:
            if fault.kind == "latency":
                time.sleep(fault.seconds)
            else:
                proxy._stall(fault.seconds)
            self._relay(body)

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        proxy = self.server.proxy
        for attempt in (1, 2):
            if self._upstream is None:
                self._upstream = _NoDelayConnection(proxy.upstream_host, proxy.upstream_port)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            try:
                self._upstream.request(self.command, self.path, body=body, headers=headers)
                response = self._upstream.getresponse()
                return response.status, response.getheaders(), response.read()
            except (OSError, http.client.HTTPException):
                # The upstream was restarted or dropped a keep-alive connection: reconnect once.
                self._upstream.close()
                self._upstream = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _relay(self, body: bytes, rewrite: Callable[[bytes], bytes] | None = None) -> None:
        try:
            status, headers, payload = self._forward(body)
        except (OSError, http.client.HTTPException):
            self._reset()  # upstream down: the client sees a connection error, as with no proxy
            return
        if rewrite is not None and status == 200:
            payload = rewrite(payload)
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in {
                "content-length",
                "connection",
                "transfer-encoding",
                "date",
                "server",
            }:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _answer_error(self, kind: str) -> None:
        status, code, side = _ERRORS[kind]
        payload = json.dumps({"__type": f"com.amazonaws.sqs#{code}", "message": "injected"})
        data = payload.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("x-amzn-query-error", f"{code};{side}")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _reset(self) -> None:
        """Close with RST (SO_LINGER 0), so the client sees a reset connection."""
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        self.close_connection = True


def _blame_server(payload: bytes) -> bytes:
    """The answer with every failed batch entry marked as the server's fault."""
    answer = json.loads(payload)
    for entry in answer.get("Failed") or []:
        entry["SenderFault"] = False
    return json.dumps(answer).encode()


class FaultProxy:
    """Start with :meth:`start` (or ``with``); point clients at :attr:`endpoint_url`."""

    def __init__(self, upstream_url: str, *, seed: int | None = None) -> None:
        parsed = urlparse(upstream_url)
        self.upstream_host = parsed.hostname or "127.0.0.1"
        self.upstream_port = parsed.port or 80
        self._rng = random.Random(seed)
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._unstall = threading.Event()
        self.counts: Counter[tuple[str, str]] = Counter()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="faultproxy", daemon=True
        )

    @property
    def endpoint_url(self) -> str:
        """Where clients connect."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        """Serve in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release any stalled request."""
        self._unstall.set()
        self._server.shutdown()
        self._server.server_close()

    def add(self, fault: Fault) -> Fault:
        """Add a fault rule (checked in the order added); return it to read ``applied``."""
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove all fault rules and release stalls."""
        with self._lock:
            self._faults.clear()
        self._unstall.set()

    def release(self) -> None:
        """Let stalled requests go on."""
        self._unstall.set()

    def count(self, operation: str, outcome: str = "forwarded") -> int:
        """How many requests for ``operation`` had ``outcome`` (a fault kind or 'forwarded')."""
        with self._lock:
            return self.counts[(operation, outcome)]

    def _pick(self, operation: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(operation, self._rng):
                    fault.applied += 1
                    if fault.kind == "stall":
                        self._unstall.clear()
                    return fault
        return None

    def _count(self, operation: str, outcome: str) -> None:
        with self._lock:
            self.counts[(operation, outcome)] += 1

    def _stall(self, seconds: float) -> None:
        self._unstall.wait(seconds if seconds > 0 else None)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
