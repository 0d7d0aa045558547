"""One in-memory queue, for handler tests: :class:`FakeSQSQueue` and :class:`RunResult`.

sqs-fargate-listener's ``FakeSQSQueue`` with the same methods, properties and defaults, on a
:class:`~sqsobs.testing.FakeSQS`: ``run_handler()`` runs the handler through sqsobs' own
:class:`~sqsobs.listener.Listener` (per message or per batch, ``filter_fn``, async handlers,
Lambda's batch-response formats), so a test sees what production will do.

Example::

    queue = FakeSQSQueue()
    queue.send({"order_id": "123"})
    result = queue.run_handler(handle, mode="per_message")
    assert (result.processed, queue.deleted_count) == (1, 1)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqsobs._urls import is_queue_url, queue_name
from sqsobs.listener import Listener, SqsMessage
from sqsobs.testing._fake_client import FakeSQS
from sqsobs.testing._fake_store import StoredMessage, StoredQueue
from sqsobs.testing._fake_wire import SqsFault

if TYPE_CHECKING:
    from sqsobs.testing._fake_service import FakeService

__all__ = ["DEFAULT_QUEUE_URL", "FakeSQSQueue", "RunResult"]

#: sqs-fargate-listener's default queue URL for a FakeSQSQueue.
DEFAULT_QUEUE_URL = "http://localhost:4566/000000000000/test-queue"

#: run_handler()'s listener: one handler at a time, no waiting (the clock is ours).
_RUN_DEFAULTS: dict[str, Any] = {
    "wait_time": 0,
    "idle_sleep_max": 0.005,
    "worker_threads": 1,
    "delete_linger_seconds": 0.0,
}


@dataclass
class RunResult:
    """What :meth:`FakeSQSQueue.run_handler` saw (sqs-fargate-listener's fields, plus one).

    ``processed`` messages were handled and deleted, ``failed`` ones stay for redelivery,
    ``filtered`` ones were skipped by ``filter_fn``, ``released`` ones were given back without
    being deleted (on a FIFO queue, those behind a failed message of their group).
    """

    processed: int = 0
    failed: int = 0
    filtered: int = 0
    released: int = 0


class FakeSQSQueue:
    """An in-memory queue for handler tests, as sqs-fargate-listener's ``FakeSQSQueue``.

    ``queue_url`` (a URL or a name; ``.fifo`` makes a FIFO queue) is created on ``sqs`` (a
    new :class:`~sqsobs.testing.FakeSQS` by default) with ``attributes``. ``client`` is that
    FakeSQS, for code that takes a boto3 client (``BatchProducer(client=queue.client)``).

    Example::

        queue = FakeSQSQueue()
        queue.send({"order_id": "123"}, attributes={"tenant": "acme"})
        result = queue.run_handler(handle_batch, mode="batch")
        assert (result.processed, result.failed, queue.pending_count) == (1, 0, 0)
    """

    def __init__(
        self,
        queue_url: str = DEFAULT_QUEUE_URL,
        *,
        sqs: FakeSQS | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        self.sqs = sqs if sqs is not None else FakeSQS()
        name = queue_name(queue_url)
        wanted = dict(attributes or {})
        if name.endswith(".fifo"):
            wanted.setdefault("FifoQueue", "true")
        service = self._service
        try:
            with service.lock:
                queue = service.create(
                    name, wanted, url=queue_url if is_queue_url(queue_url) else None
                )
        except SqsFault as fault:
            raise ValueError(f"cannot create queue {queue_url!r}: {fault.message}") from None
        #: The queue's URL (sqs-fargate-listener's name for it).
        self.queue_url = queue.url

    @property
    def _service(self) -> FakeService:
        return self.sqs._service

    def _stored(self) -> StoredQueue:
        return self._service.queue(self.queue_url)

    @property
    def url(self) -> str:
        """The queue's URL."""
        return self.queue_url

    @property
    def client(self) -> FakeSQS:
        """The in-memory SQS this queue lives in: a boto3 SQS client stand-in."""
        return self.sqs

    # --- sqs-fargate-listener's API ------------------------------------------------------------
    def send(
        self,
        body: Any,
        attributes: Mapping[str, Any] | None = None,
        *,
        group_id: str | None = None,
        deduplication_id: str | None = None,
        delay_seconds: int | None = None,
    ) -> str:
        """Put a message on the queue; return its MessageId.

        ``body`` is a str, or anything else sent as JSON. ``attributes`` are message attributes:
        SQS's ``{"DataType": ..., "StringValue": ...}`` form, or plain values (str, numbers,
        bytes). On a FIFO queue ``group_id`` is required; without a ``deduplication_id`` every
        send is distinct (unless the queue has ContentBasedDeduplication).
        """
        entry: dict[str, Any] = {"MessageBody": body if isinstance(body, str) else json.dumps(body)}
        if attributes:
            entry["MessageAttributes"] = {k: _attribute(v) for k, v in attributes.items()}
        if group_id is not None:
            entry["MessageGroupId"] = group_id
        if deduplication_id is not None:
            entry["MessageDeduplicationId"] = deduplication_id
        if delay_seconds is not None:
            entry["DelaySeconds"] = delay_seconds
        service = self._service
        # The test's own setup: not counted in sqs.calls, never an injected fault.
        with service.call("SendMessage", counted=False):
            queue = self._stored()
            if queue.fifo and deduplication_id is None and not _content_based(queue):
                entry["MessageDeduplicationId"] = (
                    f"fake-dedup-{len(queue.sent)}-{time.monotonic_ns()}"
                )
            answer = self.sqs._send(queue, entry)
            service.lock.notify_all()
        return str(answer["MessageId"])

    @property
    def messages(self) -> list[SqsMessage]:
        """Every message sent since the queue was made or reset, in order, deleted ones too."""
        with self._service.lock:
            return [_view(m) for m in self._stored().sent]

    @property
    def pending_messages(self) -> list[SqsMessage]:
        """The messages still on the queue (visible, in flight or delayed), in order."""
        with self._service.lock:
            return [_view(m) for m in self._stored().messages.values()]

    @property
    def deleted_count(self) -> int:
        """How many messages were deleted since the queue was made or reset."""
        with self._service.lock:
            return self._stored().deleted_count

    @property
    def pending_count(self) -> int:
        """How many messages are still on the queue (visible, in flight or delayed)."""
        with self._service.lock:
            return len(self._stored().messages)

    @property
    def in_flight_count(self) -> int:
        """How many messages were received and are still invisible (not deleted)."""
        service = self._service
        with service.lock:
            return sum(m.in_flight(service.now()) for m in self._stored().messages.values())

    def reset(self) -> None:
        """Remove every message and forget the counts (between sub-tests)."""
        with self._service.lock:
            self._stored().purge()

    def listener(self, handler: Callable[..., Any], **options: Any) -> Listener:
        """A :class:`~sqsobs.listener.Listener` on this queue, not started yet.

        ``options`` are the listener's settings. Here ``wait_time`` defaults to 0 and
        ``idle_sleep_max`` to 0.02 (short polls, at most 20 ms apart), as a test wants: messages
        sent during the test are picked up within milliseconds.
        """
        options = {"wait_time": 0, "idle_sleep_max": 0.02, **options}
        return Listener(handler, queue_url=self.queue_url, client=self.sqs, **options)

    def run_handler(
        self,
        handler: Callable[..., Any],
        mode: str = "batch",
        filter_fn: Callable[[SqsMessage], bool] | None = None,
        *,
        timeout_seconds: float = 30.0,
        **options: Any,
    ) -> RunResult:
        """Deliver every message on the queue once to ``handler``; return what happened.

        The handler runs in a :class:`~sqsobs.listener.Listener` on this queue, as in
        production: ``mode="batch"`` in batches of up to ``batch_size`` (10), ``"per_message"``
        one by one; successes are deleted, failures stay (and come back at the next call, with
        a higher ``ApproximateReceiveCount``). ``options`` are the listener's settings
        (``worker_threads`` defaults to 1: messages are handled in order). Raises
        ``TimeoutError`` if the handler has not settled every message in ``timeout_seconds``.
        """
        service = self._service
        with service.lock:
            now = service.now()
            for message in self._stored().messages.values():
                if message.in_flight(now):  # a new round: what failed before comes back now
                    message.visible_at = now
            due = {m.message_id: m.receive_count for m in self._stored().messages.values()
                   if m.visible_at <= now}  # fmt: skip
        if not due:
            return RunResult()
        listener = self.listener(
            handler,
            mode=mode,
            filter_fn=filter_fn,
            environ={},
            **{**_RUN_DEFAULTS, "shutdown_timeout_seconds": timeout_seconds, **options},
        )
        deadline = time.monotonic() + timeout_seconds
        with listener:
            while not self._round_done(listener, due):
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"run_handler: the handler did not settle every message in "
                        f"{timeout_seconds} s"
                    )
                time.sleep(0.002)
        counts = listener.stats.snapshot()
        return RunResult(
            processed=counts["succeeded"],
            failed=counts["failed"],
            filtered=counts["filtered"],
            released=counts["released"] - counts["filtered"],
        )

    def _round_done(self, listener: Listener, due: Mapping[str, int]) -> bool:
        """Every due message was delivered (or cannot be: its FIFO group is held), and settled."""
        service = self._service
        with service.lock:
            now, queue = service.now(), self._stored()
            held = {m.group_id for m in queue.messages.values() if queue.fifo and m.in_flight(now)}
            delivered = 0
            for message_id, before in due.items():
                message = queue.messages.get(message_id)
                if message is None:  # deleted (or moved to its dead-letter queue)
                    continue
                if message.receive_count > before:
                    delivered += message.receive_count - before
                elif message.visible_at <= now and message.group_id not in held:
                    return False
        counts = listener.stats.snapshot()
        # A filtered message is counted as filtered and as released (it is given back).
        settled = counts["succeeded"] + counts["failed"] + counts["released"]
        return counts["received"] >= delivered and settled >= counts["received"]


def _content_based(queue: StoredQueue) -> bool:
    return queue.attributes.get("ContentBasedDeduplication") == "true"


def _attribute(value: Any) -> dict[str, Any]:
    """A message attribute from SQS's form or from a plain value."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (bytes, bytearray)):
        return {"DataType": "Binary", "BinaryValue": bytes(value)}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"DataType": "Number", "StringValue": str(value)}
    return {"DataType": "String", "StringValue": str(value)}


def _view(message: StoredMessage) -> SqsMessage:
    """A stored message as a handler would receive it (``md`` as boto3 returns it)."""
    attributes = {
        "ApproximateReceiveCount": str(message.receive_count),
        "SentTimestamp": str(message.sent_epoch_ms),
    }
    if message.group_id is not None:
        attributes["MessageGroupId"] = message.group_id
    handle = message.receipt_handle or f"fake-rh-{message.number}"
    md = {
        "MessageId": message.message_id,
        "ReceiptHandle": handle,
        "Body": message.body,
        "Attributes": attributes,
        "MessageAttributes": {name: dict(value) for name, value in message.attributes.items()},
    }
    return SqsMessage(message.message_id, handle, message.body, attributes, md)
