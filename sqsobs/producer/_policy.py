"""When a queue's buffer goes out: full (entries or bytes), its batch interval, its idle timeout,
or a flush asked for it. A FIFO queue waits while a request or a retry of it is pending.

Both sides ask here: ``send()`` learns whether the flusher must wake earlier than planned
(:func:`deadline_after_accept`), and the flusher learns what is due now (:func:`due_reason`).

Example::

    reason, look_again_at = due_reason(buffer, time.monotonic(), batch_size=10,
                                       max_batch_bytes=1_048_576)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sqsobs.producer._messages import FlushReason

if TYPE_CHECKING:
    from sqsobs.producer._queue_buffer import QueueBuffer

__all__ = ["NEVER", "deadline_after_accept", "due_reason"]

#: A deadline that never comes.
NEVER = math.inf


def deadline_after_accept(buffer: QueueBuffer, *, batch_size: int, max_batch_bytes: int) -> float:
    """When ``buffer`` is due after its newest message was added (NEVER: no earlier than before)."""
    if buffer.blocked():
        return NEVER
    pending = buffer.pending
    if buffer.pending_bytes > max_batch_bytes or len(pending) >= batch_size:
        return 0.0
    if len(pending) > 1:
        return NEVER  # later messages only move the first one's deadlines later
    deadline = pending[0].enqueued_at + buffer.batch_interval
    if buffer.idle_timeout > 0:
        deadline = min(deadline, pending[0].enqueued_at + buffer.idle_timeout)
    return deadline


def due_reason(
    buffer: QueueBuffer, now: float, *, batch_size: int, max_batch_bytes: int
) -> tuple[FlushReason | None, float]:
    """Why ``buffer`` should go out at ``now`` (or None), and when to look again."""
    pending = buffer.pending
    if not pending or buffer.blocked():
        return None, NEVER
    if buffer.flush_upto >= pending[0].seq:
        return buffer.flush_reason, now
    if len(pending) >= batch_size or buffer.pending_bytes > max_batch_bytes:
        return FlushReason.SIZE, now
    interval_at = pending[0].enqueued_at + buffer.batch_interval
    if now >= interval_at:
        return FlushReason.INTERVAL, now
    if buffer.idle_timeout > 0:
        idle_at = buffer.newest + buffer.idle_timeout
        if now >= idle_at:
            return FlushReason.IDLE, now
        return None, min(interval_at, idle_at)
    return None, interval_at
