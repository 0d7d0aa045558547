"""One in-memory queue and its messages, with SQS's rules: the state behind :class:`FakeSQS`.

A message is *delayed* until its ``DelaySeconds`` pass, *visible* when it may be received, and
*in flight* from a receive until its visibility timeout runs out (or is changed, or it is
deleted). Every receive counts (``ApproximateReceiveCount``) and issues a new receipt handle;
a delete needs the newest one (an older handle is accepted and deletes nothing, as SQS may do).
A FIFO queue does not deliver a group's messages while one of that group is in flight, and drops
a message whose deduplication id it saw in the last 5 minutes. With a ``RedrivePolicy``, a
message received ``maxReceiveCount`` times goes to the dead-letter queue at its next receive.
Every method runs under :class:`FakeSQS`'s lock and takes the time from it.

Example::

    queue = StoredQueue("orders", url, arn, attributes={})
    queue.add(message, now)
    queue.take(count=10, visibility_seconds=30, now=now, redrive=lambda m: False)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqsobs.testing._fake_wire import SqsFault

__all__ = ["DEDUPLICATION_SECONDS", "DEFAULT_ATTRIBUTES", "StoredMessage", "StoredQueue"]

#: How long a FIFO queue remembers a deduplication id.
DEDUPLICATION_SECONDS = 300.0

#: A new queue's attributes, as SQS sets them.
DEFAULT_ATTRIBUTES = {
    "DelaySeconds": "0",
    "MaximumMessageSize": "1048576",
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
}


@dataclass(eq=False)
class StoredMessage:
    """One message as the queue holds it."""

    message_id: str
    number: int  # global sequence: receipt handles and FIFO sequence numbers derive from it
    body: str
    attributes: dict[str, dict[str, Any]]
    system_attributes: dict[str, dict[str, Any]]
    sent_at: float  # on the fake clock
    sent_epoch_ms: int
    group_id: str | None = None
    deduplication_id: str | None = None
    sequence_number: str | None = None  # FIFO queues only
    visible_at: float = 0.0  # on the fake clock: end of its delay or of its visibility timeout
    receive_count: int = 0
    first_receive_epoch_ms: int | None = None
    receipt_handle: str | None = None  # the newest
    dead_letter_source_arn: str | None = None

    def in_flight(self, now: float) -> bool:
        """Received, and its visibility timeout still runs."""
        return self.receive_count > 0 and self.visible_at > now

    def delayed(self, now: float) -> bool:
        """Not yet received and its delay still runs."""
        return self.receive_count == 0 and self.visible_at > now

    def mark_received(self, visibility_seconds: float, now: float, epoch_ms: int) -> str:
        """Count a receive, start its visibility timeout; return the new receipt handle."""
        self.receive_count += 1
        if self.first_receive_epoch_ms is None:
            self.first_receive_epoch_ms = epoch_ms
        self.visible_at = now + visibility_seconds
        suffix = "" if self.receive_count == 1 else f"-{self.receive_count}"
        self.receipt_handle = f"fake-rh-{self.number}{suffix}"
        return self.receipt_handle


@dataclass(eq=False)
class StoredQueue:
    """A queue: attributes, messages in send order, FIFO deduplication memory, counters."""

    name: str
    url: str
    arn: str
    attributes: dict[str, str]
    created_epoch_seconds: int = 0
    messages: dict[str, StoredMessage] = field(default_factory=dict)
    #: Every message sent since the queue was created or purged, in order (deleted ones too).
    sent: list[StoredMessage] = field(default_factory=list)
    deleted_count: int = 0
    _deduplication: dict[str, tuple[float, str]] = field(default_factory=dict)

    @property
    def fifo(self) -> bool:
        """True for a FIFO queue."""
        return self.attributes.get("FifoQueue") == "true"

    def number(self, name: str) -> int:
        """An integer attribute (``VisibilityTimeout``, ``DelaySeconds`` ...)."""
        return int(self.attributes.get(name, DEFAULT_ATTRIBUTES.get(name, "0")))

    def redrive_policy(self) -> tuple[str, int] | None:
        """(dead-letter queue ARN, maxReceiveCount) of its RedrivePolicy, if it has one."""
        raw = self.attributes.get("RedrivePolicy")
        if not raw:
            return None
        policy = json.loads(raw)
        return str(policy["deadLetterTargetArn"]), int(policy["maxReceiveCount"])

    # --- sending -----------------------------------------------------------------------------
    def deduplication_id(self, body: str, given: str | None) -> str | None:
        """The id a FIFO queue deduplicates on; raises if it has none to use."""
        if not self.fifo:
            return given
        if given is not None:
            return given
        if self.attributes.get("ContentBasedDeduplication") == "true":
            return hashlib.sha256(body.encode("utf-8")).hexdigest()
        raise SqsFault(
            "InvalidParameterValue",
            "The queue should either have ContentBasedDeduplication enabled or "
            "MessageDeduplicationId provided explicitly",
        )

    def duplicate_of(self, deduplication_id: str | None, now: float) -> str | None:
        """The MessageId of a message sent with this deduplication id in the last 5 minutes."""
        if deduplication_id is None:
            return None
        seen = self._deduplication.get(deduplication_id)
        if seen is None or now - seen[0] >= DEDUPLICATION_SECONDS:
            return None
        return seen[1]

    def add(self, message: StoredMessage, delay_seconds: float) -> None:
        """Put ``message`` on the queue (visible after ``delay_seconds``)."""
        message.visible_at = message.sent_at + delay_seconds
        self.messages[message.message_id] = message
        self.sent.append(message)
        if message.deduplication_id is not None:
            entry = (message.sent_at, message.message_id)
            self._deduplication[message.deduplication_id] = entry

    # --- receiving ---------------------------------------------------------------------------
    def take(
        self,
        count: int,
        visibility_seconds: float,
        now: float,
        epoch_ms: int,
        redrive: Callable[[StoredMessage], bool],
    ) -> list[StoredMessage]:
        """Receive up to ``count`` visible messages, in send order, as SQS would.

        ``redrive(message)`` moves a message that was received too often to its dead-letter
        queue (True) or declines (False: it is delivered).
        """
        self.expire(now)
        busy_groups = {m.group_id for m in self.messages.values() if self.fifo and m.in_flight(now)}
        taken: list[StoredMessage] = []
        for message in list(self.messages.values()):
            if len(taken) >= count:
                break
            if message.visible_at > now or (self.fifo and message.group_id in busy_groups):
                continue
            if redrive(message):
                del self.messages[message.message_id]
                continue
            message.mark_received(visibility_seconds, now, epoch_ms)
            taken.append(message)
        return taken

    def expire(self, now: float) -> None:
        """Drop messages older than the retention period."""
        retention = self.number("MessageRetentionPeriod")
        for message in [m for m in self.messages.values() if now - m.sent_at >= retention]:
            del self.messages[message.message_id]

    def next_change(self, now: float) -> float | None:
        """When the next delayed or in-flight message becomes visible (None: none will)."""
        upcoming = [m.visible_at for m in self.messages.values() if m.visible_at > now]
        return min(upcoming, default=None)

    # --- settling ----------------------------------------------------------------------------
    def delete(self, message: StoredMessage, receipt_handle: str) -> None:
        """Delete ``message`` if ``receipt_handle`` is its newest; an older one does nothing."""
        if message.receipt_handle != receipt_handle:
            return
        if self.messages.pop(message.message_id, None) is not None:
            self.deleted_count += 1

    def change_visibility(
        self, message: StoredMessage, receipt_handle: str, seconds: int, now: float
    ) -> None:
        """Set an in-flight message's visibility timeout to ``seconds`` from now."""
        if message.message_id not in self.messages or message.receipt_handle != receipt_handle:
            raise SqsFault(
                "InvalidParameterValue",
                f"Value {receipt_handle} for parameter ReceiptHandle is invalid. Reason: Message "
                "does not exist or is not available for visibility timeout change.",
            )
        if not message.in_flight(now):
            raise SqsFault("MessageNotInflight", "The message is not in flight.")
        message.visible_at = now + seconds

    def purge(self) -> None:
        """Remove every message (PurgeQueue)."""
        self.messages.clear()
        self.sent.clear()
        self._deduplication.clear()
        self.deleted_count = 0

    def counts(self, now: float) -> dict[str, str]:
        """The ApproximateNumberOfMessages* attributes."""
        values = list(self.messages.values())
        return {
            "ApproximateNumberOfMessages": str(sum(m.visible_at <= now for m in values)),
            "ApproximateNumberOfMessagesNotVisible": str(sum(m.in_flight(now) for m in values)),
            "ApproximateNumberOfMessagesDelayed": str(sum(m.delayed(now) for m in values)),
        }
