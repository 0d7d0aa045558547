"""Large payloads on the producer's side: the pointer at ``send()``, the uploads before a batch.

At ``send()`` a message over the threshold (see :mod:`sqsobs._payloads._rules`) is replaced by
its S3 pointer: the packer, the byte limits and the trace context then see the pointer message,
not the payload. The bucket is checked once per producer (HeadBucket) at the first offloaded
message, on the caller's thread, so a missing or forbidden bucket raises
:class:`~sqsobs.errors.PayloadBucketUnavailable` from ``send()`` and nothing is buffered.

The uploads of one SendMessageBatch request run at once on a few threads, right before it, each
in an ``S3.PutObject`` span under its message's ``create`` span. A message whose upload failed
is not sent: its future fails with the :class:`~sqsobs.errors.PayloadError` and the rest of the
batch goes out. A message is uploaded once: a retried send reuses its object.

Example::

    offloader = Offloader(settings, s3_client=None, tracer=tracer, instruments=instruments)
    failures = offloader.upload(telemetry.name, batch)   # [(message, Failure)], before the send
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, Tracer

from sqsobs._payloads._parallel import run_all
from sqsobs._payloads._rules import Offloaded, OffloadRules
from sqsobs._payloads._store import PayloadStore
from sqsobs.errors import PayloadError
from sqsobs.limits import MAX_BATCH_ENTRIES
from sqsobs.producer._classify import Failure
from sqsobs.producer._messages import PendingMessage
from sqsobs.producer._resolve import QueueInfo
from sqsobs.producer._settings import ProducerSettings
from sqsobs.telemetry import Instruments

__all__ = ["UPLOAD_THREADS", "Offloader"]

#: Uploads of one batch running at once (the send thread included).
UPLOAD_THREADS = MAX_BATCH_ENTRIES


class Offloader:
    """The producer's offloading: decides at ``send()``, uploads before each batch."""

    def __init__(
        self,
        settings: ProducerSettings,
        *,
        s3_client: Any,
        tracer: Tracer,
        instruments: Instruments,
    ) -> None:
        self.rules = OffloadRules(
            settings.large_payload_bucket,
            settings.large_payload_threshold_bytes,
            settings.always_offload,
        )
        self.store = PayloadStore(s3_client, tracer, instruments)

    @classmethod
    def build(
        cls, settings: ProducerSettings, s3_client: Any, tracer: Tracer, instruments: Instruments
    ) -> Offloader | None:
        """The producer's offloader, or None when no ``large_payload_bucket`` is set."""
        if not settings.large_payload_bucket:
            return None
        return cls(settings, s3_client=s3_client, tracer=tracer, instruments=instruments)

    def prepare(
        self, info: QueueInfo, body: str, attributes: Any, size_bytes: int
    ) -> Offloaded | None:
        """The pointer message for a message that goes to S3, else None. Raises
        :class:`~sqsobs.errors.MessageError` and :class:`~sqsobs.errors.PayloadBucketUnavailable`
        (the bucket is checked at the first offloaded message)."""
        limit = info.max_message_bytes
        if not self.rules.wanted(size_bytes=size_bytes, limit_bytes=limit):
            return None
        offloaded = self.rules.offload(body, attributes, limit_bytes=limit)
        self.store.check_bucket(self.rules.bucket)
        return offloaded

    def upload(
        self, queue: str, batch: list[PendingMessage], context: Context
    ) -> list[tuple[PendingMessage, Failure]]:
        """Upload the payloads ``batch`` still holds, at once; the messages whose upload failed.

        Each upload's span is a child of its message's create span (or of ``context``, the
        flush's, when the message has none)."""
        waiting = [message for message in batch if message.payload is not None]
        if not waiting:
            return []
        failures: list[tuple[PendingMessage, Failure]] = []
        run_all(
            [self._upload_call(queue, message, context, failures) for message in waiting],
            max_threads=UPLOAD_THREADS,
            name="sqsobs-producer-upload",
        )
        return failures

    def _upload_call(
        self,
        queue: str,
        message: PendingMessage,
        context: Context,
        failures: list[tuple[PendingMessage, Failure]],
    ) -> Callable[[], None]:
        def call() -> None:
            offloaded = message.payload
            assert offloaded is not None
            try:
                self.store.put(
                    offloaded.pointer,
                    offloaded.payload,
                    queue=queue,
                    parent=_parent(message) or context,
                )
            except PayloadError as error:
                failures.append((message, _failure(error)))  # list.append is atomic
                return
            message.payload = None  # uploaded: a retried send reuses the object

        return call


def _parent(message: PendingMessage) -> Context | None:
    """The message's create span (or its caller's context), as the upload's parent."""
    context = message.span_context
    if context is None or not context.is_valid:
        return None
    return trace.set_span_in_context(NonRecordingSpan(context))


def _failure(error: PayloadError) -> Failure:
    return Failure(
        code=error.code or error.error_type,
        message=str(error),
        sender_fault=not error.retryable,
        retryable=False,  # botocore retried the call already; the future says why it failed
        cause=error,
        unsent_error=error,
    )
