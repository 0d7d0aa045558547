"""How many messages a per-message listener may hold for busy workers: :class:`PrefetchBound`.

In per-message mode a receive asks for up to ``batch_size`` messages once the workers are nearly
free, and what the workers cannot start at once waits in a small buffer (the heartbeat keeps those
messages invisible like running ones; shutdown makes them visible again at once). The buffer never
holds more than the workers can start within half a visibility timeout, judged by how long handler
tasks took::

    limit = min(max_prefetch, workers * floor((visibility_secs / 2) / task_seconds))

A buffered message at position ``k`` starts after at most ``floor(k / workers) + 1`` task
durations (the running tasks may all have just begun), so every buffered message starts before
its first heartbeat would be due. Nothing is prefetched until a task has been timed. The estimate
``task_seconds`` rises at once to a slower task and comes down by a tenth of the gap per faster
one: a slow burst shrinks the buffer at once, a single fast task does not grow it back.

Example::

    bound = PrefetchBound(workers=4, most=10, visibility_secs=60)
    bound.limit()       # 0: nothing timed yet
    bound.observe(1.5)  # a handler task took 1.5 s
    bound.limit()       # min(10, 4 * floor(30 / 1.5)) = 10
"""

from __future__ import annotations

import math

__all__ = ["PrefetchBound"]

#: How far a faster task pulls the estimate down (a share of the gap).
_DECAY = 0.1
#: Durations below this count as this (a no-op handler, a coarse clock).
_SHORTEST_SECONDS = 1e-6


class PrefetchBound:
    """The most tasks that may wait for a worker now. Not thread-safe: its pool's lock guards it."""

    def __init__(self, *, workers: int, most: int, visibility_secs: int) -> None:
        self.workers = workers
        self.most = most
        self.horizon_seconds = visibility_secs / 2.0
        #: The conservative duration of one handler task, or None before the first one ended.
        self.task_seconds: float | None = None

    def observe(self, seconds: float) -> None:
        """A handler task took ``seconds``."""
        seconds = max(seconds, _SHORTEST_SECONDS)
        current = self.task_seconds
        if current is None or seconds >= current:
            self.task_seconds = seconds
        else:
            self.task_seconds = current - (current - seconds) * _DECAY

    def limit(self) -> int:
        """How many tasks may wait for a worker (0: prefetch nothing)."""
        if self.most == 0 or self.task_seconds is None:
            return 0
        rounds = math.floor(self.horizon_seconds / self.task_seconds)
        return min(self.most, self.workers * rounds)
