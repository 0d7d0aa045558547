"""What ``sqsobs demo`` is asked to do, and what it measured.

Example::

    >>> result = DemoResult(messages=3, handled=3)
    >>> result.ok
    True
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["DemoOptions", "DemoResult"]


@dataclass(frozen=True)
class DemoOptions:
    """What the demo does (the command line's options)."""

    # Under 30 s end to end on 2 cores with the embedded (moto) server, whose receives slow
    # down as the backlog grows: 3,000 took 14 s, 10,000 took 57 s.
    messages: int = 3_000
    endpoint_url: str | None = None
    prometheus_port: int = 9464
    keep_serving: bool = False
    worker_threads: int = 16
    progress: bool | None = None  # None: only on a terminal


@dataclass
class DemoResult:
    """The demo's measurements; ``ok`` when every message was handled."""

    messages: int
    sent: int = 0
    handled: int = 0
    send_seconds: float = 0.0
    handle_seconds: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    splits: int = 0
    retries: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    trace_lines: list[str] = field(default_factory=list)
    metrics_url: str | None = None
    endpoint: str = ""

    @property
    def ok(self) -> bool:
        """True if every message was handled."""
        return self.handled == self.messages
