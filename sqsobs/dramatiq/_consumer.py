"""The consumers dramatiq workers use: message attributes received, acks after enqueues stored.

:class:`TracingSQSConsumer` is dramatiq-sqs's consumer receiving message attributes too, so the
worker's ``process`` span joins the producer's trace. It decodes each received message itself:
one that is not a dramatiq message is logged with its id and the error's type (dramatiq-sqs logs
its body) and left on the queue, as dramatiq-sqs leaves it, until the redrive policy moves it.
:class:`BatchSQSConsumer`, the one :class:`~sqsobs.dramatiq.BatchSQSBroker` gives its workers,
resolves large payloads and adds delivery rules:

- a message whose payload is in S3 (a pointer, see :mod:`sqsobs.dramatiq._payloads`) is fetched
  before it is decoded; if the fetch fails it is not run but made visible again after
  ``BatchSQSBroker.failed_copy_visibility_seconds``, until the redrive policy moves it. Its
  object is deleted once SQS deleted the message (ack, or nack without a dead-letter queue); a
  nack's dead-letter copy keeps the pointer and its size attribute, and the object stays;

- an ack or a nack (both delete the message) waits until the messages enqueued on that thread
  while it worked on the message (a ``Retries`` copy, a re-enqueued delayed message, what the
  actor sent) are stored by SQS; if one is not, the message is not deleted but made visible
  again after ``BatchSQSBroker.failed_copy_visibility_seconds``, so it runs again;
- a message whose ``eta`` is a second or more away (a delay longer than SQS's 15 minutes) is
  not held in the worker's memory, where it would take a prefetch slot and run twice once the
  visibility timeout passed: it is sent again with the remaining delay (at most
  ``max_sqs_delay_seconds`` per hop, the ``eta`` unchanged), and deleted once the copy is
  stored.

Example::

    consumer = BatchSQSConsumer(broker, queue, prefetch=4, timeout=1000, dead_letter_queue=None)
"""

from __future__ import annotations

import logging
from base64 import b64decode
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import dramatiq
from dramatiq.common import current_millis
from dramatiq_sqs.broker import SQSConsumer

from sqsobs._payloads._pointer import PayloadPointer
from sqsobs._urls import queue_name
from sqsobs.dramatiq._middleware import creation_context, received_context
from sqsobs.dramatiq._payloads import WorkerPayloads, marker_attributes, received_data
from sqsobs.dramatiq._worker_side import Pending
from sqsobs.errors import PayloadError
from sqsobs.telemetry import (
    AWS_TRACE_HEADER,
    error_type,
    get_instruments,
    metric_attributes,
)
from sqsobs.telemetry.catalog import UNDECODABLE

if TYPE_CHECKING:
    from sqsobs.dramatiq._broker import BatchSQSBroker

__all__ = ["BatchSQSConsumer", "TracingSQSConsumer"]

logger = logging.getLogger(__name__)


def count_undecodable(queue: str, error: BaseException) -> None:
    """One received message that did not decode, by ``error.type``."""
    attributes = metric_attributes(UNDECODABLE, queue, error_type=error_type(error))
    get_instruments().counter(UNDECODABLE).add(1, attributes)


class _ReceivingQueue:
    """A boto3 Queue resource whose receives also return message attributes (trace context),
    and hand each message to ``admit`` instead: the consumer decodes them itself, so
    dramatiq-sqs's decode loop (which logs a body it cannot decode) gets none."""

    def __init__(self, queue: Any, admit: Callable[[Any], None]) -> None:
        self._queue = queue
        self._admit = admit

    def receive_messages(self, **kwargs: Any) -> Any:
        kwargs.setdefault("MessageAttributeNames", ["All"])
        kwargs.setdefault("MessageSystemAttributeNames", [AWS_TRACE_HEADER])
        for sqs_message in self._queue.receive_messages(**kwargs):
            self._admit(sqs_message)
        return ()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)


class ReceivedMessage(dramatiq.MessageProxy):
    """A decoded message, its SQS message (as dramatiq-sqs names it) and its S3 pointer."""

    def __init__(
        self, sqs_message: Any, message: dramatiq.Message[Any], pointer: PayloadPointer | None
    ) -> None:
        super().__init__(message)
        self._sqs_message = sqs_message
        self.payload_pointer = pointer


