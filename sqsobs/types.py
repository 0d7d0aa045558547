"""The seed's ``types`` module: what a listener's handler receives and returns.

Example::

    from sqsobs.types import SqsMessage, BatchResult
"""

from __future__ import annotations

from sqsobs.listener.message import SqsMessage
from sqsobs.listener.results import BatchResult

__all__ = ["BatchResult", "SqsMessage"]
