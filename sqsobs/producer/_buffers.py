"""The producer's shared state and its rules, all under one lock that no network call holds.

Callers append to per-queue buffers (:meth:`Buffers.accept`); the flusher thread asks
:meth:`Buffers.collect` what should go out now and when to look again; pool threads report each
batch's fate (:meth:`Buffers.settle`, :meth:`Buffers.task_done`). The producer's lifecycle state
lives here too, because ``send()`` must check it under the same lock as it buffers.

Example::

    buffers = Buffers(ProducerSettings.resolve())
    with buffers.lock:
        work, wake_at = buffers.collect(time.monotonic())
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from concurrent.futures import Future
from typing import Any

from sqsobs.errors import BufferFull, ProducerClosed
from sqsobs.producer._lifecycle import ProducerState
from sqsobs.producer._messages import FlushReason, PendingMessage
from sqsobs.producer._policy import NEVER, deadline_after_accept, due_reason
from sqsobs.producer._queue_buffer import QueueBuffer
from sqsobs.producer._resolve import QueueInfo
from sqsobs.producer._retry import RetryGroup
from sqsobs.producer._settings import ProducerSettings
from sqsobs.producer._stats import QueueStats
from sqsobs.producer._telemetry import QueueTelemetry
from sqsobs.producer._work import FlushJob, FlushWork, RetryWork

__all__ = ["Buffers"]

# flush_upto for close(): every sequence number, now and later.
_EVERYTHING = 2**63


class Buffers:
    """Every queue's buffer, the counters, the lifecycle state, and the decisions over them."""

    def __init__(self, settings: ProducerSettings) -> None:
        self.settings = settings
        self.queues: dict[str, QueueBuffer] = {}
        self.stats: dict[str, QueueStats] = {}
        self.seq = 0
        self.state = ProducerState.RUNNING
        self.next_wake = NEVER
        self.reset_sync()

    def reset_sync(self) -> None:
        """Fresh lock and conditions (at construction, and in a child after ``os.fork()``)."""
        self.lock = threading.Lock()
        #: The flusher waits here for its next deadline.
        self.wakeup = threading.Condition(self.lock)
        #: ``send()`` waits here for room in a full buffer.
        self.room = threading.Condition(self.lock)
        #: A second ``close()`` waits here for the first.
        self.state_changed = threading.Condition(self.lock)

    # --- lifecycle -------------------------------------------------------------------------

    def move(self, to: ProducerState, *, allowed: Collection[ProducerState]) -> bool:
        """Enter ``to`` if the state is one of ``allowed`` (True), else change nothing (False).

        The only place the state changes; it wakes everything that waits on it.
        """
        with self.lock:
            if self.state not in allowed:
                return False
            self.state = to
            self.wakeup.notify()
            self.room.notify_all()
            self.state_changed.notify_all()
            return True

    def wait_for(self, state: ProducerState, timeout_seconds: float | None) -> bool:
        """Wait up to ``timeout_seconds`` until the state is ``state``; True if it is."""
        with self.lock:
            return self.state_changed.wait_for(lambda: self.state is state, timeout_seconds)

    def forget_all(self) -> None:
        """Drop every buffered message: used in a forked child, where they are the parent's."""
        for buffer in self.queues.values():
            buffer.forget()
        self.next_wake = NEVER

    # --- callers ---------------------------------------------------------------------------

    def open_queue(self, key: str, info: QueueInfo, telemetry: QueueTelemetry) -> QueueBuffer:
        """The buffer of ``key``, made from ``info`` unless another thread made it first."""
        settings = self.settings
        with self.lock:
            buffer = self.queues.get(key)
            if buffer is None:
                buffer = self.queues[key] = QueueBuffer(
                    key=key,
                    info=info,
                    telemetry=telemetry,
                    batch_interval=settings.batch_interval(key, info.name),
                    idle_timeout=settings.idle_timeout(key, info.name),
                    stats=self.stats_for(key),
                )
            return buffer

    def stats_for(self, key: str) -> QueueStats:
        """The counters of ``key`` (created on first use). Call under the lock."""
        stats = self.stats.get(key)
        if stats is None:
            stats = self.stats[key] = QueueStats()
        return stats

    def accept(self, buffer: QueueBuffer, message: PendingMessage, wait_seconds: float) -> None:
        """Append ``message`` to its queue's buffer, waiting up to ``wait_seconds`` for room."""
        settings = self.settings
        with self.lock:
            if not self.state.accepts_messages:
                raise self.state.refusal()
            if buffer.unresolved >= settings.max_buffer_size_per_queue:
                self._wait_for_room(buffer, wait_seconds)
            self.seq += 1
            message.seq = self.seq
            message.entry["Id"] = str(self.seq)
            buffer.pending.append(message)
            buffer.pending_bytes += message.size
            buffer.newest = message.enqueued_at
            buffer.unresolved += 1
            deadline = deadline_after_accept(
                buffer, batch_size=settings.batch_size, max_batch_bytes=settings.max_batch_bytes
            )
            if deadline < self.next_wake:
                self.next_wake = deadline
                self.wakeup.notify()

    def _wait_for_room(self, buffer: QueueBuffer, wait_seconds: float) -> None:
        limit = self.settings.max_buffer_size_per_queue
        buffer.stats.buffer_overflow_count += 1
        deadline = time.monotonic() + wait_seconds
        buffer.waiters += 1
        try:
            # The state is checked on every wake-up, room or not: close() may have begun (or
            # stopped the flusher) while this caller waited, and then nothing would send it.
            while True:
                if not self.state.accepts_messages:
                    raise ProducerClosed("the producer was closed while send() waited for room")
                if buffer.unresolved < limit:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BufferFull(
                        f"the buffer of {buffer.key} held {buffer.unresolved} messages "
                        f"(max_buffer_size_per_queue={limit}) for {wait_seconds:g} s"
                    )
                self.room.wait(remaining)
        finally:
            buffer.waiters -= 1

    def depths(self) -> list[tuple[float, dict[str, Any]]]:
        """Each queue's buffered and retry-waiting messages, for the buffer-depth gauge.

        Nothing once the producer is closed, so its series stop.
        """
        if self.state is ProducerState.CLOSED:
            return []
        with self.lock:
            return [
                (len(buffer.pending) + buffer.retry_messages, buffer.telemetry.base)
                for buffer in self.queues.values()
            ]

    def request_flush(self, keys: list[str] | None, reason: FlushReason) -> list[Future[str]]:
        """Mark what ``keys`` (None: every queue) buffer to go out now; return their futures."""
        futures: list[Future[str]] = []
        with self.lock:
            upto = _EVERYTHING if reason is FlushReason.CLOSE else self.seq
            for key in list(self.queues) if keys is None else keys:
                buffer = self.queues.get(key)
                if buffer is None:
                    continue
                buffer.flush_upto = upto
                buffer.flush_reason = reason
                futures.extend(buffer.futures())
            self.next_wake = 0.0
            self.wakeup.notify()
        return futures

    def take_unsent(self, buffer: QueueBuffer) -> list[PendingMessage]:
        """Remove and return what is buffered or waiting to retry (not what is in flight)."""
        with self.lock:
            taken = buffer.take_unsent()
            if buffer.waiters:
                self.room.notify_all()
        return taken

    # --- the flusher -----------------------------------------------------------------------

    def collect(self, now: float) -> tuple[list[FlushWork | RetryWork], float]:
        """What must go out at ``now``, and when to look again. Call under the lock."""
        work: list[FlushWork | RetryWork] = []
        wake = NEVER
        settings = self.settings
        for buffer in self.queues.values():
            if buffer.retries:
                groups, retry_at = buffer.take_due_retries(now)
                work.extend(RetryWork(buffer, group) for group in groups)
                wake = min(wake, retry_at)
            while True:
                reason, at = due_reason(
                    buffer,
                    now,
                    batch_size=settings.batch_size,
                    max_batch_bytes=settings.max_batch_bytes,
                )
                if reason is None:
                    wake = min(wake, at)
                    break
                flush = buffer.take_batches(
                    reason, batch_size=settings.batch_size, max_batch_bytes=settings.max_batch_bytes
                )
                if flush is None:
                    break
                work.append(flush)
        self.next_wake = wake
        return work, wake

    # --- pool threads ----------------------------------------------------------------------

    def settle(
        self,
        buffer: QueueBuffer,
        batch: list[PendingMessage],
        *,
        delivered: int,
        failed: int,
        exhausted: int,
        retry: RetryGroup | None,
    ) -> None:
        """Book one batch's results and schedule its retry group, if any."""
        with self.lock:
            buffer.inflight.pop(id(batch), None)
            resolved = delivered + failed
            buffer.unresolved -= resolved
            stats = buffer.stats
            stats.messages_sent += delivered
            stats.messages_failed += failed
            stats.retry_exhausted_count += exhausted
            if retry is not None:
                buffer.retries.append(retry)
                buffer.retries.sort(key=lambda group: group.due)
                buffer.retry_messages += len(retry.messages)
                stats.messages_retried += len(retry.messages)
                if retry.due < self.next_wake:
                    self.next_wake = retry.due
                    self.wakeup.notify()
            if resolved and buffer.waiters:
                self.room.notify_all()

    def task_done(
        self,
        buffer: QueueBuffer,
        unsent: list[list[PendingMessage]],
        job: FlushJob | None,
        *,
        tasks: int = 1,
        abandoned: bool = False,
    ) -> bool:
        """``tasks`` pool tasks ended; True: end the job.

        Their ``unsent`` batches go back first in line, or, when ``abandoned`` (no pool thread
        ever took them; the caller fails them), leave the books as failed. Either way a FIFO
        queue may send again and the flusher looks at the buffers at once.
        """
        with self.lock:
            buffer.inflight_tasks -= tasks
            moved: list[PendingMessage] = []
            for batch in unsent:
                buffer.inflight.pop(id(batch), None)
                moved.extend(batch)
            if abandoned:
                buffer.unresolved -= len(moved)
                buffer.stats.messages_failed += len(moved)
                if buffer.waiters:
                    self.room.notify_all()
            elif moved:
                buffer.pending.extendleft(reversed(moved))
                buffer.pending_bytes += sum(m.size for m in moved)
            if buffer.info.fifo or moved:
                self.next_wake = 0.0
                self.wakeup.notify()
            if job is None:
                return False
            job.remaining -= tasks
            return job.remaining == 0
