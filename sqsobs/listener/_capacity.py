"""How much of a listener's worker capacity is used: busy workers, and their busy time.

:class:`BusyTime` integrates the number of running handlers over time, so the utilisation it
reports is the share of worker time spent in handlers over the last minute, not a sample of one
instant: a gauge read every 60 s (an OTLP export, a CloudWatch datapoint) of workers busy 30 % of
the time reads 30 %, where an instantaneous sample reads 0 % or 100 % by chance. The worker pool
tells it every change of its running count (under the pool's lock: a few float operations); it
keeps a sample of the integral at most once a second for the window.

Example::

    busy = BusyTime(slots=4)
    busy.change(running=1)      # a handler started
    busy.utilization()          # 0.0 .. 1.0 over the last minute (or since the start)
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

from sqsobs.telemetry.catalog import (
    PREFETCHED,
    WORKERS_BUSY,
    WORKERS_SLOTS,
    WORKERS_UTILIZATION,
    MetricSpec,
)

__all__ = ["WINDOW_SECONDS", "BusyTime", "Capacity", "HasCapacity", "capacity_readings"]

#: The window the utilisation is averaged over.
WINDOW_SECONDS = 60.0
#: At most one sample of the integral per this many seconds.
_SAMPLE_SECONDS = 1.0


class Capacity(NamedTuple):
    """A listener's worker capacity, read at one instant."""

    busy: int  #: workers running a handler
    slots: int  #: workers (handlers that can run at once)
    prefetched: int  #: received messages waiting for a worker
    utilization: float  #: share of worker time busy over the window, 0.0 .. 1.0


class BusyTime:
    """The integral of running handlers over time; not thread-safe (the pool's lock guards it)."""

    def __init__(
        self,
        slots: int,
        *,
        window_seconds: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._slots = slots
        self._window = window_seconds
        self._clock = clock
        now = clock()
        self._started = now
        self._running = 0
        self._changed_at = now
        self._integral = 0.0  # worker-seconds in handlers, from the start to _changed_at
        # (time, integral at that time), one per second at most, covering the window.
        self._samples: deque[tuple[float, float]] = deque([(now, 0.0)])

    def change(self, running: int) -> None:
        """The pool now runs ``running`` handlers."""
        now = self._clock()
        self._integral += self._running * (now - self._changed_at)
        self._running = running
        self._changed_at = now
        if now - self._samples[-1][0] >= _SAMPLE_SECONDS:
            self._samples.append((now, self._integral))
            # Keep one sample at or before the window's start, for the interpolation.
            while len(self._samples) > 2 and self._samples[1][0] <= now - self._window:
                self._samples.popleft()

    def utilization(self) -> float:
        """Busy worker time over worker time in the last ``window_seconds`` (or since start)."""
        now = self._clock()
        start = max(self._started, now - self._window)
        if now <= start:
            return self._running / self._slots
        busy = self._integral_at(now) - self._integral_at(start)
        return min(1.0, max(0.0, busy / (self._slots * (now - start))))

    def _integral_at(self, moment: float) -> float:
        if moment >= self._changed_at:  # exact: nothing changed since
            return self._integral + self._running * (moment - self._changed_at)
        before = self._samples[0]
        after = (self._changed_at, self._integral)
        for sample in self._samples:
            if sample[0] <= moment:
                before = sample
            else:
                after = sample
                break
        # Between two samples: linear. Every change after a sample but the ones in its first
        # second makes the next sample, so the error is at most a second of every worker.
        if after[0] <= before[0]:
            return before[1]
        share = (moment - before[0]) / (after[0] - before[0])
        return before[1] + share * (after[1] - before[1])


class HasCapacity(Protocol):
    """What the capacity gauges read (the worker pool)."""

    def capacity(self) -> Capacity:
        """Busy workers, slots, waiting messages and utilisation, now."""
        ...


Reading = list[tuple[float, Mapping[str, Any]]]

#: What each capacity gauge reports of a :class:`Capacity` (utilisation in percent).
_FIELDS: dict[MetricSpec, Callable[[Capacity], float]] = {
    WORKERS_BUSY: lambda c: c.busy,
    WORKERS_SLOTS: lambda c: c.slots,
    PREFETCHED: lambda c: c.prefetched,
    WORKERS_UTILIZATION: lambda c: round(100.0 * c.utilization, 2),
}


def capacity_readings(
    attributes: Mapping[str, Any],
) -> dict[MetricSpec, Callable[[HasCapacity], Reading]]:
    """One read function per capacity gauge, each reporting ``attributes`` with its value.

    Plain functions over the attributes: a gauge holds only the pool, weakly (see
    :meth:`~sqsobs.telemetry.Instruments.observe`).
    """

    def reading(pick: Callable[[Capacity], float]) -> Callable[[HasCapacity], Reading]:
        def read(pool: HasCapacity) -> Reading:
            return [(pick(pool.capacity()), attributes)]

        return read

    return {spec: reading(pick) for spec, pick in _FIELDS.items()}
