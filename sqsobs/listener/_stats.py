"""What a listener did, counted: :class:`ListenerStats` (served as JSON by the health endpoint).

Example::

    stats = ListenerStats()
    stats.add(received=10, succeeded=9, failed=1)
    stats.snapshot()   # {"received": 10, "succeeded": 9, "failed": 1, "filtered": 0, ...}
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field

__all__ = ["ListenerStats"]


@dataclass
class ListenerStats:
    """Counts of what a listener did: received, succeeded, failed, filtered, released."""

    received: int = 0
    succeeded: int = 0
    failed: int = 0
    filtered: int = 0
    released: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        """Add to the named counters."""
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def snapshot(self) -> dict[str, int]:
        """The counters as a dict."""
        with self._lock:
            return {
                f.name: getattr(self, f.name)
                for f in dataclasses.fields(self)
                if not f.name.startswith("_")
            }
