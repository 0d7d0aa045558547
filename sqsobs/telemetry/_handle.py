"""The handle :func:`sqsobs.configure_telemetry` returns: flush and shut down, bounded in time.

The SDK is referenced for type checking only; :mod:`sqsobs.telemetry._setup` builds the objects.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = ["Telemetry"]

logger = logging.getLogger(__name__)


class Telemetry:
    """What :func:`~sqsobs.configure_telemetry` set up: providers, endpoints, flush, shutdown.

    ``force_flush()`` and ``shutdown()`` return within ``timeout_seconds`` even when the
    collector is unreachable; ``shutdown()`` is idempotent and also runs at interpreter exit.
    On providers set by an agent or the application (:attr:`borrowed`), ``shutdown()`` only
    flushes them: stopping them is their owner's job.

    Example::

        telemetry = sqsobs.configure_telemetry("orders", prometheus_port=0)
        print(telemetry.prometheus_url)       # http://127.0.0.1:<free port>/metrics
        telemetry.force_flush()
        telemetry.shutdown()
    """

    def __init__(
        self,
        *,
        service_name: str,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        exporters: Sequence[SpanExporter | MetricExporter] = (),
        otlp_endpoint: str | None = None,
        otlp_protocol: str | None = None,
        prometheus_host: str | None = None,
        prometheus_port: int | None = None,
        prometheus_server: Any = None,
        prometheus_reader: MetricReader | None = None,
        borrowed: bool = False,
    ) -> None:
        self.service_name = service_name
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.otlp_endpoint = otlp_endpoint
        self.otlp_protocol = otlp_protocol
        self.prometheus_host = prometheus_host
        self.prometheus_port = prometheus_port
        self.prometheus_reader = prometheus_reader
        #: The providers were set by someone else (an agent, the application): flushed, never
        #: shut down by this handle.
        self.borrowed = borrowed
        self._exporters = tuple(exporters)
        self._server = prometheus_server
        self._lock = threading.Lock()
        self._shutdown_result: bool | None = None

    def __repr__(self) -> str:
        return (
            f"Telemetry(service_name={self.service_name!r}, otlp={self.otlp_protocol} "
            f"{self.otlp_endpoint}, prometheus={self.prometheus_url})"
        )

    @property
    def prometheus_url(self) -> str | None:
        """Where Prometheus scrapes this process, or None when the endpoint is off."""
        if self.prometheus_port is None or self.prometheus_host is None:
            return None
        host = f"[{self.prometheus_host}]" if ":" in self.prometheus_host else self.prometheus_host
        return f"http://{host}:{self.prometheus_port}/metrics"

    @property
    def is_shut_down(self) -> bool:
        """True once :meth:`shutdown` ran."""
        return self._shutdown_result is not None

    def force_flush(self, timeout_seconds: float = 5.0) -> bool:
        """Export pending spans and metrics now; False if that did not finish in time."""
        if self.is_shut_down:
            return False
        millis = int(timeout_seconds * 1000)
        calls: list[tuple[str, Callable[[], object]]] = []
        if self.tracer_provider is not None:
            tracer_provider = self.tracer_provider
            calls.append(("flush-traces", lambda: tracer_provider.force_flush(millis)))
        if self.meter_provider is not None:
            meter_provider = self.meter_provider
            calls.append(("flush-metrics", lambda: meter_provider.force_flush(millis)))
        return _bounded(calls, timeout_seconds)

    def shutdown(self, timeout_seconds: float = 5.0) -> bool:
        """Flush what is pending and stop exporters and the Prometheus endpoint, once.

        Returns whether everything finished within ``timeout_seconds``; later calls return the
        first call's result immediately. Exports still retrying at the deadline are abandoned.
        """
        with self._lock:
            if self._shutdown_result is not None:
                return self._shutdown_result
            if self.borrowed:
                self._shutdown_result = self.force_flush(timeout_seconds)
                return self._shutdown_result
            millis = int(timeout_seconds * 1000)
            calls: list[tuple[str, Callable[[], object]]] = []
            if self.tracer_provider is not None:
                calls.append(("shutdown-traces", self.tracer_provider.shutdown))
            if self.meter_provider is not None:
                meter_provider = self.meter_provider
                calls.append(
                    ("shutdown-metrics", lambda: meter_provider.shutdown(timeout_millis=millis))
                )
            finished = _bounded(calls, timeout_seconds)
            if not finished:
                logger.warning(
                    "telemetry shutdown did not finish in %.1fs; pending exports abandoned",
                    timeout_seconds,
                )
                self._abort_exporters()
            self._stop_server()
            atexit.unregister(self.shutdown)
            self._shutdown_result = finished
            return finished

    def _abort_exporters(self) -> None:
        # Exporter shutdown sets the event their retry loops wait on, so stuck exports end.
        for exporter in self._exporters:
            try:
                exporter.shutdown()
            except Exception:  # an exporter failing to stop must not fail the caller's shutdown
                logger.debug("exporter shutdown failed", exc_info=True)

    def _stop_server(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        _bounded([("stop-prometheus", server.shutdown)], 2.0)
        server.server_close()

    def __enter__(self) -> Telemetry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()


def _bounded(calls: list[tuple[str, Callable[[], object]]], timeout_seconds: float) -> bool:
    """Run ``calls`` in parallel daemon threads; True if all returned truthy-or-None in time."""
    results: dict[str, bool] = {}

    def run(name: str, call: Callable[[], object]) -> None:
        try:
            results[name] = call() is not False
        except Exception as error:  # telemetry must not fail the application's shutdown
            logger.warning("telemetry %s failed: %s", name, error)
            results[name] = False

    threads: list[threading.Thread] = []
    for name, call in calls:
        thread = threading.Thread(target=run, args=(name, call), name=f"sqsobs-{name}", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # no new threads at interpreter shutdown: run it here
            run(name, call)
            continue
        threads.append(thread)
    deadline = time.monotonic() + max(timeout_seconds, 0.0)
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0.0))
    return all(results.get(name, False) for name, _ in calls)
