"""The producer's settings: every option declared once, resolved argument > environment > default.

Each field names its environment variable, bounds and meaning; :class:`BatchProducer
<sqsobs.producer.BatchProducer>` and :class:`BatchSQSBroker <sqsobs.dramatiq.BatchSQSBroker>`
take one keyword per field, and the documentation table is generated from the fields with
``sqsobs._settings.markdown_table(ProducerSettings)``.

Example::

    settings = ProducerSettings.resolve(group_batch_intervals={"hot": 0}, environ={})
    settings.batch_interval("hot"), settings.batch_interval("cold")   # (0.0, 1.0)
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqsobs._settings import resolve as resolve_dataclass
from sqsobs._settings import setting
from sqsobs._transport import TRANSPORT_DOC, TRANSPORTS
from sqsobs.errors import ConfigError
from sqsobs.limits import (
    MAX_BATCH_ENTRIES,
    MAX_BATCH_PAYLOAD_BYTES,
    MAX_MESSAGE_SIZE_BYTES,
    MIN_MESSAGE_SIZE_SETTING_BYTES,
)

__all__ = ["ProducerSettings", "check_bucket_name"]

# S3's bucket naming rules: 3-63 lowercase letters, digits, dots and hyphens, starting and
# ending with a letter or digit.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def check_bucket_name(setting_name: str, bucket: str) -> None:
    """:class:`ConfigError` naming ``setting_name`` unless ``bucket`` is a valid S3 bucket name."""
    if not _BUCKET_NAME.fullmatch(bucket) or ".." in bucket:
        raise ConfigError(
            setting_name,
            f"must be an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens), "
            f"got {bucket!r}",
        )


def _per_queue(name: str, value: Any) -> dict[str, float]:
    """A mapping of queue name (or URL) to seconds, each a finite number >= 0."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(name, "must be a mapping of queue name to seconds")
    checked: dict[str, float] = {}
    for queue, seconds in value.items():
        entry = f"{name}[{queue!r}]"
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise ConfigError(entry, f"must be a number, got {type(seconds).__name__}")
        if not math.isfinite(seconds) or seconds < 0:
            raise ConfigError(entry, f"must be a finite number >= 0, got {seconds!r}")
        checked[str(queue)] = float(seconds)
    return checked


