"""Large payloads on the dramatiq workers' side: pointers resolved before decoding, objects
deleted after their message.

A received message carrying the extended clients' ``ExtendedPayloadSize`` attribute (see
:mod:`sqsobs._payloads._pointer`; sent by ``BatchSQSBroker(large_payload_bucket=...)`` or an
extended client) has its payload fetched from S3 before the worker's consumer decodes it, in an
``S3.GetObject`` span under the message's creation context (the trace the worker's ``process``
span joins), counted in the listener's payload metrics. A fetch that fails leaves the message on
its queue (the consumer decides when it comes back); the error names the bucket and key, never
the body.

After the message is deleted from SQS (an ack, or a nack without a dead-letter queue), its
object is deleted too, unless ``delete_large_payloads`` is off, as the listener does. A nack
with a dead-letter queue keeps the object: the dead-letter copy points at it.

Example::

    payloads = WorkerPayloads(store, delete_objects=True)
    body, pointer = payloads.resolve(sqs_message, "my-app_default", parent=None)
    ...                                   # decoded, run, deleted from SQS
    payloads.deleted(pointer, "my-app_default", parent=None)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from opentelemetry.context import Context

from sqsobs._payloads._pointer import RESERVED_ATTRIBUTES, PayloadPointer, pointer_of
from sqsobs._payloads._store import PayloadStore
from sqsobs.errors import PayloadError

__all__ = ["WorkerPayloads", "marker_attributes", "received_data"]

logger = logging.getLogger(__name__)


def received_data(sqs_message: Any) -> Mapping[str, Any]:
    """The ReceiveMessage entry a boto3 ``Message`` resource was built from (no extra call)."""
    data = getattr(getattr(sqs_message, "meta", None), "data", None)
    return data if isinstance(data, Mapping) else {"Body": sqs_message.body}


def marker_attributes(sqs_message: Any) -> dict[str, Any]:
    """The received message's payload-size attribute, to send on with a copy of its pointer."""
    attributes = received_data(sqs_message).get("MessageAttributes") or {}
    return {
        name: {
            "DataType": attributes[name]["DataType"],
            "StringValue": attributes[name]["StringValue"],
        }
        for name in RESERVED_ATTRIBUTES
        if name in attributes
    }


class WorkerPayloads:
    """Fetches the payloads of the workers' messages; deletes their objects afterwards."""

    def __init__(self, store: PayloadStore, *, delete_objects: bool) -> None:
        self.store = store
        self.delete_objects = delete_objects

    def resolve(
        self, sqs_message: Any, queue: str, parent: Context | None
    ) -> tuple[str, PayloadPointer | None]:
        """The body to decode (the payload when the message is a pointer) and the pointer.

        Raises :class:`~sqsobs.errors.PayloadError` (a missing or unreadable object, a malformed
        pointer), counted in ``sqsobs.listener.payload.fetched`` with its ``error.type``.
        """
        data = received_data(sqs_message)
        pointer = pointer_of(data)
        if pointer is None:
            return str(data.get("Body", "")), None
        return self.store.get(pointer, queue=queue, parent=parent), pointer

    def deleted(self, pointer: PayloadPointer, queue: str, parent: Context | None) -> None:
        """The message was deleted from SQS: delete its object (a failure is logged, counted)."""
        if not self.delete_objects:
            return
        try:
            self.store.delete(pointer, queue=queue, parent=parent)
        except PayloadError as error:
            logger.warning(
                "the payload object of a deleted message stays in S3 (%s); a lifecycle rule on "
                "the bucket removes such objects",
                error,
            )
