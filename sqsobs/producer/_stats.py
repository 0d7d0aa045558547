"""Per-queue counters, as ``get_metrics()["metrics"]`` and ``get_queue_status()`` report them.

dramatiq-sqs-batch's counters keep their names (``messages_sent``, ``messages_failed``,
``batch_split_count``, ``oversized_message_dropped`` ...); the others are sqsobs's own.

Example::

    stats = QueueStats()
    stats.messages_sent += 10
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["QueueStats"]


@dataclass
class QueueStats:
    """One queue's counters since the producer was built. Guarded by the producer's lock."""

    messages_sent: int = 0
    messages_failed: int = 0
    buffer_overflow_count: int = 0
    retry_exhausted_count: int = 0
    batch_split_count: int = 0
    oversized_message_dropped: int = 0
    messages_retried: int = 0
    messages_rejected: int = 0
    messages_cleared: int = 0
    flush_count: int = 0
