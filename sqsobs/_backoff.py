"""Exponential backoff as a value: one :class:`Backoff` per kind of retry, shared safely.

Every retry loop of sqsobs holds a named instance (the producer's per-entry retries, the
listener's poll errors, the acker's failed calls, the visibility of a failed message) and asks it
for the delay of attempt ``n``. Instances are immutable, so one is shared by every thread.

Example::

    >>> POLL = Backoff(base_seconds=0.4, max_seconds=20.0)
    >>> POLL.delay(1, rand=lambda: 1.0), POLL.delay(10, rand=lambda: 1.0)
    (0.4, 20.0)
    >>> Backoff(30, 600, jitter=False).delay(3)
    120.0
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Backoff"]

# 2**62 seconds is far past any cap; a larger exponent only risks overflow.
_MAX_EXPONENT = 62


@dataclass(frozen=True)
class Backoff:
    """``min(max_seconds, base_seconds * 2**(attempt - 1))``, with full jitter unless disabled.

    Full jitter (a uniform draw in ``[0, ceiling]``) keeps many clients that failed together from
    retrying in step.
    """

    base_seconds: float
    max_seconds: float
    jitter: bool = True

    def ceiling(self, attempt: int) -> float:
        """The longest delay of ``attempt`` (1 = the first retry)."""
        exponent = min(max(attempt - 1, 0), _MAX_EXPONENT)
        return float(min(self.max_seconds, self.base_seconds * 2**exponent))

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before ``attempt``."""
        ceiling = self.ceiling(attempt)
        return rand() * ceiling if self.jitter else ceiling
