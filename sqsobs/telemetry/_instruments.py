"""Instruments built from the catalog, on the global (or a given) MeterProvider.

Only ``opentelemetry-api`` is used: with no SDK configured every instrument is a no-op; once
:func:`sqsobs.configure_telemetry` (or the application) sets a MeterProvider, the API's proxy
instruments start recording. Observable instruments (buffer depth, in flight, worker capacity,
queue backlog) read their owners' real state at each collection; an owner is held weakly and read
until it is forgotten.

Example::

    inst = get_instruments()
    inst.counter(SENT_MESSAGES).add(10, {"messaging.system": "aws_sqs", ...})
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from opentelemetry import metrics
from opentelemetry.metrics import (
    CallbackOptions,
    Counter,
    Histogram,
    Meter,
    MeterProvider,
    Observation,
    UpDownCounter,
)

from sqsobs._version import __version__
from sqsobs.telemetry.catalog import CATALOG, MetricSpec

__all__ = ["INSTRUMENTATION_NAME", "SCHEMA_URL", "Instruments", "Reading", "get_instruments"]

logger = logging.getLogger(__name__)

Owner = TypeVar("Owner")
#: What an observed owner reports at one collection: (value, attributes) per series.
Reading = Iterable[tuple[float, Mapping[str, Any]]]

#: The instrumentation scope of every sqsobs meter and tracer.
INSTRUMENTATION_NAME = "sqsobs"
#: The semantic-conventions version sqsobs' names and attributes follow: the messaging
#: conventions as published in v1.43.0 (``create`` / ``send`` / ``receive`` / ``process`` /
#: ``settle`` operation types, ``messaging.client.*`` metrics, per-operation span definitions).
SCHEMA_URL = "https://opentelemetry.io/schemas/1.43.0"


class _Observed:
    """The owners an observable instrument reads at each collection, each held weakly.

    Dead owners are pruned when found, never from a weakref callback: the garbage collector may
    run one in the middle of this class's own dictionary work.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owners: dict[int, tuple[weakref.ref[Any], Callable[[Any], Reading]]] = {}

    def add(self, owner: Any, read: Callable[[Any], Reading]) -> None:
        with self._lock:
            self._owners[id(owner)] = (weakref.ref(owner), read)

    def remove(self, owner: Any) -> None:
        with self._lock:
            found = self._owners.get(id(owner))
            if found is not None and found[0]() is owner:
                del self._owners[id(owner)]

    def __call__(self, options: CallbackOptions) -> list[Observation]:
        with self._lock:
            owners = list(self._owners.items())
        observations: list[Observation] = []
        for key, (ref, read) in owners:
            owner = ref()
            if owner is None:
                self._prune(key, ref)
                continue
            try:
                observations.extend(Observation(value, dict(attrs)) for value, attrs in read(owner))
            except Exception:  # telemetry never breaks anything; this owner is skipped once
                logger.debug("reading %r for a gauge failed", owner, exc_info=True)
        return observations

    def _prune(self, key: int, ref: weakref.ref[Any]) -> None:
        with self._lock:
            found = self._owners.get(key)
            if found is not None and found[0] is ref:
                del self._owners[key]


class Instruments:
    """One instrument per catalog entry, created on ``meter``."""

    def __init__(self, meter: Meter) -> None:
        self._counters: dict[str, Counter] = {}
        self._updowns: dict[str, UpDownCounter] = {}
        self._histograms: dict[str, Histogram] = {}
        self._observed: dict[str, _Observed] = {}
        for spec in CATALOG:
            if spec.kind == "counter":
                self._counters[spec.name] = meter.create_counter(
                    spec.name, unit=spec.unit, description=spec.description
                )
            elif spec.kind == "updown_counter":
                self._updowns[spec.name] = meter.create_up_down_counter(
                    spec.name, unit=spec.unit, description=spec.description
                )
            elif spec.kind == "observable_updown_counter":
                observed = self._observed[spec.name] = _Observed()
                meter.create_observable_up_down_counter(
                    spec.name, callbacks=[observed], unit=spec.unit, description=spec.description
                )
            elif spec.kind == "observable_gauge":
                observed = self._observed[spec.name] = _Observed()
                meter.create_observable_gauge(
                    spec.name, callbacks=[observed], unit=spec.unit, description=spec.description
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

    def observe(self, spec: MetricSpec, owner: Owner, read: Callable[[Owner], Reading]) -> None:
        """Report ``read(owner)`` on the observable entry ``spec`` at every collection.

        ``owner`` is held weakly: once it is garbage (or :meth:`forget` was called) it is no
        longer read, so its series disappear. Exceptions from ``read`` are logged at debug.
        """
        self._observed[spec.name].add(owner, read)

    def forget(self, spec: MetricSpec, owner: object) -> None:
        """Stop reading ``owner`` for ``spec`` (nothing happens if it was not observed)."""
        self._observed[spec.name].remove(owner)


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
                INSTRUMENTATION_NAME,
                __version__,
                meter_provider=meter_provider,
                schema_url=SCHEMA_URL,
            )
            cached = (meter_provider, Instruments(meter))
            _cache[key] = cached
        return cached[1]
