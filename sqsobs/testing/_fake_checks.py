"""SQS's checks of a request and of each message, answered with the codes SQS gives.

Batch requests: 1 to 10 entries, distinct ids of letters, digits, ``-`` and ``_``. Messages: the
rules of :func:`sqsobs.limits.validate_message` (size, characters, attributes, FIFO ids), a
group id on a FIFO queue, and ``AWSTraceHeader`` as the only system attribute. Each check
raises :class:`~sqsobs.testing._fake_wire.SqsFault`.

Example::

    check_batch(entries, "SendMessageBatchRequestEntry")
    count = check_range("MaxNumberOfMessages", 11, 1, 10)   # raises InvalidParameterValue
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqsobs.errors import InvalidMessage, MessageTooLarge
from sqsobs.limits import MAX_BATCH_ENTRIES, validate_body, validate_message
from sqsobs.testing._fake_store import StoredQueue
from sqsobs.testing._fake_wire import SqsFault

__all__ = ["check_batch", "check_message", "check_range", "system_attributes"]

_ENTRY_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")


def _invalid(parameter: str, value: Any, reason: str) -> SqsFault:
    return SqsFault(
        "InvalidParameterValue",
        f"Value {value} for parameter {parameter} is invalid. Reason: {reason}",
    )


def check_range(parameter: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(parameter, value, f"Must be between {low} and {high}, if provided.")
    return value


def check_batch(entries: Sequence[Mapping[str, Any]], kind: str) -> None:
    """SQS's checks of a whole batch request; each raises for the call, not an entry."""
    if not entries:
        raise SqsFault("EmptyBatchRequest", f"There should be at least one {kind} in the request.")
    if len(entries) > MAX_BATCH_ENTRIES:
        raise SqsFault(
            "TooManyEntriesInBatchRequest",
            f"Maximum number of entries per request are {MAX_BATCH_ENTRIES}. "
            f"You have sent {len(entries)}.",
        )
    seen: set[str] = set()
    for entry in entries:
        entry_id = entry.get("Id")
        if not isinstance(entry_id, str) or not _ENTRY_ID.fullmatch(entry_id):
            raise SqsFault(
                "InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and "
                "underscores. It can be at most 80 letters long.",
            )
        if entry_id in seen:
            raise SqsFault("BatchEntryIdsNotDistinct", f"Id {entry_id} repeated.")
        seen.add(entry_id)


def check_message(queue: StoredQueue, entry: Mapping[str, Any]) -> None:
    """SQS's checks of one message, answered with the code SQS gives."""
    body, group = entry.get("MessageBody"), entry.get("MessageGroupId")
    if queue.fifo and group is None:
        raise SqsFault("MissingParameter", "The request must contain the parameter MessageGroupId.")
    try:
        validate_body(body)
    except InvalidMessage as error:
        raise SqsFault("InvalidMessageContents", str(error)) from None
    limit = queue.number("MaximumMessageSize")
    try:
        validate_message(
            body,
            entry.get("MessageAttributes"),
            max_size_bytes=limit,
            delay_seconds=entry.get("DelaySeconds"),
            group_id=group,
            deduplication_id=entry.get("MessageDeduplicationId"),
            fifo=queue.fifo,
        )
    except MessageTooLarge:
        raise SqsFault(
            "InvalidParameterValue",
            f"One or more parameters are invalid. Reason: Message must be shorter than {limit} "
            "bytes.",
        ) from None
    except InvalidMessage as error:
        raise SqsFault("InvalidParameterValue", str(error)) from None


def system_attributes(given: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """MessageSystemAttributes: only ``AWSTraceHeader`` (a String) exists."""
    attributes = {name: dict(value) for name, value in (given or {}).items()}
    for name, value in attributes.items():
        if name != "AWSTraceHeader" or value.get("DataType") != "String":
            raise SqsFault(
                "InvalidParameterValue",
                f"Message system attribute {name!r} is not supported; only AWSTraceHeader "
                "(String) is",
            )
        if not value.get("StringValue"):
            raise SqsFault("InvalidParameterValue", "AWSTraceHeader needs a StringValue")
    return attributes
