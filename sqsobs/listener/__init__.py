"""The Lambda-like listener: ``@sqs_listener``, ``run_listeners()`` and :class:`Listener`.

Example::

    from sqsobs import sqs_listener, run_listeners
    from sqsobs.types import SqsMessage, BatchResult

    @sqs_listener(queue_url="orders", mode="batch", batch_size=10)
    def handle(messages: list[SqsMessage]) -> BatchResult:
        return BatchResult(failed_receipt_handles=[])

    run_listeners()
"""

from __future__ import annotations

from sqsobs.listener._listener import Listener
from sqsobs.listener._message import SqsMessage
from sqsobs.listener._registry import (
    clear_listeners,
    registered_listeners,
    request_shutdown,
    run_listeners,
    sqs_listener,
)
from sqsobs.listener._results import BatchResult, InvalidBatchResult
from sqsobs.listener._settings import ListenerSettings

__all__ = [
    "BatchResult",
    "InvalidBatchResult",
    "Listener",
    "ListenerSettings",
    "SqsMessage",
    "clear_listeners",
    "registered_listeners",
    "request_shutdown",
    "run_listeners",
    "sqs_listener",
]
