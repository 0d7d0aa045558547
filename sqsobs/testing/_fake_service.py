"""The state of an in-memory SQS: its queues, clock, lock and injected faults.

:class:`FakeService` is what :class:`~sqsobs.testing.FakeSQS` (the boto3-like client) works on:
every call takes its lock, counts itself in :attr:`FakeService.calls` and raises the fault
:meth:`FakeService.fail_next` queued for it, if any. Receipt handles are indexed here, since a
handle names its queue's message wherever it is.

Example::

    service = FakeService(region_name="us-east-1", account_id="123456789012",
                          endpoint_url="https://sqs.us-east-1.amazonaws.com", clock=time.monotonic)
    with service.call("GetQueueUrl"):
        queue = service.queue(url)
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from sqsobs._urls import is_queue_name
from sqsobs.testing._fake_store import DEFAULT_ATTRIBUTES, StoredMessage, StoredQueue
from sqsobs.testing._fake_wire import SqsFault, client_error

__all__ = ["FakeService"]


class FakeService:
    """Queues by name, receipt handles, the clock, one lock and the calls made."""

    def __init__(
        self, *, region_name: str, account_id: str, endpoint_url: str, clock: Callable[[], float]
    ) -> None:
        self.region_name = region_name
        self.account_id = account_id
        self.endpoint_url = endpoint_url
        #: How many times each operation was called (``calls["SendMessageBatch"]``).
        self.calls: collections.Counter[str] = collections.Counter()
        #: Held by every call; long polls wait on it, sends and clock moves wake them.
        self.lock = threading.Condition()
        self.queues: dict[str, StoredQueue] = {}
        self.handles: dict[str, tuple[StoredQueue, StoredMessage]] = {}
        self._clock = clock
        self._offset = 0.0
        self._faults: dict[str, collections.deque[SqsFault | BaseException]] = {}
        self._numbers = 0

    # --- time ----------------------------------------------------------------------------------
    def now(self) -> float:
        """The fake clock, in seconds."""
        return self._clock() + self._offset

    def epoch_ms(self) -> int:
        """Wall-clock milliseconds, moved along with the fake clock (``SentTimestamp`` ...)."""
        return int((time.time() + self._offset) * 1000)

    def advance(self, seconds: float) -> None:
        """Move the clock forward and wake long polls."""
        with self.lock:
            self._offset += seconds
            self.lock.notify_all()

    # --- calls and faults ----------------------------------------------------------------------
    def fail_next(self, operation: str, fault: SqsFault | BaseException, times: int) -> None:
        """Make the next ``times`` calls of ``operation`` raise ``fault``."""
        with self.lock:
            self._faults.setdefault(operation, collections.deque()).extend([fault] * times)

    @contextlib.contextmanager
    def call(self, operation: str, *, counted: bool = True) -> Iterator[None]:
        """One SQS call: under the lock, counted, faults raised as boto3 raises them.

        ``counted=False`` (a test's own setup) is neither counted nor given a fault.
        """
        with self.lock:
            pending = self._faults.get(operation) if counted else None
            injected = pending.popleft() if pending else None
            if counted:
                self.calls[operation] += 1
            if isinstance(injected, BaseException) and not isinstance(injected, SqsFault):
                raise injected
            try:
                if injected is not None:
                    raise injected
                yield
            except SqsFault as fault:
                raise client_error(fault, operation) from None

    # --- queues --------------------------------------------------------------------------------
    def queue(self, url: str) -> StoredQueue:
        """The queue a URL (or name) points at; QueueDoesNotExist if there is none."""
        queue = self.queues.get(str(url).rstrip("/").rsplit("/", 1)[-1])
        if queue is None:
            raise SqsFault("QueueDoesNotExist", "The specified queue does not exist.")
        return queue

    def create(self, name: str, attributes: dict[str, str], url: str | None = None) -> StoredQueue:
        """The queue ``name``, created with ``attributes`` if new (CreateQueue's rules)."""
        if not is_queue_name(name):
            raise SqsFault(
                "InvalidParameterValue",
                "Can only include alphanumeric characters, hyphens, or underscores. "
                "1 to 80 in length",
            )
        wanted = {key: str(value) for key, value in attributes.items()}
        if name.endswith(".fifo") != (wanted.get("FifoQueue") == "true"):
            raise SqsFault(
                "InvalidParameterValue",
                "A FIFO queue's name ends in .fifo and it has FifoQueue=true; a standard queue "
                "has neither",
            )
        existing = self.queues.get(name)
        if existing is not None:
            if any(existing.attributes.get(k) != v for k, v in wanted.items()):
                raise SqsFault("QueueNameExists", "The specified queue already exists.")
            return existing
        defaults = dict(DEFAULT_ATTRIBUTES)
        if name.endswith(".fifo"):
            defaults["ContentBasedDeduplication"] = "false"
        queue = StoredQueue(
            name=name,
            url=url or f"{self.endpoint_url}/{self.account_id}/{name}",
            arn=f"arn:aws:sqs:{self.region_name}:{self.account_id}:{name}",
            attributes={**defaults, **wanted},
            created_epoch_seconds=self.epoch_ms() // 1000,
        )
        self.queues[name] = queue
        return queue

    # --- messages ------------------------------------------------------------------------------
    def next_number(self) -> int:
        """The next message number (message ids, receipt handles, sequence numbers)."""
        self._numbers += 1
        return self._numbers

    def message(self, receipt_handle: str) -> tuple[StoredQueue, StoredMessage]:
        """The queue and message a receipt handle was issued for."""
        found = self.handles.get(str(receipt_handle))
        if found is None:
            raise SqsFault("ReceiptHandleIsInvalid", "The input receipt handle is invalid.")
        return found

    def redrive(self, queue: StoredQueue, now: float) -> Callable[[StoredMessage], bool]:
        """``queue``'s redrive rule: move a message received too often to its DLQ (True)."""
        policy = queue.redrive_policy()

        def move(message: StoredMessage) -> bool:
            if policy is None or message.receive_count < policy[1]:
                return False
            target = next((q for q in self.queues.values() if q.arn == policy[0]), None)
            if target is None:
                return False
            message.dead_letter_source_arn = queue.arn
            message.visible_at = now
            target.messages[message.message_id] = message
            target.sent.append(message)
            return True

        return move
