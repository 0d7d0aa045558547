"""The message a handler receives: :class:`SqsMessage`.

Example::

    def handle(msg: SqsMessage) -> bool:
        data, err = msg.try_json()
        if err:
            return False
        print(msg.message_id, msg.receive_count, msg.message_attributes().get("trace_id"))
        return True
"""

from __future__ import annotations

import json as _json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from opentelemetry.context import Context

from sqsobs._sns import sns_envelope

if TYPE_CHECKING:
    from sqsobs._payloads._pointer import PayloadPointer

__all__ = ["SqsMessage"]

_UNSET: Any = object()


class SqsMessage:
    """One received SQS message, as sqs-fargate-listener's ``SqsMessage``, plus typed helpers.

    ``attributes`` holds the system attributes (``ApproximateReceiveCount``, ``SentTimestamp``,
    ``MessageGroupId`` ...) and ``raw`` (alias ``md``) the message exactly as boto3 returned it.
    A message whose payload a producer stored in S3 (sqsobs' ``large_payload_bucket``, or AWS's
    extended clients) reaches the handler with ``body`` the payload, fetched from S3, and
    ``payload_pointer`` its bucket and key (``raw["Body"]`` keeps the pointer); for any other
    message ``payload_pointer`` is None.

    Built by hand (in a handler's unit test), it takes sqs-fargate-listener's dataclass fields,
    by position or keyword, ``md`` included, or sqsobs' keywords with ``raw=``; messages with
    the same five fields are equal, as that dataclass's were.

    Example::

        SqsMessage("m-1", "rh-1", '{"id": 7}', {"ApproximateReceiveCount": "1"}, {})
        SqsMessage(message_id="m-1", receipt_handle="rh-1", body='{"id": 7}', raw={})
    """

    __slots__ = (
        "_context",
        "_json",
        "_sns",
        "attributes",
        "body",
        "message_id",
        "payload_pointer",
        "raw",
        "receipt_handle",
        "received_at",
    )

    def __init__(
        self,
        message_id: str,
        receipt_handle: str,
        body: str,
        attributes: Mapping[str, Any] | None = None,
        md: Mapping[str, Any] | None = None,
        *,
        raw: Mapping[str, Any] | None = None,
        received_at: float = 0.0,
        context: Context | None = None,
    ) -> None:
        if md is not None and raw is not None and md is not raw:
            raise TypeError("SqsMessage takes md or raw (the same field), not both")
        self.message_id = message_id
        self.receipt_handle = receipt_handle
        self.body = body
        self.attributes: Mapping[str, Any] = attributes or {}
        given = raw if raw is not None else md
        self.raw: Mapping[str, Any] = given if given is not None else {}
        #: ``time.monotonic()`` when the listener received the message.
        self.received_at = received_at
        self._context = context
        self._json: Any = _UNSET
        self._sns: Any = _UNSET
        #: Where the payload was fetched from (S3 bucket, key, size), if it was offloaded.
        self.payload_pointer: PayloadPointer | None = None

    @classmethod
    def from_boto(
        cls, raw: Mapping[str, Any], *, received_at: float = 0.0, context: Context | None = None
    ) -> SqsMessage:
        """Wrap one entry of ReceiveMessage's ``Messages``."""
        return cls(
            message_id=raw["MessageId"],
            receipt_handle=raw["ReceiptHandle"],
            body=raw.get("Body", ""),
            attributes=raw.get("Attributes") or {},
            raw=raw,
            received_at=received_at,
            context=context,
        )

    def _set_payload(self, payload: str, pointer: PayloadPointer) -> None:
        """The listener fetched the payload ``pointer`` names: it becomes the body."""
        self.body = payload
        self.payload_pointer = pointer
        self._json = self._sns = _UNSET

    @property
    def md(self) -> Mapping[str, Any]:
        """The raw boto3 message (sqs-fargate-listener's name for :attr:`raw`)."""
        return self.raw

    @property
    def json(self) -> Any:
        """The body parsed as JSON, cached; raises ``json.JSONDecodeError`` if invalid."""
        if self._json is _UNSET:
            self._json = _json.loads(self.body)
        return self._json

    def try_json(self) -> tuple[Any | None, Exception | None]:
        """``(data, None)`` for a JSON body, ``(None, error)`` otherwise; never raises."""
        try:
            return self.json, None
        except ValueError as error:
            return None, error

    @property
    def sns_notification(self) -> Mapping[str, Any] | None:
        """The SNS envelope when SNS delivered the message without raw delivery, else None.

        Its ``Message`` is the publisher's body (see :attr:`unwrapped_body`), ``TopicArn`` the
        topic, ``MessageAttributes`` the publisher's attributes (``{"Type", "Value"}``).
        """
        if self._sns is _UNSET:
            self._sns = sns_envelope(self.body)
        envelope: Mapping[str, Any] | None = self._sns
        return envelope

    @property
    def unwrapped_body(self) -> str:
        """The publisher's body: the SNS envelope's ``Message``, else :attr:`body` itself."""
        envelope = self.sns_notification
        return str(envelope["Message"]) if envelope is not None else self.body

    def message_attributes(self) -> dict[str, Any]:
        """MessageAttributes simplified to ``{name: value}`` (str, or bytes for Binary)."""
        raw = self.raw.get("MessageAttributes") or {}
        out: dict[str, Any] = {}
        for name, value in raw.items():
            if "StringValue" in value:
                out[name] = value["StringValue"]
            elif "BinaryValue" in value:
                out[name] = value["BinaryValue"]
            else:
                out[name] = value
        return out

    @property
    def receive_count(self) -> int:
        """ApproximateReceiveCount: 1 on the first delivery (1 if SQS did not say)."""
        try:
            return int(self.attributes.get("ApproximateReceiveCount", 1))
        except (TypeError, ValueError):
            return 1

    @property
    def sent_timestamp(self) -> datetime | None:
        """When SQS accepted the message (UTC), or None if SQS did not say."""
        raw = self.attributes.get("SentTimestamp")
        try:
            return datetime.fromtimestamp(int(str(raw)) / 1000.0, tz=timezone.utc)
        except (TypeError, ValueError, OverflowError, OSError):
            return None

    @property
    def group_id(self) -> str | None:
        """The FIFO MessageGroupId, or None on a standard queue."""
        value = self.attributes.get("MessageGroupId")
        return value if isinstance(value, str) else None

    @property
    def context(self) -> Context | None:
        """The producer's trace context carried by the message, if any."""
        return self._context

    def _fields(self) -> tuple[Any, ...]:
        return (self.message_id, self.receipt_handle, self.body, self.attributes, self.raw)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SqsMessage):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        # Consistent with __eq__, and keeps messages usable as dict keys and set members.
        return hash((self.message_id, self.receipt_handle))

    def __repr__(self) -> str:
        return f"SqsMessage(message_id={self.message_id!r}, receive_count={self.receive_count})"
