"""One queue's buffer: what waits to go out, what waits to retry, what is in flight.

Every field is guarded by the producer's lock (:attr:`Buffers.lock
<sqsobs.producer._buffers.Buffers.lock>`); nothing here takes it.

Example::

    buffer = QueueBuffer(key="orders", info=info, telemetry=telemetry, batch_interval=1.0,
                         idle_timeout=0.1, stats=QueueStats())
    buffer.futures()   # every message not yet resolved
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field

from sqsobs.producer._messages import FlushReason, PendingMessage
from sqsobs.producer._packing import pack
from sqsobs.producer._policy import NEVER
from sqsobs.producer._resolve import QueueInfo
from sqsobs.producer._retry import RetryGroup
from sqsobs.producer._stats import QueueStats
from sqsobs.producer._telemetry import QueueTelemetry
from sqsobs.producer._work import FlushWork

__all__ = ["QueueBuffer"]


def _size(message: PendingMessage) -> int:
    return message.size


@dataclass
class QueueBuffer:
    """One queue's messages and bookkeeping, keyed by what ``send()`` was given."""

    key: str
    info: QueueInfo
    telemetry: QueueTelemetry
    batch_interval: float
    idle_timeout: float
    stats: QueueStats
    pending: deque[PendingMessage] = field(default_factory=deque)
    pending_bytes: int = 0
    #: When the newest message was accepted (``time.monotonic()``).
    newest: float = 0.0
    #: Retry groups in the order they fall due.
    retries: list[RetryGroup] = field(default_factory=list)
    retry_messages: int = 0
    #: Batches handed to the pool, by ``id()`` of the batch list.
    inflight: dict[int, list[PendingMessage]] = field(default_factory=dict)
    inflight_tasks: int = 0
    #: Accepted and not yet resolved: buffered, in flight or waiting to retry.
    unresolved: int = 0
    #: Messages up to this sequence number go out now, for ``flush_reason``.
    flush_upto: int = 0
    flush_reason: FlushReason = FlushReason.MANUAL
    #: ``send()`` calls waiting for room.
    waiters: int = 0
    last_flush_time: float | None = None

    def futures(self) -> list[Future[str]]:
        """Futures of every message not yet resolved: buffered, waiting to retry, in flight."""
        found = [m.future for m in self.pending]
        for group in self.retries:
            found.extend(m.future for m in group.messages)
        for batch in self.inflight.values():
            found.extend(m.future for m in batch)
        return found

    def blocked(self) -> bool:
        """A FIFO queue sends one request at a time and nothing new while a retry waits."""
        return self.info.fifo and (self.inflight_tasks > 0 or bool(self.retries))

    def take_unsent(self) -> list[PendingMessage]:
        """Remove and return what is buffered or waiting to retry (not what is in flight)."""
        taken = list(self.pending)
        for group in self.retries:
            taken.extend(group.messages)
        self.pending.clear()
        self.pending_bytes = 0
        self.retries.clear()
        self.retry_messages = 0
        self.unresolved -= len(taken)
        return taken

    def forget(self) -> None:
        """Drop every message without resolving it: in a forked child they are the parent's."""
        self.take_unsent()
        self.inflight.clear()
        self.inflight_tasks = 0
        self.unresolved = 0
        self.waiters = 0

    def take_batches(
        self, reason: FlushReason, *, batch_size: int, max_batch_bytes: int
    ) -> FlushWork | None:
        """Pack the buffer into requests and move them in flight (None: nothing to send yet)."""
        packing_from = time.time_ns()
        batches, splits = pack(
            self.pending, max_entries=batch_size, max_bytes=max_batch_bytes, size=_size
        )
        packed = len(batches)
        if reason is FlushReason.SIZE and len(batches[-1]) < batch_size:
            batches.pop()  # the partial tail waits for more messages or its timer
        if not batches:
            return None
        count = 0
        payload = 0
        for batch in batches:
            count += len(batch)
            for message in batch:
                payload += message.size
            self.inflight[id(batch)] = batch
        for _ in range(count):
            self.pending.popleft()
        self.pending_bytes -= payload
        self.inflight_tasks += 1 if self.info.fifo else len(batches)
        self.stats.flush_count += 1
        self.stats.batch_split_count += splits
        self.last_flush_time = time.time()
        packed_ns = (packing_from, time.time_ns())
        return FlushWork(self, reason, batches, splits, count, payload, packed, packed_ns)

    def take_due_retries(self, now: float) -> tuple[list[RetryGroup], float]:
        """Retry groups due at ``now``, moved in flight, and when the next one falls due."""
        taken: list[RetryGroup] = []
        retries = self.retries
        while retries and retries[0].due <= now:
            if self.info.fifo and self.inflight_tasks:
                return taken, NEVER  # the end of the request in flight wakes the flusher
            group = retries.pop(0)
            self.retry_messages -= len(group.messages)
            self.inflight[id(group.messages)] = group.messages
            self.inflight_tasks += 1
            taken.append(group)
            if self.info.fifo:
                return taken, NEVER
        return taken, retries[0].due if retries else NEVER
