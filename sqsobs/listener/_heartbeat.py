"""One heartbeat thread per listener: keeps every in-flight message invisible, in batches.

A message is tracked from the moment it is received until its handler returns. When any tracked
message gets within half a visibility timeout of becoming visible, the heartbeat extends it, and
every other message due soon with it, by ChangeMessageVisibilityBatch calls of at most 10
entries. A message is never held longer than ``visibility_secs + max_extend`` seconds in total
(nor SQS's 12 hours): past that its handler is logged and counted, and the message may come back.

A failed message is untracked when its handler returns; a successful one when the acker sends its
delete (so a delete waiting for its batch to fill cannot lose the message to an expired
timeout). Untracking waits for a heartbeat call in progress, so no message is ever extended after
its delete was sent.

Example::

    hb = Heartbeat(client=c, queue_url=url, telemetry=tel, visibility_secs=30, max_extend=900)
    hb.start()
    hb.track(messages)      # at receive
    hb.untrack(messages)    # when the handler failed, or the delete is sent
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqsobs.errors import SqsError
from sqsobs.limits import MAX_VISIBILITY_TIMEOUT_SECONDS
from sqsobs.listener._calls import change_visibility_batch, chunks
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
        self._call_lock = threading.Lock()
        self._stopping = False
        self._thread: threading.Thread | None = None

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

    def track(self, messages: Iterable[SqsMessage]) -> None:
        """Hold ``messages`` from their receive time (``received_at``)."""
        cap = float(MAX_VISIBILITY_TIMEOUT_SECONDS)
        with self._wake:
            was_empty = not self._held
            for message in messages:
                start = message.received_at or self._clock()
                self._held[message.receipt_handle] = _Held(
                    message.message_id,
                    start + self._visibility,
                    start + min(self._visibility + self._max_extend, cap),
                )
            if was_empty:
                self._wake.notify_all()

    def untrack(self, messages: Iterable[SqsMessage]) -> None:
        """Stop holding ``messages``; returns only once no call can extend them any more."""
        self.untrack_handles([message.receipt_handle for message in messages])

    def untrack_handles(self, handles: Iterable[str]) -> None:
        """Stop holding the messages with these receipt handles (see :meth:`untrack`)."""
        with self._call_lock, self._lock:
            for handle in handles:
                self._held.pop(handle, None)

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
        with self._call_lock:
            due = self._collect_due(self._clock())
            retry = False
            for batch in chunks(due):
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
        sent_at = self._clock()
        try:
            with self._telemetry.call_span(OP_HEARTBEAT, len(batch)) as span:
                outcome = change_visibility_batch(self._client, self._queue_url, batch)
                self._telemetry.call_result(span, OP_HEARTBEAT, outcome)
        except SqsError as error:
            kind = error_type(error)
            self._telemetry.heartbeats(len(batch), kind)
            logger.warning("heartbeat call on %s failed (%s); retrying", self._queue_url, kind)
            return True
        seconds = dict(batch)
        with self._lock:
            for handle in outcome.succeeded:
                held = self._held.get(handle)
                if held is not None:
                    held.visible_until = sent_at + seconds[handle]
            for handle, (_code, retryable) in outcome.failed.items():
                if not retryable:
                    # The handle is gone (deleted, expired, re-received): nothing left to hold.
                    self._held.pop(handle, None)
        self._telemetry.heartbeats(len(outcome.succeeded))
        for code, _ in outcome.failed.values():
            self._telemetry.heartbeats(1, code)
        if outcome.failed:
            logger.warning(
                "heartbeat could not extend %d message(s) on %s: %s",
                len(outcome.failed),
                self._queue_url,
                sorted({code for code, _ in outcome.failed.values()}),
            )
        return any(retryable for _, retryable in outcome.failed.values())
