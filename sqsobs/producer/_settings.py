"""The producer's settings, resolved argument > environment > default when it is built.

Environment variables (all optional): ``SQSOBS_BATCH_INTERVAL``, ``SQSOBS_IDLE_TIMEOUT``,
``SQSOBS_BATCH_SIZE``, ``SQSOBS_MAX_BUFFER_SIZE_PER_QUEUE``, ``SQSOBS_MAX_RETRY_ATTEMPTS``,
``SQSOBS_MAX_BATCH_BYTES``, ``SQSOBS_BUFFER_FULL_TIMEOUT``, ``SQSOBS_MAX_CONCURRENT_SENDS``,
``SQSOBS_RETRY_BACKOFF_BASE``, ``SQSOBS_RETRY_BACKOFF_MAX``, ``SQSOBS_SHUTDOWN_TIMEOUT``,
``SQSOBS_FLUSH_AT_EXIT``, ``SQSOBS_XRAY_TRACE_HEADER``.

Example::

    settings = resolve_settings(default_batch_interval=0.5, group_batch_intervals={"hot": 0})
    settings.batch_interval("hot")   # 0.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqsobs._config import bool_setting, float_setting, int_setting
from sqsobs.errors import ConfigError
from sqsobs.limits import MAX_BATCH_ENTRIES, MAX_BATCH_PAYLOAD_BYTES, MIN_MESSAGE_SIZE_SETTING_BYTES

__all__ = ["ProducerSettings", "resolve_settings"]


@dataclass(frozen=True)
class ProducerSettings:
    """Every knob of :class:`~sqsobs.producer.BatchProducer`, validated."""

    default_batch_interval: float = 1.0
    default_idle_timeout: float = 0.1
    batch_size: int = MAX_BATCH_ENTRIES
    group_batch_intervals: Mapping[str, float] = field(default_factory=dict)
    group_idle_timeouts: Mapping[str, float] = field(default_factory=dict)
    max_buffer_size_per_queue: int = 5000
    max_retry_attempts: int = 3
    max_batch_bytes: int = MAX_BATCH_PAYLOAD_BYTES
    buffer_full_timeout_seconds: float = 5.0
    max_concurrent_sends: int = 4
    retry_backoff_base_seconds: float = 0.2
    retry_backoff_max_seconds: float = 20.0
    shutdown_timeout_seconds: float = 30.0
    flush_at_exit: bool = True
    xray_trace_header: bool = False

    def batch_interval(self, *names: str) -> float:
        """The batch interval of the first of ``names`` with an override, else the default."""
        return _lookup(self.group_batch_intervals, names, self.default_batch_interval)

    def idle_timeout(self, *names: str) -> float:
        """The idle timeout of the first of ``names`` with an override, else the default."""
        return _lookup(self.group_idle_timeouts, names, self.default_idle_timeout)


def _lookup(overrides: Mapping[str, float], names: tuple[str, ...], default: float) -> float:
    for name in names:
        if name in overrides:
            return overrides[name]
    return default


def _per_queue(setting: str, value: Mapping[str, float] | None) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(setting, "must be a mapping of queue name to seconds")
    checked: dict[str, float] = {}
    for queue, seconds in value.items():
        name = f"{setting}[{queue!r}]"
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise ConfigError(name, f"must be a number, got {type(seconds).__name__}")
        if not math.isfinite(seconds) or seconds < 0:
            raise ConfigError(name, f"must be a finite number >= 0, got {seconds!r}")
        checked[str(queue)] = float(seconds)
    return checked


def resolve_settings(
    *,
    default_batch_interval: float | None = None,
    default_idle_timeout: float | None = None,
    batch_size: int | None = None,
    group_batch_intervals: Mapping[str, float] | None = None,
    group_idle_timeouts: Mapping[str, float] | None = None,
    max_buffer_size_per_queue: int | None = None,
    max_retry_attempts: int | None = None,
    max_batch_bytes: int | None = None,
    buffer_full_timeout_seconds: float | None = None,
    max_concurrent_sends: int | None = None,
    retry_backoff_base_seconds: float | None = None,
    retry_backoff_max_seconds: float | None = None,
    shutdown_timeout_seconds: float | None = None,
    flush_at_exit: bool | None = None,
    xray_trace_header: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> ProducerSettings:
    """Build :class:`ProducerSettings`: each value from argument, environment, or default."""
    d = ProducerSettings()
    env = environ
    return ProducerSettings(
        default_batch_interval=float_setting(
            "default_batch_interval", default_batch_interval, env="SQSOBS_BATCH_INTERVAL",
            default=d.default_batch_interval, minimum=0, environ=env,
        ),
        default_idle_timeout=float_setting(
            "default_idle_timeout", default_idle_timeout, env="SQSOBS_IDLE_TIMEOUT",
            default=d.default_idle_timeout, minimum=0, environ=env,
        ),
        batch_size=int_setting(
            "batch_size", batch_size, env="SQSOBS_BATCH_SIZE", default=d.batch_size,
            minimum=1, maximum=MAX_BATCH_ENTRIES, environ=env,
        ),
        group_batch_intervals=_per_queue("group_batch_intervals", group_batch_intervals),
        group_idle_timeouts=_per_queue("group_idle_timeouts", group_idle_timeouts),
        max_buffer_size_per_queue=int_setting(
            "max_buffer_size_per_queue", max_buffer_size_per_queue,
            env="SQSOBS_MAX_BUFFER_SIZE_PER_QUEUE", default=d.max_buffer_size_per_queue,
            minimum=1, environ=env,
        ),
        max_retry_attempts=int_setting(
            "max_retry_attempts", max_retry_attempts, env="SQSOBS_MAX_RETRY_ATTEMPTS",
            default=d.max_retry_attempts, minimum=0, environ=env,
        ),
        max_batch_bytes=int_setting(
            "max_batch_bytes", max_batch_bytes, env="SQSOBS_MAX_BATCH_BYTES",
            default=d.max_batch_bytes, minimum=MIN_MESSAGE_SIZE_SETTING_BYTES,
            maximum=MAX_BATCH_PAYLOAD_BYTES, environ=env,
        ),
        buffer_full_timeout_seconds=float_setting(
            "buffer_full_timeout_seconds", buffer_full_timeout_seconds,
            env="SQSOBS_BUFFER_FULL_TIMEOUT", default=d.buffer_full_timeout_seconds,
            minimum=0, environ=env,
        ),
        max_concurrent_sends=int_setting(
            "max_concurrent_sends", max_concurrent_sends, env="SQSOBS_MAX_CONCURRENT_SENDS",
            default=d.max_concurrent_sends, minimum=1, maximum=64, environ=env,
        ),
        retry_backoff_base_seconds=float_setting(
            "retry_backoff_base_seconds", retry_backoff_base_seconds,
            env="SQSOBS_RETRY_BACKOFF_BASE", default=d.retry_backoff_base_seconds,
            minimum=0, environ=env,
        ),
        retry_backoff_max_seconds=float_setting(
            "retry_backoff_max_seconds", retry_backoff_max_seconds,
            env="SQSOBS_RETRY_BACKOFF_MAX", default=d.retry_backoff_max_seconds,
            minimum=0, environ=env,
        ),
        shutdown_timeout_seconds=float_setting(
            "shutdown_timeout_seconds", shutdown_timeout_seconds,
            env="SQSOBS_SHUTDOWN_TIMEOUT", default=d.shutdown_timeout_seconds,
            minimum=0, environ=env,
        ),
        flush_at_exit=bool_setting(
            "flush_at_exit", flush_at_exit, env="SQSOBS_FLUSH_AT_EXIT",
            default=d.flush_at_exit, environ=env,
        ),
        xray_trace_header=bool_setting(
            "xray_trace_header", xray_trace_header, env="SQSOBS_XRAY_TRACE_HEADER",
            default=d.xray_trace_header, environ=env,
        ),
    )  # fmt: skip
