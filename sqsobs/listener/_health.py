"""An optional HTTP health endpoint for container health checks (the seed's ``health_check_port``).

``GET /health`` answers 200 ``{"status": "ok"}`` while every listener on the port runs, and 503
``{"status": "draining"}`` once shutdown began; ``GET /metrics`` answers each listener's counts as
JSON (for Prometheus metrics, use :func:`sqsobs.configure_telemetry`).

Example::

    server = HealthServer(8080, listeners).start()
    ...
    server.stop()
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqsobs.listener._listener import Listener

__all__ = ["HealthServer"]

logger = logging.getLogger(__name__)


class HealthServer:
    """Serves /health and /metrics for ``listeners`` on ``port`` (0: any free port)."""

    def __init__(self, port: int, listeners: Sequence[Listener], host: str = "0.0.0.0") -> None:
        self._listeners = list(listeners)
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

    def answer(self, path: str) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for ``path``."""
        route = path.split("?", 1)[0]
        if route == "/health":
            if all(listener.running for listener in self._listeners):
                return 200, {"status": "ok"}
            return 503, {"status": "draining"}
        if route == "/metrics":
            return 200, {
                "listeners": [
                    {
                        "name": listener.name,
                        "queue_url": listener.queue_url,
                        "mode": listener.settings.mode,
                        "worker_threads": listener.settings.worker_threads,
                        "running": listener.running,
                        **listener.stats.snapshot(),
                    }
                    for listener in self._listeners
                ]
            }
        return 404, {"error": "not found"}

    def start(self) -> HealthServer:
        """Serve on a daemon thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sqsobs-health", daemon=True
        )
        self._thread.start()
        logger.info("health endpoint on port %d", self.port)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5.0)
        self._server.server_close()
