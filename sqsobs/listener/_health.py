"""An optional HTTP health endpoint for container health checks (``health_check_port``).

``GET /health`` (liveness) answers 200 ``{"status": "ok"}`` while every listener on the port runs,
503 ``{"status": "unhealthy", "threads": [...]}`` when a listener's thread died (its heartbeat,
acker, event loop or a poller; a dead worker is replaced), and 503 ``{"status": "draining"}`` once
shutdown began. ``GET /ready`` (readiness) answers 200 ``{"status": "ready"}`` while every
listener receives and 503 ``{"status": "draining"}`` from the moment a stop was requested: it
turns first, so a load balancer or Kubernetes stops counting the process before it exits.
``GET /metrics`` answers JSON in sqs-fargate-listener's flat shape (``queue_url``, ``mode``,
``worker_threads``, ``uptime_seconds``, ``messages_processed``, ``messages_failed``,
``messages_filtered``), which probes and dashboards built for it read, plus ``listeners``: each
listener's own counts. With several listeners on the port the counts and ``worker_threads`` add
up, ``uptime_seconds`` is the longest, and ``queue_url`` and ``mode`` are the first listener's.
(For Prometheus metrics, use :func:`sqsobs.configure_telemetry`.)

A listener given ``health_check_port`` joins the server on that port when it starts (the first
one starts it) and leaves when it has stopped (the last one stops it), so listeners given the
same port, by ``run_listeners()`` or by hand, share one endpoint.

Example::

    server = HealthServer(8080, listeners).start()
    ...
    server.stop()
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqsobs.listener._listener import Listener

__all__ = ["HealthServer", "join_health", "leave_health"]

logger = logging.getLogger(__name__)

#: How long stop() waits for the serving thread to end.
_STOP_SECONDS = 5.0
#: How often the serving thread looks for a stop (stop() waits up to this long; it is part of
#: the drain's time).
_POLL_SECONDS = 0.05


class HealthServer:
    """Serves /health, /ready and /metrics for ``listeners`` on ``port`` (0: any free port)."""

    def __init__(self, port: int, listeners: Sequence[Listener], host: str = "0.0.0.0") -> None:
        # Each listener, with when it joined (``time.monotonic()``): its uptime's start.
        self._listeners = {listener: time.monotonic() for listener in listeners}
        self._lock = threading.Lock()
        owner = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = owner.answer(self.path)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("health: %s", format % args)

        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._server.server_address[1])

    def add(self, listener: Listener) -> None:
        """Report on ``listener`` too."""
        with self._lock:
            self._listeners.setdefault(listener, time.monotonic())

    def remove(self, listener: Listener) -> int:
        """Stop reporting on ``listener``; return how many listeners are left."""
        with self._lock:
            self._listeners.pop(listener, None)
            return len(self._listeners)

    def answer(self, path: str) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for ``path``."""
        route = path.split("?", 1)[0]
        with self._lock:
            joined = dict(self._listeners)
        if route == "/health":
            dead = [name for listener in joined for name in listener.dead_threads()]
            if dead:
                return 503, {"status": "unhealthy", "threads": dead}
            if all(listener.running for listener in joined):
                return 200, {"status": "ok"}
            return 503, {"status": "draining"}
        if route == "/ready":
            if all(listener.running for listener in joined):
                return 200, {"status": "ready"}
            return 503, {"status": "draining"}
        if route == "/metrics":
            return 200, _metrics(joined, time.monotonic())
        return 404, {"error": "not found"}

    def start(self) -> HealthServer:
        """Serve on a daemon thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(_POLL_SECONDS,),
            name="sqsobs-health",
            daemon=True,
        )
        self._thread.start()
        logger.info("health endpoint on port %d", self.port)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(_STOP_SECONDS)
        self._server.server_close()


def _metrics(joined: dict[Listener, float], now: float) -> dict[str, Any]:
    """sqs-fargate-listener's flat keys over every listener, then each listener's detail."""
    detail = [_detail(listener, now - since) for listener, since in joined.items()]
    first = detail[0] if detail else {"queue_url": "", "mode": ""}
    return {
        "queue_url": first["queue_url"],
        "mode": first["mode"],
        "worker_threads": sum(entry["worker_threads"] for entry in detail),
        "uptime_seconds": max((entry["uptime_seconds"] for entry in detail), default=0.0),
        "messages_processed": sum(entry["succeeded"] for entry in detail),
        "messages_failed": sum(entry["failed"] for entry in detail),
        "messages_filtered": sum(entry["filtered"] for entry in detail),
        "listeners": detail,
    }


def _detail(listener: Listener, uptime_seconds: float) -> dict[str, Any]:
    return {
        "name": listener.name,
        "queue_url": listener.queue_url,
        "mode": listener.settings.mode,
        "worker_threads": listener.settings.worker_threads,
        "running": listener.running,
        "uptime_seconds": round(uptime_seconds, 1),
        **listener.stats.snapshot(),
    }


# One server per requested port, shared by every listener given that port.
_servers: dict[int, HealthServer] = {}
_servers_lock = threading.Lock()


def join_health(port: int, listener: Listener) -> None:
    """Serve ``listener``'s health on ``port``, starting the server if it is the first there.

    A port that cannot be bound raises ``OSError`` here.
    """
    with _servers_lock:
        server = _servers.get(port)
        if server is None:
            server = HealthServer(port, []).start()
            _servers[port] = server
        server.add(listener)


def leave_health(port: int, listener: Listener) -> None:
    """Stop serving ``listener``'s health; the last listener on ``port`` stops the server."""
    with _servers_lock:
        server = _servers.get(port)
        if server is None or server.remove(listener) > 0:
            return
        del _servers[port]
        # Under the lock: a listener joining next binds the port only once it is free again.
        server.stop()
