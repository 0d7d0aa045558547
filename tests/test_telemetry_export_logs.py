"""The exporter-log limiter: one warning per kind per interval, with the suppressed count."""

from __future__ import annotations

import logging

import pytest

from sqsobs.telemetry._export_logs import ExportLogLimiter
from tests.helpers import Clock


def record(
    msg: str, level: int = logging.WARNING, name: str = "opentelemetry.x"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, ("a",), None)


def test_once_per_interval_per_logger_and_template() -> None:
    clock = Clock()
    limiter = ExportLogLimiter(60.0, clock=clock)
    assert limiter.filter(record("Failed to export %s"))
    assert not any(limiter.filter(record("Failed to export %s")) for _ in range(50))
    # Another template, or the same from another logger, has its own budget.
    assert limiter.filter(record("Transient error %s"))
    assert limiter.filter(record("Failed to export %s", name="opentelemetry.y"))
    clock.now += 59.9
    assert not limiter.filter(record("Failed to export %s"))
    clock.now += 0.2
    again = record("Failed to export %s")
    assert limiter.filter(again)
    assert again.getMessage() == (
        "Failed to export a [51 similar messages suppressed in the last 60s]"
    )


@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO])
def test_lower_levels_always_pass(level: int) -> None:
    limiter = ExportLogLimiter(60.0, clock=Clock())
    assert all(limiter.filter(record("retrying", level)) for _ in range(5))
