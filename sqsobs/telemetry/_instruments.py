"""Instruments built from the catalog, on the global (or a given) MeterProvider.

Only ``opentelemetry-api`` is used: with no SDK configured every instrument is a no-op; once
:func:`sqsobs.configure_telemetry` (or the application) sets a MeterProvider, the API's proxy
instruments start recording.

Example::

    inst = get_instruments()
    inst.counter(SENT_MESSAGES).add(10, {"messaging.system": "aws_sqs", ...})
"""

from __future__ import annotations

import threading

from opentelemetry import metrics
from opentelemetry.metrics import Counter, Histogram, Meter, MeterProvider, UpDownCounter

from sqsobs._version import __version__
from sqsobs.telemetry.catalog import CATALOG, MetricSpec

__all__ = ["INSTRUMENTATION_NAME", "Instruments", "get_instruments"]

#: The instrumentation scope of every sqsobs meter and tracer.
INSTRUMENTATION_NAME = "sqsobs"


class Instruments:
    """One instrument per catalog entry, created on ``meter``."""

    def __init__(self, meter: Meter) -> None:
        self._counters: dict[str, Counter] = {}
        self._updowns: dict[str, UpDownCounter] = {}
        self._histograms: dict[str, Histogram] = {}
        for spec in CATALOG:
            if spec.kind == "counter":
                self._counters[spec.name] = meter.create_counter(
                    spec.name, unit=spec.unit, description=spec.description
                )
            elif spec.kind == "updown_counter":
                self._updowns[spec.name] = meter.create_up_down_counter(
                    spec.name, unit=spec.unit, description=spec.description
                )
            else:
                # An empty advisory would mean one bucket; None keeps the SDK's default.
                buckets = list(spec.buckets) if spec.buckets else None
                self._histograms[spec.name] = meter.create_histogram(
                    spec.name,
                    unit=spec.unit,
                    description=spec.description,
                    explicit_bucket_boundaries_advisory=buckets,
                )

    def counter(self, spec: MetricSpec) -> Counter:
        """The Counter for a ``counter`` catalog entry."""
        return self._counters[spec.name]

    def updown(self, spec: MetricSpec) -> UpDownCounter:
        """The UpDownCounter for an ``updown_counter`` catalog entry."""
        return self._updowns[spec.name]

    def histogram(self, spec: MetricSpec) -> Histogram:
        """The Histogram for a ``histogram`` catalog entry."""
        return self._histograms[spec.name]


_lock = threading.Lock()
_cache: dict[int, tuple[MeterProvider | None, Instruments]] = {}


def get_instruments(meter_provider: MeterProvider | None = None) -> Instruments:
    """The instruments on ``meter_provider`` (default: the global one), built once per provider.

    Example::

        get_instruments().counter(FLUSHES).add(
            1, metric_attributes(FLUSHES, "orders", flush_reason="manual")
        )
    """
    key = id(meter_provider)
    with _lock:
        cached = _cache.get(key)
        if cached is None or cached[0] is not meter_provider:
            meter = metrics.get_meter(
                INSTRUMENTATION_NAME, __version__, meter_provider=meter_provider
            )
            cached = (meter_provider, Instruments(meter))
            _cache[key] = cached
        return cached[1]
