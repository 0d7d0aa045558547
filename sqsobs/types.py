"""What a listener's handler receives and returns, where sqs-fargate-listener's ``types`` had it.

Example::

    from sqsobs.types import SqsMessage, BatchResult
"""

from __future__ import annotations

from sqsobs.listener import BatchResult, SqsMessage

__all__ = ["BatchResult", "SqsMessage"]
