"""Rate-limits the OpenTelemetry exporters' own failure logs: once per interval, not per batch.

With no collector running, every batch export fails and the SDK logs each failure (and each
retry). :class:`ExportLogLimiter` lets the first warning of a kind through, swallows repeats for
``interval_seconds``, and then reports how many it swallowed on the next one it lets through.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["EXPORT_LOGGER_PREFIXES", "ExportLogLimiter", "install_export_log_limiter"]

#: Loggers of the SDK's processors/readers and of the exporters (and their children).
EXPORT_LOGGER_PREFIXES = ("opentelemetry.exporter", "opentelemetry.sdk")
# Module loggers known to report export failures; filters do not apply to children's records,
# so each gets its own filter even if it was not imported yet.
_KNOWN_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.sdk.metrics._internal.export",
)


class ExportLogLimiter(logging.Filter):
    """Passes one WARNING-or-worse record per (logger, message template) per interval.

    Lower levels always pass. The next record let through after a quiet period says how many
    were suppressed.
    """

    def __init__(
        self, interval_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.interval_seconds = interval_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._state: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` is emitted now."""
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, str(record.msg))
        now = self._clock()
        with self._lock:
            last, suppressed = self._state.get(key, (float("-inf"), 0))
            if now - last < self.interval_seconds:
                self._state[key] = (last, suppressed + 1)
                return False
            self._state[key] = (now, 0)
        if suppressed:
            # Appended outside the %-template so the record's own args still apply.
            record.msg = (
                f"{record.msg} [{suppressed} similar messages suppressed in the last "
                f"{self.interval_seconds:g}s]"
            )
        return True


_install_lock = threading.Lock()
_limiter: ExportLogLimiter | None = None
_filtered: set[str] = set()


def install_export_log_limiter(interval_seconds: float = 60.0) -> ExportLogLimiter:
    """Attach one process-wide limiter to every exporter/SDK logger; safe to call again."""
    global _limiter  # noqa: PLW0603 - one limiter per process, shared by every logger
    with _install_lock:
        if _limiter is None:
            _limiter = ExportLogLimiter(interval_seconds)
        _limiter.interval_seconds = interval_seconds
        existing = [
            name
            for name in list(logging.Logger.manager.loggerDict)
            if name.startswith(EXPORT_LOGGER_PREFIXES)
        ]
        for name in (*_KNOWN_LOGGERS, *existing):
            if name not in _filtered:
                logging.getLogger(name).addFilter(_limiter)
                _filtered.add(name)
        return _limiter
