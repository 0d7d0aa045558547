"""The monitoring dictionaries, built from the producer's buffers under their lock.

``get_metrics()`` keeps the keys and shape of dramatiq-sqs-batch's (``buffer_sizes``,
``failed_message_counts``, ``metrics`` with per-queue counters, ``max_buffer_size_per_queue``,
``max_retry_attempts``, ``background_thread_alive``) and adds ``in_flight_counts`` and ``closed``.

Example::

    metrics_snapshot(buffers, thread_alive=True)["metrics"]["messages_sent"]
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from sqsobs.producer._buffers import Buffers
from sqsobs.producer._lifecycle import ProducerState
from sqsobs.producer._stats import QueueStats

__all__ = ["metrics_snapshot", "queue_status"]


def _in_flight(buffers: Buffers, key: str) -> int:
    buffer = buffers.queues.get(key)
    if buffer is None:
        return 0
    return sum(len(batch) for batch in buffer.inflight.values())


def _wall(monotonic_time: float) -> float:
    """A monotonic timestamp as wall-clock seconds (only read on demand, never per message)."""
    return time.time() - (time.monotonic() - monotonic_time)


def metrics_snapshot(buffers: Buffers, *, thread_alive: bool) -> dict[str, Any]:
    """The producer-wide metrics dictionary (see the module docstring)."""
    with buffers.lock:
        keys = list(buffers.stats)
        counters: dict[str, dict[str, int]] = {name: {} for name in asdict(QueueStats())}
        for key in keys:
            for name, value in asdict(buffers.stats[key]).items():
                counters[name][key] = value
        return {
            "buffer_sizes": {key: len(buffer.pending) for key, buffer in buffers.queues.items()},
            "failed_message_counts": {
                key: buffer.retry_messages for key, buffer in buffers.queues.items()
            },
            "in_flight_counts": {key: _in_flight(buffers, key) for key in buffers.queues},
            "metrics": counters,
            "max_buffer_size_per_queue": buffers.settings.max_buffer_size_per_queue,
            "max_retry_attempts": buffers.settings.max_retry_attempts,
            "background_thread_alive": thread_alive,
            "closed": buffers.state is not ProducerState.RUNNING,
        }


def queue_status(buffers: Buffers, key: str) -> dict[str, Any]:
    """One queue's status; a queue never used reports zeros and its configured timers."""
    settings = buffers.settings
    with buffers.lock:
        buffer = buffers.queues.get(key)
        stats = buffers.stats.get(key) or QueueStats()
        status: dict[str, Any] = {
            "queue_name": key,
            "buffer_size": len(buffer.pending) if buffer else 0,
            "failed_message_count": buffer.retry_messages if buffer else 0,
            "in_flight_count": _in_flight(buffers, key),
        }
        status.update(asdict(stats))
        status.update(
            {
                "last_flush_time": buffer.last_flush_time if buffer else None,
                "last_message_time": _wall(buffer.newest) if buffer and buffer.newest else None,
                "batch_interval": buffer.batch_interval if buffer else settings.batch_interval(key),
                "idle_timeout": buffer.idle_timeout if buffer else settings.idle_timeout(key),
                "queue_url": buffer.info.url if buffer else None,
                "fifo": buffer.info.fifo if buffer else None,
                "max_message_bytes": buffer.info.max_message_bytes if buffer else None,
            }
        )
        return status
