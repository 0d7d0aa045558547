"""SQS quotas in one place, the size rule SQS applies, and local validation of messages.

Every constant is the documented Amazon SQS quota (Amazon SQS Developer Guide, "Amazon SQS message
quotas", and the API reference of SendMessageBatch / ReceiveMessage / ChangeMessageVisibility).
Local SQS servers (moto, LocalStack) do not enforce several of these rules, so sqsobs validates
messages itself before it buffers them: what passes :func:`validate_message` is what SQS accepts.

Example::

    >>> message_size("hello", {"k": {"DataType": "String", "StringValue": "v"}})
    13
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqsobs.errors import InvalidMessage, MessageTooLarge

__all__ = [
    "LEGACY_MAX_MESSAGE_SIZE_BYTES",
    "MAX_ATTRIBUTE_NAME_LENGTH",
    "MAX_BATCH_ENTRIES",
    "MAX_BATCH_ENTRY_ID_LENGTH",
    "MAX_BATCH_PAYLOAD_BYTES",
    "MAX_DATA_TYPE_LENGTH",
    "MAX_DEDUPLICATION_ID_LENGTH",
    "MAX_DELAY_SECONDS",
    "MAX_GROUP_ID_LENGTH",
    "MAX_MESSAGE_ATTRIBUTES",
    "MAX_MESSAGE_SIZE_BYTES",
    "MAX_RECEIVE_MESSAGES",
    "MAX_VISIBILITY_TIMEOUT_SECONDS",
    "MAX_WAIT_TIME_SECONDS",
    "MIN_MESSAGE_SIZE_SETTING_BYTES",
    "attribute_size",
    "is_fifo_queue",
    "message_size",
    "validate_attributes",
    "validate_body",
    "validate_message",
    "validate_message_id_field",
]

#: Entries in one SendMessageBatch / DeleteMessageBatch / ChangeMessageVisibilityBatch request.
MAX_BATCH_ENTRIES = 10
#: Messages returned by one ReceiveMessage call (MaxNumberOfMessages).
MAX_RECEIVE_MESSAGES = 10
#: Message attributes per message (system attributes such as AWSTraceHeader do not count).
MAX_MESSAGE_ATTRIBUTES = 10
#: Largest message (body + attributes) since August 2025: 1 MiB. Queues may be set lower.
MAX_MESSAGE_SIZE_BYTES = 1_048_576
#: Largest total payload of one SendMessageBatch request (sum of all entries): 1 MiB.
MAX_BATCH_PAYLOAD_BYTES = 1_048_576
#: The old default (and still a common queue setting) of MaximumMessageSize: 256 KiB.
LEGACY_MAX_MESSAGE_SIZE_BYTES = 262_144
#: Smallest value a queue's MaximumMessageSize attribute may take.
MIN_MESSAGE_SIZE_SETTING_BYTES = 1_024
#: Longest long poll (WaitTimeSeconds) of ReceiveMessage.
MAX_WAIT_TIME_SECONDS = 20
#: Longest visibility timeout: 12 hours, counted from the first receive.
MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200
#: Longest per-message delay (DelaySeconds): 15 minutes.
MAX_DELAY_SECONDS = 900
#: Longest batch entry Id (alphanumerics, hyphens, underscores).
MAX_BATCH_ENTRY_ID_LENGTH = 80
#: Longest MessageGroupId (FIFO and fair queues).
MAX_GROUP_ID_LENGTH = 128
#: Longest MessageDeduplicationId.
MAX_DEDUPLICATION_ID_LENGTH = 128
#: Longest message attribute name.
MAX_ATTRIBUTE_NAME_LENGTH = 256
#: Longest message attribute data type (e.g. "String.custom").
MAX_DATA_TYPE_LENGTH = 256

# SQS allows only these characters in bodies and string attribute values:
# #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF
_FORBIDDEN_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_RESERVED_PREFIXES = ("aws.", "amazon.")
_DATA_TYPE = re.compile(r"^(String|Number|Binary)(\.[A-Za-z0-9_.\-]+)?$")
# Group and deduplication ids: alphanumerics and ASCII punctuation.
_ID_FIELD = re.compile(r"^[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]+$")


def attribute_size(name: str, attribute: Mapping[str, Any]) -> int:
    """Bytes one message attribute adds to a message: name + data type + value, UTF-8."""
    size = len(name.encode("utf-8")) + len(str(attribute.get("DataType", "")).encode("utf-8"))
    if "StringValue" in attribute:
        size += len(str(attribute["StringValue"]).encode("utf-8"))
    elif "BinaryValue" in attribute:
        size += len(bytes(attribute["BinaryValue"]))
    return size


def message_size(body: str, attributes: Mapping[str, Mapping[str, Any]] | None = None) -> int:
    """The size SQS counts for a message: UTF-8 body plus, per attribute, name + type + value."""
    size = len(body.encode("utf-8"))
    if attributes:
        for name, attribute in attributes.items():
            size += attribute_size(name, attribute)
    return size


def is_fifo_queue(queue: str) -> bool:
    """True for a FIFO queue's name or URL (it ends in ``.fifo``)."""
    return queue.endswith(".fifo")


def validate_body(body: object) -> str:
    """Check a body is a non-empty string of allowed characters; return it."""
    if not isinstance(body, str):
        raise InvalidMessage(f"message body must be a str, not {type(body).__name__}")
    if not body:
        raise InvalidMessage("message body must not be empty")
    _check_chars("message body", body)
    return body


