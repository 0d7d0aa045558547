"""When a message is offloaded to S3, and what goes to SQS in its place (the producer's side).

A message is offloaded when offloading is on (a bucket is set) and either ``always_offload`` is
set or its size, counted as SQS counts it (body plus attributes), is over the threshold: the
``large_payload_threshold_bytes`` setting, or the queue's own limit when that is 0 (never more
than the queue's limit: a message over it could not go otherwise). The payload is stored under a
new key; SQS gets the pointer body and the user's attributes plus ``ExtendedPayloadSize``, as
AWS's extended clients send it. The rules of those clients hold: the user's attributes may not
use a reserved name, and leave room for the size attribute (nine at most). If the pointer and
the attributes are still over the limit (the attributes alone are too large), the message is
refused with :class:`~sqsobs.errors.MessageTooLarge`.

Example::

    rules = OffloadRules("my-bucket", threshold_bytes=0, always=False)
    if rules.wanted(size_bytes=2_000_000, limit_bytes=1_048_576):
        offloaded = rules.offload(body, attributes, limit_bytes=1_048_576)
        offloaded.body          # the pointer JSON
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqsobs._payloads._pointer import (
    RESERVED_ATTRIBUTES,
    SIZE_ATTRIBUTE,
    PayloadPointer,
    new_key,
    size_attribute,
)
from sqsobs.errors import InvalidMessage, MessageTooLarge
from sqsobs.limits import MAX_MESSAGE_ATTRIBUTES, message_size

__all__ = ["OffloadRules", "Offloaded"]

#: User attributes an offloaded message may carry: one of SQS's ten is the size attribute.
MAX_USER_ATTRIBUTES = MAX_MESSAGE_ATTRIBUTES - 1


@dataclass(frozen=True)
class Offloaded:
    """A message whose payload goes to S3: what SQS gets, and what S3 gets."""

    body: str
    attributes: dict[str, Any]
    #: The size SQS counts for the pointer message (before the trace context is added).
    size_bytes: int
    pointer: PayloadPointer
    payload: bytes


@dataclass(frozen=True)
class OffloadRules:
    """The producer's offloading settings: bucket, threshold (0: the queue's limit), always."""

    bucket: str
    threshold_bytes: int
    always: bool

    def wanted(self, *, size_bytes: int, limit_bytes: int) -> bool:
        """Whether a message of ``size_bytes`` for a queue taking ``limit_bytes`` goes to S3."""
        threshold = min(self.threshold_bytes or limit_bytes, limit_bytes)
        return self.always or size_bytes > threshold

    def offload(
        self, body: str, attributes: Mapping[str, Any] | None, *, limit_bytes: int
    ) -> Offloaded:
        """The pointer message for ``body`` (a new key in the bucket), checked against the
        extended clients' rules and ``limit_bytes``."""
        final = dict(attributes) if attributes else {}
        for name in RESERVED_ATTRIBUTES:
            if name in final:
                raise InvalidMessage(
                    f"attribute name {name!r} is reserved for large payloads (S3 offloading)"
                )
        if len(final) > MAX_USER_ATTRIBUTES:
            raise InvalidMessage(
                f"{len(final)} message attributes; an offloaded message takes "
                f"{MAX_USER_ATTRIBUTES} (one is {SIZE_ATTRIBUTE})"
            )
        payload = body.encode("utf-8")
        pointer = PayloadPointer(self.bucket, new_key(), len(payload))
        final[SIZE_ATTRIBUTE] = size_attribute(len(payload))
        pointer_body = pointer.to_body()
        size = message_size(pointer_body, final)
        if size > limit_bytes:
            raise MessageTooLarge(size, limit_bytes)
        return Offloaded(pointer_body, final, size, pointer, payload)
