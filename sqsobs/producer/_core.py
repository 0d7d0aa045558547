"""The producer's shared state and its rules, all under one lock that no network call holds.

Callers append to per-queue buffers (:meth:`ProducerCore.accept`); the flusher thread asks
:meth:`ProducerCore.collect` what should go out now and when to look again; pool threads report
each batch's fate (:meth:`ProducerCore.settle`, :meth:`ProducerCore.task_done`).

Example::

    core = ProducerCore(resolve_settings())
    with core.lock:
        work, wake_at = core.collect(time.monotonic())
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Span

from sqsobs.errors import BufferFull, ProducerClosed
from sqsobs.producer._messages import FlushReason, PendingMessage
from sqsobs.producer._packing import pack
from sqsobs.producer._queues import NEVER, QueueState, QueueStats, RetryGroup, due_reason
from sqsobs.producer._settings import ProducerSettings

__all__ = [
    "DEPTH_STALENESS_SECONDS",
    "DEPTH_STEP",
    "FlushJob",
    "FlushWork",
    "ProducerCore",
    "RetryWork",
]

#: Buffer depth is recorded by callers in steps of this many messages (a metric call per
#: message costs as much as the rest of send()); the flusher records the remainder.
DEPTH_STEP = 32
#: The longest a depth change waits for the flusher to record it.
DEPTH_STALENESS_SECONDS = 1.0
# flush_upto for close(): every sequence number, now and later.
_EVERYTHING = 2**63


def _size(message: PendingMessage) -> int:
    return message.size


@dataclass
class FlushWork:
    """Batches taken out of one queue's buffer by one flush."""

    state: QueueState
    reason: FlushReason
    batches: list[list[PendingMessage]]
    splits: int
    count: int
    payload_bytes: int
    packed_batches: int


@dataclass
class RetryWork:
    """One retry group whose backoff is over."""

    state: QueueState
    group: RetryGroup


@dataclass
class FlushJob:
    """A flush span that ends when the last of its batches has been settled."""

    span: Span
    remaining: int