@dataclass(frozen=True)
class ProducerSettings:
    """Every option of :class:`~sqsobs.producer.BatchProducer`, validated.

    Build it with :meth:`resolve`; each field below is also a keyword of ``BatchProducer`` and
    ``BatchSQSBroker``, and most read an ``SQSOBS_*`` environment variable when not given.

    Example::

        settings = ProducerSettings.resolve(batch_size=5)   # SQSOBS_* variables fill the rest
        producer = BatchProducer(batch_size=5)              # the same, resolved by the producer
        producer.settings == settings                        # True
    """

    default_batch_interval: float = setting(
        1.0,
        env="SQSOBS_BATCH_INTERVAL",
        minimum=0,
        doc="seconds since the oldest buffered message before its queue is sent; 0 = at once",
    )
    default_idle_timeout: float = setting(
        0.1,
        env="SQSOBS_IDLE_TIMEOUT",
        minimum=0,
        doc="seconds without a new message before its queue is sent; 0 = no idle trigger",
    )
    batch_size: int = setting(
        MAX_BATCH_ENTRIES,
        env="SQSOBS_BATCH_SIZE",
        minimum=1,
        maximum=MAX_BATCH_ENTRIES,
        doc="entries per request, 1..10 (more is a `ConfigError`)",
    )
    group_batch_intervals: Mapping[str, float] = setting(
        {}, parse=_per_queue, doc="per-queue overrides of `default_batch_interval`, seconds"
    )
    group_idle_timeouts: Mapping[str, float] = setting(
        {}, parse=_per_queue, doc="per-queue overrides of `default_idle_timeout`, seconds"
    )
    max_buffer_size_per_queue: int = setting(
        5000,
        env="SQSOBS_MAX_BUFFER_SIZE_PER_QUEUE",
        minimum=1,
        doc="unresolved messages per queue (buffered, in flight, waiting to retry)",
    )
    max_retry_attempts: int = setting(
        3, env="SQSOBS_MAX_RETRY_ATTEMPTS", minimum=0, doc="retries after the first attempt"
    )
    max_batch_bytes: int = setting(
        MAX_BATCH_PAYLOAD_BYTES,
        env="SQSOBS_MAX_BATCH_BYTES",
        minimum=MIN_MESSAGE_SIZE_SETTING_BYTES,
        maximum=MAX_BATCH_PAYLOAD_BYTES,
        doc="payload limit of one request, bytes (SQS's)",
    )
    buffer_full_timeout_seconds: float = setting(
        5.0,
        env="SQSOBS_BUFFER_FULL_TIMEOUT",
        minimum=0,
        doc="how long `send()` waits for room before raising `BufferFull`",
    )
    max_concurrent_sends: int = setting(
        4,
        env="SQSOBS_MAX_CONCURRENT_SENDS",
        minimum=1,
        maximum=64,
        doc="SendMessageBatch calls in flight at once, 1..64",
    )
    retry_backoff_base_seconds: float = setting(
        0.2,
        env="SQSOBS_RETRY_BACKOFF_BASE",
        minimum=0,
        doc="first retry's longest backoff; retry n waits uniform in [0, min(max, base·2^(n-1))]",
    )
    retry_backoff_max_seconds: float = setting(
        20.0, env="SQSOBS_RETRY_BACKOFF_MAX", minimum=0, doc="longest backoff of any retry"
    )
    shutdown_timeout_seconds: float = setting(
        30.0,
        env="SQSOBS_SHUTDOWN_TIMEOUT",
        minimum=0,
        doc="what `close()` (and the exit hook) waits at most",
    )
    flush_at_exit: bool = setting(
        True, env="SQSOBS_FLUSH_AT_EXIT", doc="close (flush) the producer at interpreter exit"
    )
    xray_trace_header: bool = setting(
        True,
        env="SQSOBS_XRAY_TRACE_HEADER",
        doc="also set the `AWSTraceHeader` system attribute on every message (read by Lambda, "
        "X-Ray and the OTel Java agent); when off, only on messages whose `traceparent` did "
        "not fit",
    )
    create_spans: bool = setting(
        True,
        env="SQSOBS_CREATE_SPANS",
        doc="a `create` span per message; when off, the caller's active context is the creation "
        "context injected into the message (and linked from the `send` span)",
    )
    install_signal_handler: bool = setting(
        True,
        env="SQSOBS_INSTALL_SIGNAL_HANDLER",
        doc="with `flush_at_exit`: if SIGTERM still has Python's default action when a producer "
        "is made in the main thread, SIGTERM exits with status 143 after the exit flush",
    )

    large_payload_bucket: str = setting(
        "",
        env="SQSOBS_LARGE_PAYLOAD_BUCKET",
        shown_default="off",
        doc="S3 bucket for payloads over the threshold: stored there, an S3 pointer sent in "
        "their place, as AWS's extended clients do ([Large messages](large-messages.md)); "
        "unset: a message over the limit raises `MessageTooLarge`",
    )
    large_payload_threshold_bytes: int = setting(
        0,
        env="SQSOBS_LARGE_PAYLOAD_THRESHOLD_BYTES",
        minimum=0,
        maximum=MAX_MESSAGE_SIZE_BYTES,
        shown_default="the queue's limit",
        doc="messages over this size (body + attributes) go to S3; 0: the queue's limit (its "
        "`MaximumMessageSize`, at most `max_batch_bytes`)",
    )
    always_offload: bool = setting(
        False,
        env="SQSOBS_ALWAYS_OFFLOAD",
        doc="with a bucket, store every payload in S3, whatever its size",
    )
    transport: str = setting("boto3", env="SQSOBS_TRANSPORT", choices=TRANSPORTS, doc=TRANSPORT_DOC)

    @classmethod
    def resolve(
        cls, *, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> ProducerSettings:
        """Each setting from ``overrides`` (None: not given), else ``environ``, else its default.

        ``environ`` defaults to ``os.environ``; a bad value raises
        :class:`~sqsobs.errors.ConfigError` naming the argument or variable, an unknown name
        ``TypeError``.
        """
        settings = resolve_dataclass(cls, overrides, environ=environ)
        if settings.large_payload_bucket:
            given = overrides.get("large_payload_bucket") is not None
            source = "large_payload_bucket" if given else "SQSOBS_LARGE_PAYLOAD_BUCKET"
            check_bucket_name(source, settings.large_payload_bucket)
        return settings

    @classmethod
    def pick(cls, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The entries of ``arguments`` (a constructor's ``locals()``) that name a setting."""
        names = {field.name for field in dataclasses.fields(cls)}
        return {name: value for name, value in arguments.items() if name in names}

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
