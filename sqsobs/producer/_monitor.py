"""The seed's monitoring dictionaries, built from the producer's state under its lock.

``get_metrics()`` keeps the seed's keys and shape (``buffer_sizes``, ``failed_message_counts``,
``metrics`` with per-queue counters, ``max_buffer_size_per_queue``, ``max_retry_attempts``,
``background_thread_alive``) and adds ``in_flight_counts`` and ``closed``.

Example::

    metrics_snapshot(core, thread_alive=True)["metrics"]["messages_sent"]
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from sqsobs.producer._core import ProducerCore
from sqsobs.producer._queues import QueueStats

__all__ = ["metrics_snapshot", "queue_status"]


def _in_flight(core: ProducerCore, key: str) -> int:
    state = core.queues.get(key)
    if state is None:
        return 0
    return sum(len(batch) for batch in state.inflight.values())


def _wall(monotonic_time: float) -> float:
    """A monotonic timestamp as wall-clock seconds (only read on demand, never per message)."""
    return time.time() - (time.monotonic() - monotonic_time)


def metrics_snapshot(core: ProducerCore, *, thread_alive: bool) -> dict[str, Any]:
    """The producer-wide metrics dictionary (see the module docstring)."""
    with core.lock:
        keys = list(core.stats)
        counters: dict[str, dict[str, int]] = {name: {} for name in asdict(QueueStats())}
        for key in keys:
            for name, value in asdict(core.stats[key]).items():
                counters[name][key] = value
        return {
            "buffer_sizes": {key: len(state.pending) for key, state in core.queues.items()},
            "failed_message_counts": {
                key: state.retry_messages for key, state in core.queues.items()
            },
            "in_flight_counts": {key: _in_flight(core, key) for key in core.queues},
            "metrics": counters,
            "max_buffer_size_per_queue": core.settings.max_buffer_size_per_queue,
            "max_retry_attempts": core.settings.max_retry_attempts,
            "background_thread_alive": thread_alive,
            "closed": core.closing,
        }


def queue_status(core: ProducerCore, key: str) -> dict[str, Any]:
    """One queue's status; a queue never used reports zeros and its configured timers."""
    settings = core.settings
    with core.lock:
        state = core.queues.get(key)
        stats = core.stats.get(key) or QueueStats()
        status: dict[str, Any] = {
            "queue_name": key,
            "buffer_size": len(state.pending) if state else 0,
            "failed_message_count": state.retry_messages if state else 0,
            "in_flight_count": _in_flight(core, key),
        }
        status.update(asdict(stats))
        status.update(
            {
                "last_flush_time": state.last_flush_time if state else None,
                "last_message_time": _wall(state.newest) if state and state.newest else None,
                "batch_interval": state.batch_interval if state else settings.batch_interval(key),
                "idle_timeout": state.idle_timeout if state else settings.idle_timeout(key),
                "queue_url": state.info.url if state else None,
                "fifo": state.info.fifo if state else None,
                "max_message_bytes": state.info.max_message_bytes if state else None,
            }
        )
        return status
