"""The listener's last telemetry export: what the global providers hold, within a deadline.

Example::

    if not flush_telemetry(5.0):
        logger.warning("telemetry not flushed in time")
"""

from __future__ import annotations

import logging
import threading

from opentelemetry import metrics, trace

__all__ = ["flush_telemetry"]

logger = logging.getLogger(__name__)


def flush_telemetry(timeout_seconds: float) -> bool:
    """Have the global tracer and meter providers export what they hold, within the timeout.

    Through the API only: a provider that can flush (the SDK's) is asked to, on a daemon thread,
    so a collector that does not answer cannot hold the caller (a draining process) past the
    timeout. True if everything was flushed in time (or there was nothing to flush).
    """
    providers = (trace.get_tracer_provider(), metrics.get_meter_provider())
    flushes = [getattr(provider, "force_flush", None) for provider in providers]
    calls = [flush for flush in flushes if callable(flush)]
    if not calls:
        return True
    millis = int(timeout_seconds * 1000)
    done = threading.Event()

    def run() -> None:
        for flush in calls:
            try:
                flush(millis)
            except Exception:  # telemetry never breaks the drain
                logger.debug("telemetry flush failed", exc_info=True)
        done.set()

    threading.Thread(target=run, name="sqsobs-telemetry-flush", daemon=True).start()
    return done.wait(timeout_seconds)
