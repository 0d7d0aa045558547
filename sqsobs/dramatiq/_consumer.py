"""The consumers dramatiq workers use: message attributes received, acks after enqueues stored.

:class:`TracingSQSConsumer` is dramatiq-sqs's consumer receiving message attributes too, so the
worker's ``process`` span joins the producer's trace. :class:`BatchSQSConsumer`, the one
:class:`~sqsobs.dramatiq.BatchSQSBroker` gives its workers, adds two delivery rules:

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
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import dramatiq
from dramatiq.common import current_millis
from dramatiq_sqs.broker import SQSConsumer

from sqsobs.dramatiq._worker_side import Pending
from sqsobs.telemetry import AWS_TRACE_HEADER

if TYPE_CHECKING:
    from sqsobs.dramatiq._broker import BatchSQSBroker

__all__ = ["BatchSQSConsumer", "TracingSQSConsumer"]

logger = logging.getLogger(__name__)


class _AttributeReceivingQueue:
    """A boto3 Queue resource whose receives also return message attributes (trace context)."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def receive_messages(self, **kwargs: Any) -> Any:
        kwargs.setdefault("MessageAttributeNames", ["All"])
        kwargs.setdefault("MessageSystemAttributeNames", [AWS_TRACE_HEADER])
        return self._queue.receive_messages(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)


class TracingSQSConsumer(SQSConsumer):  # type: ignore[misc]
    """dramatiq-sqs's consumer, receiving message attributes so workers join the trace."""

    def __init__(self, queue: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(_AttributeReceivingQueue(queue), *args, **kwargs)


class BatchSQSConsumer(TracingSQSConsumer):
    """:class:`TracingSQSConsumer` whose acks wait for worker-side enqueues and whose long
    delays hop instead of waiting in memory (see the module docstring)."""

    def __init__(self, broker: BatchSQSBroker, queue: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(queue, *args, **kwargs)
        self.broker = broker

    def __next__(self) -> dramatiq.Message[Any] | None:
        while True:
            message: dramatiq.Message[Any] | None = super().__next__()
            if message is None or not self._hop(message):
                return message

    def ack(self, message: Any) -> None:
        """Delete ``message`` once this thread's enqueues are stored (else keep it)."""
        self._settle(message, super().ack)

    def nack(self, message: Any) -> None:
        """Dead-letter and delete ``message`` once this thread's enqueues are stored."""
        self._settle(message, super().nack)

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
        self._settle(message, super().ack, [(message.queue_name, future)])
        return True

    def _keep(self, message: Any) -> None:
        """Leave ``message`` on the queue: visible again after the broker's chosen delay."""
        seconds = self.broker.failed_copy_visibility_seconds
        logger.error(
            "message %s not deleted: it runs again in %d s", message.message_id, int(seconds)
        )
        try:
            message._sqs_message.change_visibility(VisibilityTimeout=int(seconds))
        except Exception:
            logger.warning(
                "could not shorten the visibility of message %s; it comes back after the "
                "queue's visibility timeout",
                message.message_id,
                exc_info=True,
            )
        self.message_refc -= 1
