"""What a batch handler returns, and how the listener reads it.

A batch handler may return any of these (Lambda handlers port unchanged):

- ``BatchResult(failed_receipt_handles=[...])`` (sqs-fargate-listener's form); entries may also
  be message ids, and ``BatchResult(failed_message_ids=[...])`` is accepted too;
- Lambda's partial-batch response ``{"batchItemFailures": [{"itemIdentifier": message_id}]}``;
- a list of failed receipt handles, message ids or :class:`SqsMessage` objects;
- ``None`` or ``True``: every message succeeded; ``False``: the whole batch failed.

As in Lambda, complete success is also ``{}``, ``{"batchItemFailures": None}``,
``{"batchItemFailures": []}`` and ``[]``; and an identifier that is not in the batch (empty or
null included) fails the whole batch: the listener never guesses which message a handler meant, so
nothing is deleted that was not handled. A dict with other keys but no ``batchItemFailures`` (a
misspelt key, say) fails the whole batch too.

Example::

    def handle(messages: list[SqsMessage]) -> BatchResult:
        failed = [m.receipt_handle for m in messages if not process(m)]
        return BatchResult(failed_receipt_handles=failed)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqsobs.errors import ListenerError
from sqsobs.listener._message import SqsMessage

__all__ = ["BatchResult", "InvalidBatchResult", "failed_indexes"]


@dataclass
class BatchResult:
    """The outcome of a batch: which messages failed (all others are deleted)."""

    failed_receipt_handles: list[str] = field(default_factory=list)
    failed_message_ids: list[str] = field(default_factory=list)


class InvalidBatchResult(ListenerError):
    """A batch handler returned something the listener cannot read; the whole batch fails."""

    error_type = "invalid_batch_result"


def failed_indexes(result: object, messages: Sequence[SqsMessage]) -> set[int]:
    """Indexes of the failed ``messages``; raises InvalidBatchResult if unreadable."""
    if result is None or result is True:
        return set()
    if result is False:
        return set(range(len(messages)))
    identifiers = _identifiers(result)
    by_id: dict[str, int] = {}
    for index, message in enumerate(messages):
        by_id[message.receipt_handle] = index
        by_id[message.message_id] = index
    failed: set[int] = set()
    for identifier in identifiers:
        index = by_id.get(identifier, -1) if isinstance(identifier, str) else -1
        if index < 0:
            raise InvalidBatchResult(
                "the batch handler reported a failed item that is not in the batch "
                f"({_describe(identifier)}); failing the whole batch"
            )
        failed.add(index)
    return failed


def _identifiers(result: object) -> list[object]:
    if isinstance(result, BatchResult):
        return [*result.failed_receipt_handles, *result.failed_message_ids]
    if isinstance(result, Mapping):
        return _lambda_items(result)
    if isinstance(result, (list, tuple, set, frozenset)):
        return [item.message_id if isinstance(item, SqsMessage) else item for item in result]
    raise InvalidBatchResult(
        f"a batch handler must return BatchResult, a batchItemFailures dict, a list of failed "
        f"ids, or None; got {type(result).__name__}"
    )


def _lambda_items(result: Mapping[object, object]) -> list[object]:
    if not result:
        return []  # Lambda's empty response object: complete success
    if "batchItemFailures" not in result:
        raise InvalidBatchResult("a dict result needs a 'batchItemFailures' list")
    items = result["batchItemFailures"]
    if items is None:
        return []  # Lambda's null list: complete success
    if not isinstance(items, Iterable) or isinstance(items, (str, bytes)):
        raise InvalidBatchResult("'batchItemFailures' must be a list")
    identifiers: list[object] = []
    for item in items:
        if not isinstance(item, Mapping) or "itemIdentifier" not in item:
            raise InvalidBatchResult("each batchItemFailures entry needs an 'itemIdentifier'")
        identifiers.append(item["itemIdentifier"])
    return identifiers


def _describe(identifier: object) -> str:
    if not isinstance(identifier, str):
        return f"a {type(identifier).__name__}"
    # Receipt handles are long and opaque; a prefix is enough to recognise one in a log.
    return repr(identifier[:16] + ("..." if len(identifier) > 16 else ""))