class TracingSQSConsumer(SQSConsumer):  # type: ignore[misc]
    """dramatiq-sqs's consumer, receiving message attributes so workers join the trace; a
    message that does not decode is logged without its body."""

    def __init__(self, queue: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(_ReceivingQueue(queue, self._admit), *args, **kwargs)

    def _admit(self, sqs_message: Any) -> None:
        """Decode a received message into the prefetch buffer, or leave it on the queue."""
        message_id = received_data(sqs_message).get("MessageId")
        queue = queue_name(sqs_message.queue_url)
        try:
            resolved = self._body(sqs_message, queue)
            if resolved is None:
                return  # handled (left on the queue)
            body, pointer = resolved
            message = dramatiq.Message.decode(b64decode(body))
        except Exception as exc:  # never the body in the log: it may hold anything
            count_undecodable(queue, exc)
            logger.error(
                "message %s on %s is not a dramatiq message (%s); it stays on the queue until "
                "its redrive policy moves it",
                message_id,
                queue,
                type(exc).__name__,
            )
            return
        self.messages.append(ReceivedMessage(sqs_message, message, pointer))
        self.message_refc += 1

    def _body(self, sqs_message: Any, queue: str) -> tuple[str, PayloadPointer | None] | None:
        """What to decode, and the payload's pointer; None: the message was left as it is."""
        return str(sqs_message.body), None


class BatchSQSConsumer(TracingSQSConsumer):
    """:class:`TracingSQSConsumer` that resolves large payloads, whose acks wait for
    worker-side enqueues and whose long delays hop instead of waiting in memory (see the module
    docstring)."""

    def __init__(
        self,
        broker: BatchSQSBroker,
        payloads: WorkerPayloads,
        queue: Any,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(queue, *args, **kwargs)
        self.broker = broker
        self.payloads = payloads

    def _body(self, sqs_message: Any, queue: str) -> tuple[str, PayloadPointer | None] | None:
        try:
            return self.payloads.resolve(sqs_message, queue, creation_context(sqs_message, queue))
        except PayloadError as error:
            seconds = self.broker.failed_copy_visibility_seconds
            logger.error(
                "message %s on %s not run: its payload (bucket %r, key %r) could not be fetched "
                "(%s); it comes back in %d s",
                received_data(sqs_message).get("MessageId"),
                queue,
                error.bucket,
                error.key,
                error.code or error.error_type,
                int(seconds),
            )
            self._make_visible(sqs_message, seconds)
            return None

    def __next__(self) -> dramatiq.Message[Any] | None:
        while True:
            message: dramatiq.Message[Any] | None = super().__next__()
            if message is None or not self._hop(message):
                return message

    def ack(self, message: Any) -> None:
        """Delete ``message`` once this thread's enqueues are stored (else keep it), then its
        S3 object."""
        self._settle(message, self._delete)

    def nack(self, message: Any) -> None:
        """Dead-letter and delete ``message`` once this thread's enqueues are stored."""
        self._settle(message, self._dead_letter)

    def _delete(self, message: Any) -> None:
        super().ack(message)
        self._object_done(message)

    def _dead_letter(self, message: Any) -> None:
        pointer = getattr(message, "payload_pointer", None)
        if pointer is None or self.dead_letter_queue is None:
            super().nack(message)
            self._object_done(message)
            return
        # The copy keeps the size attribute, so it resolves like the original; the object stays.
        sqs_message = message._sqs_message
        self.dead_letter_queue.send_message(
            MessageBody=sqs_message.body, MessageAttributes=marker_attributes(sqs_message)
        )
        sqs_message.delete()
        self.message_refc -= 1

    def _object_done(self, message: Any) -> None:
        """SQS deleted ``message``: its S3 object, if it has one, goes too."""
        pointer = getattr(message, "payload_pointer", None)
        if pointer is not None:
            queue = queue_name(message._sqs_message.queue_url)
            self.payloads.deleted(pointer, queue, received_context(message))

    def _settle(
        self, message: Any, finish: Callable[[Any], None], also: Sequence[Pending] = ()
    ) -> None:
        if self.broker.confirm_enqueues(also):
            finish(message)
        else:
            self._keep(message)

    def _hop(self, message: Any) -> bool:
        """Send ``message`` again if its eta is a second or more away; True if it was."""
        eta = message.options.get("eta")
        if isinstance(eta, bool) or not isinstance(eta, (int, float)):
            return False
        seconds = int((eta - current_millis()) // 1000)
        if seconds < 1:
            return False  # dramatiq holds it for less than a second
        delay = min(seconds, self.broker.max_sqs_delay_seconds)
        try:
            future = self.broker.send_again(message, delay)
        except Exception:
            logger.exception("could not send message %s again for its eta", message.message_id)
            self._keep(message)
            return True
        self._settle(message, self._delete, [(message.queue_name, future)])
        return True

    def _keep(self, message: Any) -> None:
        """Leave ``message`` on the queue: visible again after the broker's chosen delay."""
        seconds = self.broker.failed_copy_visibility_seconds
        logger.error(
            "message %s not deleted: it runs again in %d s", message.message_id, int(seconds)
        )
        self._make_visible(message._sqs_message, seconds)
        self.message_refc -= 1

    def _make_visible(self, sqs_message: Any, seconds: float) -> None:
        try:
            sqs_message.change_visibility(VisibilityTimeout=int(seconds))
        except Exception:
            logger.warning(
                "could not shorten the visibility of message %s; it comes back after the "
                "queue's visibility timeout",
                received_data(sqs_message).get("MessageId"),
                exc_info=True,
            )
