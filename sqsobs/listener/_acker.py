"""Settles handled messages: deletes successes and releases others, in batches, on one thread.

Deletes are gathered into DeleteMessageBatch calls of up to 10 (waiting at most
``linger_seconds`` for a batch to fill, unless the caller says the batch is complete); every entry
of the answer is checked, and entries SQS failed on its side (or whole calls that failed
retryably) are sent again, up to ``max_attempts``. Releases (failed messages with a retry backoff,
messages not started at shutdown, filtered messages) are ChangeMessageVisibilityBatch calls.

The heartbeat (``guard``) lets go of each batch's messages right before it is sent. A release of a
message that an extension call on the wire still carries is held back until that call returns
(only that release; everything else goes on), so the release is the last change SQS applies. A
release asked for after the acker stopped (a long poll that returned late) is sent at once on the
caller's thread. A deleted message's S3 payload object (a large message) is deleted once SQS
confirmed the message's delete, never before (``after_delete``).

Example::

    acker = Acker(client=c, queue_url=url, telemetry=tel)
    acker.start()
    acker.delete(messages, complete=True)
    acker.release(unstarted, visibility_seconds=0)
    acker.stop(timeout_seconds=5)   # flushes everything first
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import SpanContext

from sqsobs._backoff import Backoff
from sqsobs._payloads._pointer import PayloadPointer
from sqsobs.errors import SqsError
from sqsobs.limits import MAX_BATCH_ENTRIES
from sqsobs.listener._calls import BatchOutcome, change_visibility_batch, chunks, delete_batch
from sqsobs.listener._heartbeat import Heartbeat
from sqsobs.listener._message import SqsMessage
from sqsobs.listener._telemetry import ListenerTelemetry, creation_context
from sqsobs.telemetry import OP_DELETE, OP_RELEASE, error_type

__all__ = ["Acker"]

logger = logging.getLogger(__name__)


#: Called with the S3 payloads of messages SQS confirmed deleted, and their creation contexts.
AfterDelete = Callable[[list[tuple[PayloadPointer, SpanContext | None]]], None]
#: Before resending a whole failed call: full jitter up to 0.1 s * 2**(attempt-1), at most 1 s.
CALL_BACKOFF = Backoff(base_seconds=0.1, max_seconds=1.0)
#: How often held-back releases are looked at again while an extension call is on the wire.
_HELD_BACK_CHECK_SECONDS = 0.02


@dataclass
class _Item:
    handle: str
    message_id: str
    visibility: int = -1  # -1: delete; otherwise the visibility timeout to set
    attempts: int = 0
    creation: SpanContext | None = None  # the producer's context, linked from the settle span
    pointer: PayloadPointer | None = None  # a large message's S3 payload


class Acker:
    """Batches DeleteMessageBatch / ChangeMessageVisibilityBatch calls on its own thread."""

    def __init__(
        self,
        *,
        client: Any,
        queue_url: str,
        telemetry: ListenerTelemetry,
        linger_seconds: float = 0.05,
        max_attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        guard: Heartbeat | None = None,
        after_delete: AfterDelete | None = None,
    ) -> None:
        self._client = client
        self._queue_url = queue_url
        self._telemetry = telemetry
        self._linger = linger_seconds
        self._max_attempts = max_attempts
        self._sleep = sleep
        # The heartbeat lets go of each batch's messages right before it is sent (held while
        # waiting for the batch to fill, so a lingering delete cannot lose its message).
        self._guard = guard
        # Given the S3 payloads of messages SQS confirmed deleted (and their creation contexts).
        self._after_delete = after_delete
        self._deletes: list[_Item] = []
        self._releases: list[_Item] = []
        self._held_back: list[_Item] = []  # releases waiting for an extension on the wire
        self._closed = False  # the thread has ended: releases are sent by their caller
        self._urgent = False
        self._oldest = 0.0
        self._busy = False
        self._stopping = False
        # Workers take the plain lock with `with`, never Condition.__enter__: that is Python code,
        # and an exception raised into a worker from outside (PyThreadState_SetAsyncExc) can land
        # as it returns with the lock taken and the `with` not entered, leaving the lock held
        # for good (the acker, every worker's settle and stop() would wait on it).
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    @property
    def thread(self) -> threading.Thread | None:
        """The thread, once started."""
        return self._thread

    def start(self, name: str = "sqsobs-acker") -> None:
        """Start the acker thread."""
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def delete(self, messages: Iterable[SqsMessage], *, complete: bool = False) -> None:
        """Queue ``messages`` for deletion; ``complete`` sends without waiting for more."""
        items = [
            _Item(
                m.receipt_handle,
                m.message_id,
                creation=creation_context(m),
                pointer=m.payload_pointer,
            )
            for m in messages
        ]
        if not items:
            return
        with self._lock:
            if not self._deletes:
                self._oldest = time.monotonic()
            self._deletes.extend(items)
            self._urgent |= complete
            self._cond.notify_all()

    def release(self, messages: Iterable[SqsMessage], *, visibility_seconds: int) -> None:
        """Queue ``messages`` to become visible again in ``visibility_seconds``."""
        items = [
            _Item(m.receipt_handle, m.message_id, visibility_seconds, creation=creation_context(m))
            for m in messages
        ]
        if not items:
            return
        with self._lock:
            if not self._closed:
                self._releases.extend(items)
                self._cond.notify_all()
                return
        for item in items:
            item.attempts = self._max_attempts - 1  # one attempt: no thread is left to retry
        for batch in chunks(items):
            self._send(list(batch), OP_RELEASE)

    def flush(self, timeout_seconds: float | None = None) -> bool:
        """Wait until everything queued has been sent; return False on timeout."""
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        with self._cond:
            self._urgent = True
            self._cond.notify_all()
            while self._deletes or self._releases or self._held_back or self._busy:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def stop(self, timeout_seconds: float | None = None) -> bool:
        """Flush, then stop the thread, within ``timeout_seconds`` in all.

        Returns False if the flush did not finish in time (the thread goes on, as a daemon).
        """
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        flushed = self.flush(timeout_seconds)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return flushed

    def _run(self) -> None:
        while True:
            batch, operation = self._next_batch()
            if operation is None:
                return
            try:
                self._send(batch, operation)
            except Exception:  # never lose the thread; the messages come back on their own
                logger.exception("settling %d message(s) on %s failed", len(batch), self._queue_url)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _next_batch(self) -> tuple[list[_Item], str | None]:
        with self._cond:
            while True:
                if self._held_back:
                    self._resume_held_back()
                if self._releases:
                    return self._take(self._releases), OP_RELEASE
                if self._deletes:
                    if self._ready_to_delete():
                        return self._take(self._deletes), OP_DELETE
                    continue
                if self._stopping and not self._held_back:
                    self._closed = True
                    return [], None
                self._urgent = False
                self._cond.wait(_HELD_BACK_CHECK_SECONDS if self._held_back else None)

    def _resume_held_back(self) -> None:
        """Queue again the held-back releases whose extension call has returned (lock held)."""
        assert self._guard is not None
        busy = self._guard.extending([item.handle for item in self._held_back])
        ready = [item for item in self._held_back if item.handle not in busy]
        if ready:
            self._held_back = [item for item in self._held_back if item.handle in busy]
            self._releases[:0] = ready

    def _ready_to_delete(self) -> bool:
        """True when a delete batch should go now; else waits (lock held) up to the linger."""
        if len(self._deletes) >= MAX_BATCH_ENTRIES or self._urgent or self._stopping:
            return True
        remaining = self._oldest + self._linger - time.monotonic()
        if remaining <= 0:
            return True
        self._cond.wait(remaining)
        return False

    def _take(self, items: list[_Item]) -> list[_Item]:
        batch = items[:MAX_BATCH_ENTRIES]
        del items[:MAX_BATCH_ENTRIES]
        # What is left waited as long as the oldest entry taken: it goes without a new linger.
        self._oldest = 0.0 if items is self._deletes else self._oldest
        if not self._deletes and not self._releases:
            self._urgent = False
        self._busy = True
        return batch

    def _send(self, batch: list[_Item], operation: str) -> None:
        if self._guard is not None:
            busy = self._guard.untrack_handles([item.handle for item in batch])
            if busy and operation == OP_RELEASE and not self._closed:
                batch = self._hold_back(batch, busy)
                if not batch:
                    return
        try:
            links = ((item.creation, item.message_id) for item in batch)
            with self._telemetry.call_span(operation, len(batch), links) as span:
                outcome = self._call(batch, operation)
                self._telemetry.call_result(span, operation, outcome)
        except SqsError as error:
            self._whole_call_failed(batch, operation, error)
            return
        by_handle = {item.handle: item for item in batch}
        retry = [by_handle[h] for h, (_, retryable) in outcome.failed.items() if retryable]
        retry = [item for item in retry if item.attempts + 1 < self._max_attempts]
        self._record(operation, outcome, {item.handle for item in retry})
        if retry:
            self._requeue(retry, operation)
        if operation == OP_DELETE and self._after_delete is not None:
            self._payloads_deleted(by_handle, outcome.succeeded)

    def _payloads_deleted(self, by_handle: dict[str, _Item], succeeded: list[str]) -> None:
        """SQS confirmed these deletes: now their S3 payload objects may go."""
        assert self._after_delete is not None
        objects = []
        for handle in succeeded:
            item = by_handle[handle]
            if item.pointer is not None:
                objects.append((item.pointer, item.creation))
        if objects:
            self._after_delete(objects)

    def _hold_back(self, batch: list[_Item], busy: set[str]) -> list[_Item]:
        """Keep releases of messages being extended until that call returns; send the rest."""
        with self._cond:
            self._held_back.extend(item for item in batch if item.handle in busy)
        return [item for item in batch if item.handle not in busy]

    def _call(self, batch: list[_Item], operation: str) -> BatchOutcome:
        if operation == OP_DELETE:
            return delete_batch(self._client, self._queue_url, [i.handle for i in batch])
        entries = [(item.handle, item.visibility) for item in batch]
        return change_visibility_batch(self._client, self._queue_url, entries)

    def _record(self, operation: str, outcome: BatchOutcome, retried: set[str]) -> None:
        if operation == OP_DELETE:
            self._telemetry.deletes(len(outcome.succeeded))
            # Failed for good: refused, or retryable with no attempt left; one add per code.
            codes: dict[str, int] = {}
            for handle, (code, _) in outcome.failed.items():
                if handle not in retried:
                    codes[code] = codes.get(code, 0) + 1
            for code, count in codes.items():
                self._telemetry.deletes(count, code)
        if outcome.failed:
            logger.warning(
                "%s on %s: %d of %d entries failed (%s); %d will be retried",
                operation,
                self._queue_url,
                len(outcome.failed),
                len(outcome.succeeded) + len(outcome.failed),
                sorted({code for code, _ in outcome.failed.values()}),
                len(retried),
            )

    def _whole_call_failed(self, batch: list[_Item], operation: str, error: SqsError) -> None:
        kind = error_type(error)
        retry = [item for item in batch if item.attempts + 1 < self._max_attempts]
        if not error.retryable:
            retry = []
        lost = len(batch) - len(retry)
        if operation == OP_DELETE and lost:
            self._telemetry.deletes(lost, kind)
        logger.warning(
            "%s of %d message(s) on %s failed (%s); %s",
            operation,
            len(batch),
            self._queue_url,
            kind,
            "retrying" if retry else "they will come back after their visibility timeout",
        )
        if retry:
            self._sleep(CALL_BACKOFF.delay(batch[0].attempts + 1))
            self._requeue(retry, operation)

    def _requeue(self, items: list[_Item], operation: str) -> None:
        for item in items:
            item.attempts += 1
        with self._cond:
            target = self._deletes if operation == OP_DELETE else self._releases
            target[:0] = items
            self._urgent = True
            self._cond.notify_all()
