"""Batch calls the listener makes besides ReceiveMessage, with per-entry results.

Every call carries at most 10 entries (SQS's limit, which moto does not enforce), and every entry
of the answer is checked: the caller learns which succeeded, which failed, and whether a failure is
worth retrying.

Example::

    outcome = change_visibility_batch(client, url, [("rh-1", 30), ("rh-2", 30)])
    outcome.succeeded  # ["rh-1", "rh-2"]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqsobs.errors import translate_client_error
from sqsobs.limits import MAX_BATCH_ENTRIES
from sqsobs.telemetry import aws_request_id

__all__ = ["BatchOutcome", "change_visibility_batch", "chunks", "delete_batch"]


@dataclass
class BatchOutcome:
    """Receipt handles that succeeded, the failed ones with (code, retryable), the request id."""

    succeeded: list[str] = field(default_factory=list)
    failed: dict[str, tuple[str, bool]] = field(default_factory=dict)
    request_id: str | None = None


def chunks(items: Sequence[Any], size: int = MAX_BATCH_ENTRIES) -> list[Sequence[Any]]:
    """``items`` in consecutive slices of at most ``size``."""
    return [items[start : start + size] for start in range(0, len(items), size)]


def delete_batch(client: Any, queue_url: str, handles: Sequence[str]) -> BatchOutcome:
    """One DeleteMessageBatch (at most 10 handles); raises translated errors for the whole call."""
    _check_size(handles)
    entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)]
    try:
        response = client.delete_message_batch(QueueUrl=queue_url, Entries=entries)
    except Exception as error:
        raise translate_client_error(error, operation="DeleteMessageBatch") from error
    return _outcome(response, handles)


def change_visibility_batch(
    client: Any, queue_url: str, entries: Sequence[tuple[str, int]]
) -> BatchOutcome:
    """One ChangeMessageVisibilityBatch of (receipt handle, seconds), at most 10 entries."""
    _check_size(entries)
    request = [
        {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
        for i, (handle, seconds) in enumerate(entries)
    ]
    try:
        response = client.change_message_visibility_batch(QueueUrl=queue_url, Entries=request)
    except Exception as error:
        raise translate_client_error(error, operation="ChangeMessageVisibilityBatch") from error
    return _outcome(response, [handle for handle, _ in entries])


def _check_size(entries: Sequence[Any]) -> None:
    if not 0 < len(entries) <= MAX_BATCH_ENTRIES:
        raise ValueError(f"a batch call takes 1..{MAX_BATCH_ENTRIES} entries, got {len(entries)}")


#: Entry error codes that mean the receipt handle no longer names an in-flight message. The JSON
#: protocol may add an ``Exception`` suffix (``InvalidParameterValueException``); AWS answers an
#: expired handle with ``InvalidParameterValue``.
_SPENT_HANDLE_CODES = frozenset(
    {"ReceiptHandleIsInvalid", "MessageNotInflight", "InvalidParameterValue"}
)


def _spent(code: str) -> bool:
    return code.removesuffix("Exception") in _SPENT_HANDLE_CODES


def _outcome(response: dict[str, Any], handles: Sequence[str]) -> BatchOutcome:
    outcome = BatchOutcome(request_id=aws_request_id(response))
    answered: set[int] = set()
    for entry in response.get("Successful", []) or []:
        index = int(entry["Id"])
        answered.add(index)
        outcome.succeeded.append(handles[index])
    for entry in response.get("Failed", []) or []:
        index = int(entry["Id"])
        answered.add(index)
        code = str(entry.get("Code") or "unknown")
        # SenderFault=False means SQS itself failed the entry: sending it again may work, unless
        # the code says the handle is spent (deleted, expired, received again), which no retry
        # mends whatever SenderFault says (LocalStack marks those SenderFault=false too).
        retryable = not entry.get("SenderFault", False) and not _spent(code)
        outcome.failed[handles[index]] = (code, retryable)
    for index, handle in enumerate(handles):
        if index not in answered:
            outcome.failed[handle] = ("missing_from_response", True)
    return outcome