def validate_attributes(attributes: Mapping[str, Mapping[str, Any]] | None) -> None:
    """Check message attributes against every SQS rule (count, names, types, values)."""
    if not attributes:
        return
    if not isinstance(attributes, Mapping):
        raise InvalidMessage("message attributes must be a mapping of name to attribute")
    if len(attributes) > MAX_MESSAGE_ATTRIBUTES:
        raise InvalidMessage(
            f"{len(attributes)} message attributes; SQS allows {MAX_MESSAGE_ATTRIBUTES}"
        )
    for name, attribute in attributes.items():
        _check_attribute_name(name)
        _check_attribute_value(name, attribute)


def validate_message_id_field(field: str, value: object, max_length: int) -> str:
    """Check a MessageGroupId / MessageDeduplicationId: 1..max_length allowed characters."""
    if not isinstance(value, str) or not value:
        raise InvalidMessage(f"{field} must be a non-empty str")
    if len(value) > max_length:
        raise InvalidMessage(f"{field} is {len(value)} characters; the limit is {max_length}")
    if not _ID_FIELD.match(value):
        raise InvalidMessage(f"{field} may hold only alphanumerics and ASCII punctuation")
    return value


def validate_message(
    body: object,
    attributes: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    max_size_bytes: int = MAX_MESSAGE_SIZE_BYTES,
    delay_seconds: int | None = None,
    group_id: str | None = None,
    deduplication_id: str | None = None,
    fifo: bool = False,
) -> int:
    """Validate a message as SQS would and return its size in bytes.

    Raises :class:`~sqsobs.errors.MessageTooLarge` when the size exceeds ``max_size_bytes`` and
    :class:`~sqsobs.errors.InvalidMessage` for any other rule it breaks.
    """
    text = validate_body(body)
    validate_attributes(attributes)
    if delay_seconds is not None:
        if isinstance(delay_seconds, bool) or not isinstance(delay_seconds, int):
            raise InvalidMessage("delay_seconds must be an int")
        if not 0 <= delay_seconds <= MAX_DELAY_SECONDS:
            raise InvalidMessage(f"delay_seconds must be 0..{MAX_DELAY_SECONDS}")
        if fifo and delay_seconds:
            raise InvalidMessage("FIFO queues do not take a per-message delay_seconds")
    if group_id is not None:
        validate_message_id_field("group_id", group_id, MAX_GROUP_ID_LENGTH)
    elif fifo:
        raise InvalidMessage("a FIFO queue needs a group_id for every message")
    if deduplication_id is not None:
        validate_message_id_field("deduplication_id", deduplication_id, MAX_DEDUPLICATION_ID_LENGTH)
    size = message_size(text, attributes)
    if size > max_size_bytes:
        raise MessageTooLarge(size, max_size_bytes)
    return size


def _check_chars(what: str, text: str) -> None:
    bad = _FORBIDDEN_CHARS.search(text)
    if bad is not None:
        raise InvalidMessage(
            f"{what} holds a character SQS does not allow: U+{ord(bad.group()):04X} "
            f"at index {bad.start()}"
        )


def _check_attribute_name(name: object) -> None:
    if not isinstance(name, str) or not name:
        raise InvalidMessage("message attribute names must be non-empty str")
    if len(name) > MAX_ATTRIBUTE_NAME_LENGTH:
        raise InvalidMessage(f"attribute name is over {MAX_ATTRIBUTE_NAME_LENGTH} characters")
    if not _ATTRIBUTE_NAME.match(name):
        raise InvalidMessage(f"attribute name {name!r} may hold only A-Z a-z 0-9 _ - .")
    if name.lower().startswith(_RESERVED_PREFIXES):
        raise InvalidMessage(f"attribute name {name!r} uses a reserved prefix (AWS. / Amazon.)")
    if name.startswith(".") or name.endswith(".") or ".." in name:
        raise InvalidMessage(f"attribute name {name!r} has a leading, trailing or double period")


def _check_attribute_value(name: str, attribute: object) -> None:
    if not isinstance(attribute, Mapping):
        raise InvalidMessage(f"attribute {name!r} must be a mapping with DataType and a value")
    data_type = attribute.get("DataType")
    if not isinstance(data_type, str) or len(data_type) > MAX_DATA_TYPE_LENGTH:
        raise InvalidMessage(f"attribute {name!r} needs a DataType str")
    if not _DATA_TYPE.match(data_type):
        raise InvalidMessage(f"attribute {name!r} has unknown DataType {data_type!r}")
    if data_type.startswith("Binary"):
        value = attribute.get("BinaryValue")
        if not isinstance(value, (bytes, bytearray)) or not value:
            raise InvalidMessage(f"attribute {name!r} needs a non-empty bytes BinaryValue")
        return
    text = attribute.get("StringValue")
    if not isinstance(text, str) or not text:
        raise InvalidMessage(f"attribute {name!r} needs a non-empty str StringValue")
    _check_chars(f"attribute {name!r}", text)
    if data_type.startswith("Number"):
        _check_number(name, text)


def _check_number(name: str, text: str) -> None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise InvalidMessage(f"attribute {name!r} is a Number but {text!r} is not") from None
    if not number.is_finite() or len(number.as_tuple().digits) > 38:
        raise InvalidMessage(f"attribute {name!r}: numbers take up to 38 digits, finite")
