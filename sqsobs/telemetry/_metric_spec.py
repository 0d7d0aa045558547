"""What one instrument of the catalog is, and the names Prometheus shows for it.

A :class:`MetricSpec` is a row of :data:`sqsobs.telemetry.catalog.CATALOG`. Its Prometheus
names follow the rules of ``opentelemetry-exporter-prometheus`` (and the Collector's Prometheus
exporters): names and attribute keys are sanitized, the unit becomes a word suffix, counters get
``_total``. Dashboards and alerts are written against the names a scrape shows;
``tests/test_catalog.py`` checks these rules against the exporter and a scrape.

Example::

    >>> spec = MetricSpec("app.jobs", "counter", "{job}", "Jobs done.", ("queue",), "both")
    >>> spec.prometheus_name, spec.prometheus_type
    ('app_jobs_total', 'counter')
    >>> prometheus_label("messaging.destination.name")
    'messaging_destination_name'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["Kind", "MetricSpec", "Side", "prometheus_label", "prometheus_metric_name"]

# UCUM unit -> Prometheus suffix; annotations in braces such as ``{message}`` add no suffix.
_UNIT_WORDS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
    "us": "microseconds", "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes",
    "MiBy": "mebibytes", "GiBy": "gibibytes", "KBy": "kilobytes", "MBy": "megabytes",
    "GBy": "gigabytes", "1": "", "%": "percent",
}  # fmt: skip
_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9:]+")
_LABEL_UNSAFE = re.compile(r"[^a-zA-Z0-9]+")
_ANNOTATION = re.compile(r"\{.*\}")


def prometheus_metric_name(name: str, unit: str, *, counter: bool) -> str:
    """The metric family name of an instrument called ``name`` measuring in ``unit``."""
    base = _NAME_UNSAFE.sub("_", name)
    bare_unit = _ANNOTATION.sub("", unit)
    word = _UNIT_WORDS.get(bare_unit, _NAME_UNSAFE.sub("_", bare_unit).strip("_"))
    if word and not base.endswith(f"_{word}"):
        base = f"{base}_{word}"
    return f"{base}_total" if counter else base


def prometheus_label(attribute: str) -> str:
    """The Prometheus label an OpenTelemetry attribute becomes: ``error.type`` -> ``error_type``."""
    return _LABEL_UNSAFE.sub("_", attribute)


#: ``observable_updown_counter``: read from the real state at each collection (a gauge to
#: Prometheus), never moved by deltas. ``observable_gauge``: the same for values that do not add
#: up across instances (a queue's backlog, a ratio); exported as a gauge everywhere, where an
#: up-down counter is a cumulative sum (which CloudWatch's EMF exporter turns into deltas).
Kind = Literal[
    "counter", "updown_counter", "observable_updown_counter", "observable_gauge", "histogram"
]
Side = Literal["producer", "listener", "both"]

_PROMETHEUS_TYPES = {
    "counter": "counter",
    "updown_counter": "gauge",
    "observable_updown_counter": "gauge",
    "observable_gauge": "gauge",
    "histogram": "histogram",
}


@dataclass(frozen=True)
class MetricSpec:
    """One instrument: what it is called, measures, carries and how Prometheus names it.

    Example::

        >>> spec = MetricSpec("app.batch.size", "histogram", "By", "Bytes per batch.",
        ...                   ("messaging.destination.name",), "producer", (1024.0, 65536.0))
        >>> spec.prometheus_name, spec.prometheus_labels
        ('app_batch_size_bytes', ('messaging_destination_name',))
    """

    name: str
    kind: Kind
    unit: str
    description: str
    attributes: tuple[str, ...]
    side: Side
    buckets: tuple[float, ...] | None = None

    @property
    def prometheus_name(self) -> str:
        """The metric family name the OpenTelemetry Prometheus exporter gives this instrument.

        Counters are exposed with a ``_total`` suffix; histograms as ``_bucket``, ``_sum`` and
        ``_count`` series of this family.
        """
        return prometheus_metric_name(self.name, self.unit, counter=self.kind == "counter")

    @property
    def prometheus_type(self) -> str:
        """The Prometheus metric type: counter, gauge (up-down counters) or histogram."""
        return _PROMETHEUS_TYPES[self.kind]

    @property
    def prometheus_labels(self) -> tuple[str, ...]:
        """The attribute names as Prometheus labels (dots become underscores)."""
        return tuple(prometheus_label(attribute) for attribute in self.attributes)
