"""One heartbeat thread per listener: keeps every in-flight message invisible, in batches.

A message is tracked from the moment it is received until it is settled. When any tracked message
gets within half a visibility timeout of becoming visible, the heartbeat extends it, and every
other message due soon with it, by ChangeMessageVisibilityBatch calls of at most 10 entries. A
message is never held longer than ``visibility_secs + max_extend`` seconds in total (nor SQS's 12
hours): past that its handler is logged and counted, and the message may come back.

A failed message is untracked when its handler returns; a successful one when the acker sends its
delete (so a delete waiting for its batch to fill cannot lose the message to an expired timeout).
No lock is held across a call: untracking never waits, so a stalled call holds back neither
deletes nor workers. Instead :meth:`Heartbeat.untrack_handles` says which of the messages an
extension on the wire still carries. A delete may go at once (whichever SQS applies last, the
message ends deleted: the extension of a deleted message fails, and is not counted as a failure);
a release (a visibility change of the acker's) waits for that one call, so that it is the last
change SQS applies.

Example::

    hb = Heartbeat(client=c, queue_url=url, telemetry=tel, visibility_secs=30, max_extend=900)
    hb.start()
    hb.track(messages)      # at receive
    hb.untrack(messages)    # when the handler failed, or the delete is sent
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqsobs.errors import SqsError
from sqsobs.limits import MAX_VISIBILITY_TIMEOUT_SECONDS
from sqsobs.listener._calls import BatchOutcome, change_visibility_batch, chunks
from sqsobs.listener._message import SqsMessage
from sqsobs.listener._telemetry import ListenerTelemetry
from sqsobs.telemetry import OP_HEARTBEAT, error_type

__all__ = ["Heartbeat"]

logger = logging.getLogger(__name__)

#: After a failed call, try again this soon (seconds), as long as the messages are still held.
_RETRY_SECONDS = 0.5


@dataclass
class _Held:
    message_id: str
    visible_until: float
    hold_until: float


class Heartbeat:
    """Extends the visibility of every tracked message before it expires."""

    def __init__(
        self,
        *,
        client: Any,
        queue_url: str,
        telemetry: ListenerTelemetry,
        visibility_secs: int,
        max_extend: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._queue_url = queue_url
        self._telemetry = telemetry
        self._visibility = visibility_secs
        self._max_extend = max_extend
        self._lead = visibility_secs / 2.0
        self._clock = clock
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        # Receipt handles in the call on the wire (read by untrack_handles, never waited for).
        self._extending: set[str] = set()
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def thread(self) -> threading.Thread | None:
        """The thread, once started."""
        return self._thread

    def start(self, name: str = "sqsobs-heartbeat") -> None:
        """Start the heartbeat thread."""
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def stop(self, timeout_seconds: float | None = None) -> None:
        """Stop extending; messages still tracked are left to expire."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_seconds)

    def track(self, messages: Iterable[SqsMessage], visibility_seconds: int | None = None) -> None:
        """Hold ``messages`` from their receive time (``received_at``).

        ``visibility_seconds``: the timeout their receive set, if not ``visibility_secs``.
        """
        cap = float(MAX_VISIBILITY_TIMEOUT_SECONDS)
        seconds = self._visibility if visibility_seconds is None else visibility_seconds
        with self._wake:
            was_empty = not self._held
            for message in messages:
                start = message.received_at or self._clock()
                self._held[message.receipt_handle] = _Held(
                    message.message_id,
                    start + seconds,
                    start + min(self._visibility + self._max_extend, cap),
                )
            if was_empty or seconds < self._visibility:
                self._wake.notify_all()  # due sooner than whatever the thread waits for

    def untrack(self, messages: Iterable[SqsMessage]) -> None:
        """Stop holding ``messages`` (no new extension starts for them; never waits)."""
        self.untrack_handles([message.receipt_handle for message in messages])

    def untrack_handles(self, handles: Iterable[str]) -> set[str]:
        """Stop holding these messages; return those an extension on the wire still carries."""
        with self._lock:
            busy: set[str] = set()
            for handle in handles:
                self._held.pop(handle, None)
                if handle in self._extending:
                    busy.add(handle)
            return busy

    def extending(self, handles: Iterable[str]) -> set[str]:
        """Which of ``handles`` an extension on the wire carries."""
        with self._lock:
            return {handle for handle in handles if handle in self._extending}

    def held(self) -> int:
        """How many messages are tracked."""
        with self._lock:
            return len(self._held)

    def _run(self) -> None:
        while True:
            try:
                delay = self.beat()
            except Exception:  # the heartbeat must outlive any surprise
                logger.exception("heartbeat for %s failed; retrying", self._queue_url)
                delay = _RETRY_SECONDS
            with self._wake:
                if self._stopping:
                    return
                self._wake.wait(delay)
                if self._stopping:
                    return

    def beat(self) -> float:
        """Extend every message that is due now; return seconds until the next one is due."""
        retry = False
        for batch in chunks(self._collect_due(self._clock())):
            retry |= self._extend(batch)
        with self._lock:
            if not self._held:
                return 3600.0
            now = self._clock()
            next_due = min(h.visible_until for h in self._held.values()) - self._lead
        wait = max(0.0, next_due - now)
        if not retry:
            return wait
        # Try again soon, but never in a hot loop: an overdue message would make ``wait`` 0.
        return min(max(wait, min(_RETRY_SECONDS, self._lead / 4)), _RETRY_SECONDS)

    def _collect_due(self, now: float) -> list[tuple[str, int]]:
        """(handle, seconds) for every message to extend now; drop those past max_extend."""
        due: list[tuple[str, int]] = []
        exceeded: list[str] = []
        # Messages due within the next half-lead ride along, so calls carry more entries.
        horizon = now + self._lead * 1.5
        with self._lock:
            for handle, held in self._held.items():
                if held.visible_until > horizon:
                    continue
                seconds = math.floor(min(self._visibility, held.hold_until - now))
                if held.hold_until - held.visible_until < 1 or seconds < 1:
                    exceeded.append(handle)
                else:
                    due.append((handle, seconds))
            for handle in exceeded:
                held = self._held.pop(handle)
                logger.warning(
                    "handler for message %s on %s outlived max_extend (%s s); "
                    "the message becomes visible again",
                    held.message_id,
                    self._telemetry.queue,
                    self._max_extend,
                )
        if exceeded:
            self._telemetry.max_extend_exceeded(len(exceeded))
        return due

    def _extend(self, batch: Sequence[tuple[str, int]]) -> bool:
        """One ChangeMessageVisibilityBatch; return True if it should be retried soon."""
        with self._lock:
            # Messages settled since they were found due are not extended any more.
            batch = [(handle, seconds) for handle, seconds in batch if handle in self._held]
            handles = [handle for handle, _ in batch]
            self._extending.update(handles)
        if not batch:
            return False
        try:
            return self._call(batch)
        finally:
            with self._lock:
                self._extending.difference_update(handles)

    def _settle_outcome(
        self, outcome: BatchOutcome, sent_at: float, seconds: dict[str, int]
    ) -> BatchOutcome:
        """Book the answer; return it without the entries of messages settled during the call.

        Those failed because they were deleted or released meanwhile (the acker never waits for
        a heartbeat call): not a failure of the heartbeat, neither on its span nor counted.
        """
        with self._lock:
            for handle in outcome.succeeded:
                held = self._held.get(handle)
                if held is not None:
                    held.visible_until = sent_at + seconds[handle]
            failed = {h: f for h, f in outcome.failed.items() if h in self._held}
            for handle, (_code, retryable) in failed.items():
                if not retryable:
                    # The handle is gone (deleted, expired, re-received): nothing left to hold.
                    self._held.pop(handle, None)
        return dataclasses.replace(outcome, failed=failed)

    def _call(self, batch: list[tuple[str, int]]) -> bool:
        sent_at = self._clock()
        try:
            with self._telemetry.call_span(OP_HEARTBEAT, len(batch)) as span:
                outcome = change_visibility_batch(self._client, self._queue_url, batch)
                outcome = self._settle_outcome(outcome, sent_at, dict(batch))
                self._telemetry.call_result(span, OP_HEARTBEAT, outcome)
        except SqsError as error:
            kind = error_type(error)
            self._telemetry.heartbeats(len(batch), kind)
            logger.warning("heartbeat call on %s failed (%s); retrying", self._queue_url, kind)
            return True
        failed = outcome.failed
        self._telemetry.heartbeats(len(outcome.succeeded))
        for code, _ in failed.values():
            self._telemetry.heartbeats(1, code)
        if failed:
            logger.warning(
                "heartbeat could not extend %d message(s) on %s: %s",
                len(failed),
                self._queue_url,
                sorted({code for code, _ in failed.values()}),
            )
        return any(retryable for _, retryable in failed.values())
