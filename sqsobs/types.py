"""The seed's ``types`` module: what a listener's handler receives and returns.

Example::

    from sqsobs.types import SqsMessage, BatchResult
"""

from __future__ import annotations

from sqsobs.listener import BatchResult, SqsMessage

__all__ = ["BatchResult", "SqsMessage"]
