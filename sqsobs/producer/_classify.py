"""What became of each entry of a SendMessageBatch call: accepted, failed for good, or retryable.

An entry is retryable when SQS blames itself (``SenderFault=false``), throttles, or gives no
result for it; ``SenderFault=true`` fails it at once. A call that failed as a whole (5xx,
throttling, connection errors) fails every entry alike, retryable when the error is.

Example::

    delivered, failures = classify(batch, response)
    [(message.entry["Id"], failure.kind) for message, failure in failures]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqsobs.errors import is_throttling, translate_client_error
from sqsobs.producer._messages import PendingMessage

__all__ = ["Failure", "call_failure", "classify", "requests_made", "unexpected_failure"]


@dataclass(frozen=True)
class Failure:
    """Why one entry was not accepted, and whether sending it again may help."""

    code: str
    message: str
    sender_fault: bool
    retryable: bool
    cause: BaseException | None = None
    #: The entry never reached SQS (its payload's upload failed): its future gets this error.
    unsent_error: BaseException | None = None

    @property
    def kind(self) -> str:
        """The ``error.type`` attribute value."""
        return self.code or "unknown"


_MISSING = Failure("MissingResult", "SQS returned no result for the entry", False, True)


def classify(
    batch: Sequence[PendingMessage], response: Mapping[str, Any]
) -> tuple[list[tuple[PendingMessage, str]], list[tuple[PendingMessage, Failure]]]:
    """Split a SendMessageBatch response into (delivered, failures), in batch order."""
    accepted = {item["Id"]: item["MessageId"] for item in response.get("Successful") or ()}
    rejected = {item["Id"]: item for item in response.get("Failed") or ()}
    delivered: list[tuple[PendingMessage, str]] = []
    failures: list[tuple[PendingMessage, Failure]] = []
    for message in batch:
        entry_id = message.entry["Id"]
        message_id = accepted.get(entry_id)
        if message_id is not None:
            delivered.append((message, str(message_id)))
            continue
        item = rejected.get(entry_id)
        failures.append((message, _MISSING if item is None else _entry_failure(item)))
    return delivered, failures


def _entry_failure(item: Mapping[str, Any]) -> Failure:
    code = str(item.get("Code", "") or "")
    sender_fault = bool(item.get("SenderFault", False))
    return Failure(
        code=code,
        message=str(item.get("Message", "") or ""),
        sender_fault=sender_fault,
        retryable=not sender_fault or is_throttling(code),
    )


def call_failure(exc: Exception) -> Failure:
    """The failure of every entry of a call that raised ``exc`` (translated to an SqsError)."""
    error = translate_client_error(exc, operation="SendMessageBatch")
    return Failure(
        code=error.code or type(exc).__name__,
        message=str(error),
        sender_fault=bool(error.sender_fault),
        retryable=error.retryable,
        cause=error,
    )


def unexpected_failure(exc: Exception) -> Failure:
    """An exception from the send path itself (not an SQS answer): retryable, as a lost call."""
    return Failure(type(exc).__name__, str(exc), sender_fault=False, retryable=True, cause=exc)


def requests_made(outcome: Mapping[str, Any] | BaseException) -> int:
    """HTTP requests behind one call: 1, plus the retries botocore made underneath, if any.

    ``outcome`` is the response, or the exception the call raised (a ClientError carries the
    response it ended with; a connection error carries nothing, so it counts as one request).
    """
    response = outcome if isinstance(outcome, Mapping) else getattr(outcome, "response", None)
    if not isinstance(response, Mapping):
        return 1
    metadata = response.get("ResponseMetadata") or {}
    return 1 + int(metadata.get("RetryAttempts", 0) or 0)
