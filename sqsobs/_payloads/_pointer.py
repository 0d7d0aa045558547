"""The pointer AWS's extended clients put in a message whose payload they stored in S3.

The message body is a JSON array: the pointer's Java class name, then the object's bucket and
key::

    ["software.amazon.payloadoffloading.PayloadS3Pointer",
     {"s3BucketName": "my-bucket", "s3Key": "8b2d6d5e-..."}]

and the message carries the ``ExtendedPayloadSize`` attribute (a ``Number``: the payload's
UTF-8 size). Older clients wrote ``com.amazon.sqs.javamessaging.MessageS3Pointer`` and
``SQSLargePayloadSize``; both are read. The key is a random UUID, as both clients make it.

Example::

    pointer = PayloadPointer("my-bucket", new_key())
    body = pointer.to_body()
    PayloadPointer.from_body(body) == pointer      # True
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqsobs.errors import PayloadError

__all__ = [
    "LEGACY_POINTER_CLASS",
    "LEGACY_SIZE_ATTRIBUTE",
    "POINTER_CLASS",
    "RESERVED_ATTRIBUTES",
    "SIZE_ATTRIBUTE",
    "PayloadPointer",
    "new_key",
    "pointer_of",
    "size_attribute",
]

#: The pointer class the current clients write (and read).
POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"
#: The class older Java clients wrote; still read.
LEGACY_POINTER_CLASS = "com.amazon.sqs.javamessaging.MessageS3Pointer"
#: The attribute that marks an offloaded message; its value is the payload's size in bytes.
SIZE_ATTRIBUTE = "ExtendedPayloadSize"
#: The marking attribute of older clients; still read.
LEGACY_SIZE_ATTRIBUTE = "SQSLargePayloadSize"
#: Attribute names a message sent with offloading on may not carry itself.
RESERVED_ATTRIBUTES = (SIZE_ATTRIBUTE, LEGACY_SIZE_ATTRIBUTE)
_CLASSES = (POINTER_CLASS, LEGACY_POINTER_CLASS)


def new_key() -> str:
    """A new S3 key for a payload: a random UUID, as AWS's extended clients make it."""
    return str(uuid.uuid4())


def size_attribute(size_bytes: int) -> dict[str, str]:
    """The ``ExtendedPayloadSize`` attribute value for a payload of ``size_bytes``."""
    return {"DataType": "Number", "StringValue": str(size_bytes)}


@dataclass(frozen=True)
class PayloadPointer:
    """Where an offloaded payload is: its S3 bucket and key (and its size, when known).

    Available on a received message as :attr:`SqsMessage.payload_pointer
    <sqsobs.SqsMessage.payload_pointer>`.
    """

    bucket: str
    key: str
    #: The payload's size in bytes, as the message's size attribute says (None: not given).
    size_bytes: int | None = None

    def to_body(self) -> str:
        """The message body that points at this payload (the extended clients' JSON)."""
        return json.dumps([POINTER_CLASS, {"s3BucketName": self.bucket, "s3Key": self.key}])

    @classmethod
    def from_body(cls, body: str, size_bytes: int | None = None) -> PayloadPointer:
        """Parse a pointer body; :class:`~sqsobs.errors.PayloadError` if it is not one."""
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if (
            isinstance(parsed, list)
            and len(parsed) == 2
            and parsed[0] in _CLASSES
            and isinstance(parsed[1], dict)
        ):
            bucket, key = parsed[1].get("s3BucketName"), parsed[1].get("s3Key")
            if isinstance(bucket, str) and bucket and isinstance(key, str) and key:
                return cls(bucket, key, size_bytes)
        raise PayloadError(
            "the message carries the extended clients' size attribute but its body is not an "
            "S3 pointer",
            code="MalformedPointer",
        )


def pointer_of(raw: Mapping[str, Any]) -> PayloadPointer | None:
    """The pointer of a received message (ReceiveMessage's entry), or None if it has none.

    A message is offloaded when it carries ``ExtendedPayloadSize`` (or the legacy name), as the
    extended clients decide; a malformed body then raises :class:`~sqsobs.errors.PayloadError`.
    """
    attributes = raw.get("MessageAttributes") or {}
    for name in RESERVED_ATTRIBUTES:
        marker = attributes.get(name)
        if marker is not None:
            return PayloadPointer.from_body(str(raw.get("Body", "")), _size(marker))
    return None


def _size(marker: Any) -> int | None:
    try:
        return int(marker.get("StringValue"))
    except (AttributeError, TypeError, ValueError):
        return None
