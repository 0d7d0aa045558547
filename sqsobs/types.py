"""What a listener's handler receives and returns, where sqs-fargate-listener's ``types`` had it.

``PayloadPointer`` is where a large message's payload was stored in S3
(:attr:`SqsMessage.payload_pointer`).

Example::

    from sqsobs.types import SqsMessage, BatchResult
"""

from __future__ import annotations

from sqsobs._payloads._pointer import PayloadPointer
from sqsobs.listener import BatchResult, SqsMessage

__all__ = ["BatchResult", "PayloadPointer", "SqsMessage"]
