"""Retry groups: the messages of one failed batch, waiting out their backoff together.

Example::

    group = RetryGroup.schedule(messages, cause="InternalError", parent=None,
                                backoff=Backoff(0.2, 20.0))
    group.due   # time.monotonic() when the flusher sends them again
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from opentelemetry.trace import SpanContext

from sqsobs._backoff import Backoff
from sqsobs.producer._messages import PendingMessage

__all__ = ["RetryGroup"]


@dataclass
class RetryGroup:
    """Messages of one failed batch waiting out their backoff before being sent again."""

    due: float
    messages: list[PendingMessage]
    attempt: int
    backoff_seconds: float
    cause: str
    parent: SpanContext | None

    @classmethod
    def schedule(
        cls,
        messages: list[PendingMessage],
        *,
        cause: str,
        parent: SpanContext | None,
        backoff: Backoff,
    ) -> RetryGroup:
        """A group due after ``backoff``'s delay for the attempt its messages have made."""
        attempt = messages[0].attempts
        delay = backoff.delay(attempt)
        return cls(
            due=time.monotonic() + delay,
            messages=messages,
            attempt=attempt,
            backoff_seconds=delay,
            cause=cause,
            parent=parent,
        )