class ProducerCore:
    """Buffers, counters and decisions of one producer."""

    def __init__(self, settings: ProducerSettings) -> None:
        self.settings = settings
        self.queues: dict[str, QueueState] = {}
        self.stats: dict[str, QueueStats] = {}
        self.seq = 0
        self.closing = False
        self.stopping = False
        self.next_wake = NEVER
        self.reset_sync()

    def reset_sync(self) -> None:
        """Fresh lock and conditions (at construction, and in a child after ``os.fork()``)."""
        self.lock = threading.Lock()
        self.wakeup = threading.Condition(self.lock)
        self.room = threading.Condition(self.lock)

    def forget_buffers(self) -> None:
        """Drop every buffered message: used in a forked child, where they are the parent's."""
        for state in self.queues.values():
            state.pending.clear()
            state.pending_bytes = 0
            state.retries.clear()
            state.retry_messages = 0
            state.inflight.clear()
            state.inflight_tasks = 0
            state.unresolved = 0
            state.waiters = 0
        self.closing = self.stopping = False
        self.next_wake = NEVER

    def stats_for(self, key: str) -> QueueStats:
        """The counters of ``key`` (created on first use). Call under the lock."""
        stats = self.stats.get(key)
        if stats is None:
            stats = self.stats[key] = QueueStats()
        return stats

    # --- callers ---------------------------------------------------------------------------

    def accept(self, state: QueueState, message: PendingMessage, wait_seconds: float) -> int:
        """Append ``message`` to its queue's buffer, waiting up to ``wait_seconds`` for room.

        Returns a buffer-depth delta for the caller to record (0 most of the time: depth is
        recorded in steps of :data:`DEPTH_STEP`, or by the flusher within a second).
        """
        settings = self.settings
        with self.lock:
            if self.closing:
                raise ProducerClosed("the producer is closed; it accepts no more messages")
            if state.unresolved >= settings.max_buffer_size_per_queue:
                self._wait_for_room(state, wait_seconds)
            self.seq += 1
            message.seq = self.seq
            message.entry["Id"] = str(self.seq)
            pending = state.pending
            pending.append(message)
            state.pending_bytes += message.size
            state.newest = message.enqueued_at
            state.unresolved += 1
            report = 0
            deadline = NEVER
            state.depth_unreported += 1
            if state.depth_unreported >= DEPTH_STEP:
                report, state.depth_unreported = state.depth_unreported, 0
            elif state.depth_unreported == 1:
                deadline = message.enqueued_at + DEPTH_STALENESS_SECONDS
            if not state.blocked():
                if (
                    state.pending_bytes > settings.max_batch_bytes
                    or len(pending) >= settings.batch_size
                ):
                    deadline = 0.0
                elif len(pending) == 1:
                    # Later messages only move these deadlines later.
                    deadline = min(deadline, message.enqueued_at + state.batch_interval)
                    if state.idle_timeout > 0:
                        deadline = min(deadline, message.enqueued_at + state.idle_timeout)
            if deadline < self.next_wake:
                self.next_wake = deadline
                self.wakeup.notify()
            return report

    def take_depth_reports(self) -> list[tuple[QueueState, int]]:
        """Buffer-depth deltas not yet recorded, per queue (zeroed). Call under the lock."""
        reports = []
        for state in self.queues.values():
            if state.depth_unreported:
                reports.append((state, state.depth_unreported))
                state.depth_unreported = 0
        return reports

    def _wait_for_room(self, state: QueueState, wait_seconds: float) -> None:
        limit = self.settings.max_buffer_size_per_queue
        state.stats.buffer_overflow_count += 1
        deadline = time.monotonic() + wait_seconds
        state.waiters += 1
        try:
            while state.unresolved >= limit:
                if self.closing:
                    raise ProducerClosed("the producer was closed while send() waited for room")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BufferFull(
                        f"the buffer of {state.key} held {state.unresolved} messages "
                        f"(max_buffer_size_per_queue={limit}) for {wait_seconds:g} s"
                    )
                self.room.wait(remaining)
        finally:
            state.waiters -= 1

    def request_flush(self, keys: list[str] | None, reason: FlushReason) -> list[Any]:
        """Mark what ``keys`` (None: every queue) buffer to go out now; return their futures."""
        futures: list[Any] = []
        with self.lock:
            upto = _EVERYTHING if reason is FlushReason.CLOSE else self.seq
            names = list(self.queues) if keys is None else keys
            for key in names:
                state = self.queues.get(key)
                if state is None:
                    continue
                state.flush_upto = upto
                state.flush_reason = reason
                futures.extend(state.futures())
            self.next_wake = 0.0
            self.wakeup.notify()
        return futures

    def take_all(self, state: QueueState) -> list[PendingMessage]:
        """Remove and return everything buffered or waiting to retry (not what is in flight)."""
        with self.lock:
            taken = list(state.pending)
            for group in state.retries:
                taken.extend(group.messages)
            state.pending.clear()
            state.pending_bytes = 0
            state.retries.clear()
            state.retry_messages = 0
            state.unresolved -= len(taken)
            if state.waiters:
                self.room.notify_all()
        return taken

    # --- the flusher -----------------------------------------------------------------------

    def collect(self, now: float) -> tuple[list[FlushWork | RetryWork], float]:
        """What must go out at ``now``, and when to look again. Call under the lock."""
        work: list[FlushWork | RetryWork] = []
        wake = NEVER
        settings = self.settings
        for state in self.queues.values():
            if state.retries:
                wake = min(wake, self._collect_retries(state, now, work))
            while True:
                reason, at = due_reason(
                    state, now, batch_size=settings.batch_size,
                    max_batch_bytes=settings.max_batch_bytes,
                )  # fmt: skip
                if reason is None:
                    wake = min(wake, at)
                    break
                flush = self._take(state, reason)
                if flush is None:
                    break
                work.append(flush)
        self.next_wake = wake
        return work, wake

    def _collect_retries(
        self, state: QueueState, now: float, work: list[FlushWork | RetryWork]
    ) -> float:
        retries = state.retries
        while retries and retries[0].due <= now:
            if state.info.fifo and state.inflight_tasks:
                return NEVER  # task_done() wakes the flusher
            group = retries.pop(0)
            state.retry_messages -= len(group.messages)
            state.inflight[id(group.messages)] = group.messages
            state.inflight_tasks += 1
            work.append(RetryWork(state, group))
            if state.info.fifo:
                return NEVER
        return retries[0].due if retries else NEVER

    def _take(self, state: QueueState, reason: FlushReason) -> FlushWork | None:
        settings = self.settings
        batches, splits = pack(
            state.pending, max_entries=settings.batch_size,
            max_bytes=settings.max_batch_bytes, size=_size,
        )  # fmt: skip
        packed = len(batches)
        if reason is FlushReason.SIZE and len(batches[-1]) < settings.batch_size:
            batches.pop()  # the partial tail waits for more messages or its timer
        if not batches:
            return None
        count = 0
        payload = 0
        for batch in batches:
            count += len(batch)
            for message in batch:
                payload += message.size
            state.inflight[id(batch)] = batch
        for _ in range(count):
            state.pending.popleft()
        state.pending_bytes -= payload
        state.inflight_tasks += 1 if state.info.fifo else len(batches)
        state.stats.flush_count += 1
        state.stats.batch_split_count += splits
        state.last_flush_time = time.time()
        return FlushWork(state, reason, batches, splits, count, payload, packed)

    # --- pool threads ----------------------------------------------------------------------

    def settle(
        self,
        state: QueueState,
        batch: list[PendingMessage],
        *,
        delivered: int,
        failed: int,
        exhausted: int,
        retry: RetryGroup | None,
    ) -> None:
        """Book one batch's results and schedule its retry group, if any."""
        with self.lock:
            state.inflight.pop(id(batch), None)
            resolved = delivered + failed
            state.unresolved -= resolved
            stats = state.stats
            stats.messages_sent += delivered
            stats.messages_failed += failed
            stats.retry_exhausted_count += exhausted
            if retry is not None:
                state.retries.append(retry)
                state.retries.sort(key=lambda group: group.due)
                state.retry_messages += len(retry.messages)
                stats.messages_retried += len(retry.messages)
                if retry.due < self.next_wake:
                    self.next_wake = retry.due
                    self.wakeup.notify()
            if resolved and state.waiters:
                self.room.notify_all()

    def task_done(
        self, state: QueueState, requeue: list[list[PendingMessage]], job: FlushJob | None
    ) -> bool:
        """A pool task finished; put unsent batches back first in line. True: end the job."""
        with self.lock:
            state.inflight_tasks -= 1
            moved: list[PendingMessage] = []
            for batch in requeue:
                state.inflight.pop(id(batch), None)
                moved.extend(batch)
            if moved:
                state.pending.extendleft(reversed(moved))
                state.pending_bytes += sum(m.size for m in moved)
            if state.info.fifo or moved:
                self.next_wake = 0.0
                self.wakeup.notify()
            if job is None:
                return False
            job.remaining -= 1
            return job.remaining == 0
