"""What the in-memory SQS says back as boto3 would: errors, received messages, checksums.

Errors are botocore's own ``ClientError`` subclasses (``client.exceptions.QueueDoesNotExist``
...), with the ``Code`` and ``QueryErrorCode`` that boto3 parses from a real SQS answer, so
code that catches them, or translates them (:func:`sqsobs.errors.translate_client_error`),
cannot tell the difference.

Example::

    raise SqsFault("QueueDoesNotExist", "The specified queue does not exist.")
    ...
    except SqsFault as fault:
        raise client_error(fault, "GetQueueUrl") from None
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqsobs.testing._fake_store import StoredMessage

__all__ = [
    "SENDER_ID",
    "SqsFault",
    "attributes_md5",
    "body_md5",
    "client_error",
    "client_exceptions",
    "ok",
    "received",
    "select_message_attributes",
]

#: What ``SenderId`` says on every message.
SENDER_ID = "AIDAFAKESQSSENDER"

#: The ``Code`` boto3 reports for an error whose model name differs (SQS's query-compatible
#: codes); any other error's code is its name.
_CODES = {
    "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
    "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
    "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
    "BatchRequestTooLong": "AWS.SimpleQueueService.BatchRequestTooLong",
    "MessageNotInflight": "AWS.SimpleQueueService.MessageNotInflight",
    "PurgeQueueInProgress": "AWS.SimpleQueueService.PurgeQueueInProgress",
    "QueueNameExists": "QueueAlreadyExists",
    "MissingParameter": "MissingParameter",
}
_QUERY_NAMES = {"MissingParameter": "MissingRequiredParameterException"}
_SERVER_STATUS = {"InternalError": 500, "InternalFailure": 500, "ServiceUnavailable": 503}


class SqsFault(Exception):
    """An error SQS would answer: ``name`` is the error's model name (or its code)."""

    def __init__(self, name: str, message: str, *, sender_fault: bool = True) -> None:
        self.name = name
        self.message = message
        self.sender_fault = sender_fault
        super().__init__(f"{name}: {message}")

    @property
    def code(self) -> str:
        """The ``Code`` a real answer carries (what a batch entry's ``Code`` says)."""
        return _CODES.get(self.name, self.name)

    def entry(self, entry_id: str) -> dict[str, Any]:
        """This fault as one ``Failed`` entry of a batch answer."""
        return {
            "Id": entry_id,
            "SenderFault": self.sender_fault,
            "Code": self.code,
            "Message": self.message,
        }


@functools.cache
def client_exceptions() -> Any:
    """botocore's exception classes for SQS (``client.exceptions``), built once, offline."""
    from botocore.errorfactory import ClientExceptionsFactory
    from botocore.session import get_session

    model = get_session().get_service_model("sqs")
    return ClientExceptionsFactory().create_client_exceptions(model)


def client_error(fault: SqsFault, operation: str) -> Exception:
    """The exception boto3 raises for ``fault`` answered to ``operation``."""
    status = _SERVER_STATUS.get(fault.name, 400)
    response = {
        "Error": {
            "Code": fault.code,
            "QueryErrorCode": _QUERY_NAMES.get(fault.name, fault.name),
            "Message": fault.message,
            "Type": "Sender" if fault.sender_fault else "Receiver",
        },
        "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": 0},
    }
    error_class: type[Exception] = client_exceptions().from_code(fault.name)
    return error_class(response, operation)


def body_md5(body: str) -> str:
    """``MD5OfBody``: the hex MD5 of the UTF-8 body."""
    return hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest()


def _update(md5: Any, value: bytes) -> None:
    md5.update(struct.pack("!I", len(value)))
    md5.update(value)


def attributes_md5(attributes: Mapping[str, Mapping[str, Any]]) -> str:
    """``MD5OfMessageAttributes``, computed as SQS does (names sorted, values length-prefixed)."""
    md5 = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        attribute = attributes[name]
        _update(md5, name.encode("utf-8"))
        _update(md5, str(attribute["DataType"]).encode("utf-8"))
        if "StringValue" in attribute:
            md5.update(b"\x01")
            _update(md5, str(attribute["StringValue"]).encode("utf-8"))
        else:
            md5.update(b"\x02")
            _update(md5, bytes(attribute["BinaryValue"]))
    return md5.hexdigest()


def select_message_attributes(
    attributes: Mapping[str, Mapping[str, Any]], names: Iterable[str] | None
) -> dict[str, dict[str, Any]]:
    """The message attributes a ReceiveMessage asked for: ``All``, ``.*``, names, ``prefix.*``."""
    wanted = list(names or ())
    if "All" in wanted or ".*" in wanted:
        return {name: dict(value) for name, value in attributes.items()}
    prefixes = tuple(name[:-1] for name in wanted if name.endswith(".*"))
    return {
        name: dict(value)
        for name, value in attributes.items()
        if name in wanted or (prefixes and name.startswith(prefixes))
    }


def ok(answer: dict[str, Any]) -> dict[str, Any]:
    """``answer`` with the ``ResponseMetadata`` boto3 adds to every successful call."""
    answer["ResponseMetadata"] = {"HTTPStatusCode": 200, "RetryAttempts": 0}
    return answer


def received(
    message: StoredMessage, system: set[str], attribute_names: Iterable[str] | None
) -> dict[str, Any]:
    """One entry of ReceiveMessage's ``Messages``, with the attributes asked for."""
    out: dict[str, Any] = {
        "MessageId": message.message_id,
        "ReceiptHandle": message.receipt_handle,
        "MD5OfBody": body_md5(message.body),
        "Body": message.body,
    }
    if system:
        available = {
            "SenderId": SENDER_ID,
            "SentTimestamp": str(message.sent_epoch_ms),
            "ApproximateReceiveCount": str(message.receive_count),
            "ApproximateFirstReceiveTimestamp": str(message.first_receive_epoch_ms),
            "MessageGroupId": message.group_id,
            "MessageDeduplicationId": message.deduplication_id,
            "SequenceNumber": message.sequence_number,
            "AWSTraceHeader": message.system_attributes.get("AWSTraceHeader", {}).get(
                "StringValue"
            ),
            "DeadLetterQueueSourceArn": message.dead_letter_source_arn,
        }
        out["Attributes"] = {
            name: value
            for name, value in available.items()
            if value is not None and ("All" in system or name in system)
        }
    selected = select_message_attributes(message.attributes, attribute_names)
    if selected:
        out["MessageAttributes"] = selected
        out["MD5OfMessageAttributes"] = attributes_md5(selected)
    return out
