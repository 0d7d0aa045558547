"""Large payloads on the listener's side: pointers resolved before the handler, objects deleted
after their message.

A message carrying the extended clients' ``ExtendedPayloadSize`` attribute (see
:mod:`sqsobs._payloads._pointer`) has its payload fetched from S3 right before the handler sees
it: :attr:`SqsMessage.body` is then the payload and :attr:`SqsMessage.payload_pointer` says where
it came from (``raw["Body"]`` keeps the pointer). A payload that cannot be fetched (the object
is gone, access is denied, the pointer is malformed) fails its message as a handler failure
would, with the :class:`~sqsobs.errors.PayloadError` as its error: counted, logged, and the
message comes back (after its backoff or visibility timeout) until the queue's redrive policy
moves it to its dead-letter queue.

After a successful handler the message is deleted from SQS first, and only once SQS confirmed
that delete is its S3 object deleted (unless ``delete_large_payloads`` is off: fan-out to
several queues, or a lifecycle rule that expires the objects). The other order (AWS's Java
client) leaves, when the SQS delete fails, a message that comes back pointing at nothing.

Example::

    fetcher = PayloadFetcher(store, "orders", delete_objects=True)
    fetcher.fetch(message, parent=None)               # message.body is now the payload
    fetcher.deleted([(message.payload_pointer, None)])  # after DeleteMessageBatch succeeded
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext

from sqsobs._payloads._pointer import PayloadPointer, pointer_of
from sqsobs._payloads._store import PayloadStore
from sqsobs.errors import PayloadError
from sqsobs.listener._message import SqsMessage

__all__ = ["BatchFetch", "PayloadFetcher"]

logger = logging.getLogger(__name__)


@dataclass
class BatchFetch:
    """A batch after its payloads were fetched: what the handler gets, what failed, and (FIFO)
    what waits behind a failed message of its group."""

    ready: list[SqsMessage] = field(default_factory=list)
    broken: list[tuple[SqsMessage, PayloadError]] = field(default_factory=list)
    blocked: list[SqsMessage] = field(default_factory=list)


class PayloadFetcher:
    """Fetches the payloads of one listener's messages; deletes their objects afterwards."""

    def __init__(self, store: PayloadStore, queue: str, *, delete_objects: bool) -> None:
        self._store = store
        self._queue = queue
        self.delete_objects = delete_objects

    def fetch(self, message: SqsMessage, parent: Context | None) -> None:
        """Replace a pointer body by its payload (nothing to do without a pointer).

        ``parent`` is the ``S3.GetObject`` span's parent (None: the current span, the
        message's ``process`` span). Raises :class:`~sqsobs.errors.PayloadError`.
        """
        if message.payload_pointer is not None:
            return  # fetched already (a message handed to a handler twice)
        pointer = pointer_of(message.raw)
        if pointer is None:
            return
        payload = self._store.get(pointer, queue=self._queue, parent=parent)
        message._set_payload(payload, pointer)

    def fetch_batch(self, batch: Sequence[SqsMessage], *, fifo: bool) -> BatchFetch:
        """Fetch every payload of a batch, each under its message's own trace."""
        result = BatchFetch()
        broken_groups: set[str | None] = set()
        for message in batch:
            if fifo and message.group_id in broken_groups:
                result.blocked.append(message)
                continue
            try:
                self.fetch(message, _parent(message.context))
            except PayloadError as error:
                result.broken.append((message, error))
                broken_groups.add(message.group_id)
                continue
            result.ready.append(message)
        return result

    def deleted(self, objects: Sequence[tuple[PayloadPointer, SpanContext | None]]) -> None:
        """Their messages were deleted from SQS: delete the objects (each failure is logged)."""
        if not self.delete_objects:
            return
        for pointer, creation in objects:
            context = None
            if creation is not None:
                context = trace.set_span_in_context(NonRecordingSpan(creation))
            try:
                self._store.delete(pointer, queue=self._queue, parent=context or Context())
            except PayloadError as error:
                logger.warning(
                    "the payload object of a deleted message stays in S3 (%s); a lifecycle "
                    "rule on the bucket removes such objects",
                    error,
                )


def _parent(context: Context | None) -> Context | None:
    """The message's creation context as the fetch's parent, when it carries one."""
    if context is None:
        return None
    span_context = trace.get_current_span(context).get_span_context()
    return context if span_context.is_valid else None
