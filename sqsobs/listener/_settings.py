"""Listener settings: every option declared once, resolved argument > environment > default.

:class:`ListenerSettings` is the one list of options: ``@sqs_listener``, :class:`Listener` and
:meth:`ListenerSettings.resolve` all take exactly its fields. The environment variables are
sqs-fargate-listener's (``QUEUE_URL``, ``WAIT_TIME``, ``BATCH_SIZE``, ``VISIBILITY_SECS``,
``MAX_EXTEND``, ``WORKER_THREADS``, ``IDLE_SLEEP_MAX``) plus ``POLLER_THREADS``,
``SHUTDOWN_TIMEOUT``, ``MAX_PREFETCH``, ``BACKLOG_METRICS``, ``BACKLOG_INTERVAL`` and
``ECS_TASK_PROTECTION``. A bad value (not a number, outside SQS's range, a
malformed queue URL) raises :class:`~sqsobs.errors.ConfigError` naming the argument or variable,
when the listener is built; for the arguments sqs-fargate-listener checked, in its words
(``"batch_size must be between 1 and 10, got 11"``), so tests written for it still match.

Example::

    settings = ListenerSettings.resolve(queue_url="orders", batch_size=5)
    settings.poller_threads   # 2, or the POLLER_THREADS variable
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqsobs._backoff import Backoff
from sqsobs._settings import resolve, setting
from sqsobs._transport import TRANSPORT_DOC, TRANSPORTS
from sqsobs._urls import is_queue_name, is_queue_url
from sqsobs.errors import ConfigError
from sqsobs.limits import (
    MAX_RECEIVE_MESSAGES,
    MAX_VISIBILITY_TIMEOUT_SECONDS,
    MAX_WAIT_TIME_SECONDS,
    is_fifo_queue,
)

__all__ = ["MODES", "ListenerSettings", "check_queue", "settings_from"]

#: The two handler styles.
MODES = ("batch", "per_message")

_MAX_WORKERS = 1024
_MAX_PORT = 65535
_MAX_VISIBILITY = MAX_VISIBILITY_TIMEOUT_SECONDS


#: The arguments sqs-fargate-listener's decorator checked: their errors keep its wording,
#: ``"<argument> must be ..."``; the range it gave for those it bounded on both sides.
_FARGATE_CHECKED = frozenset(
    {"mode", "batch_size", "wait_time", "visibility_secs", "max_extend", "worker_threads"}
)
_FARGATE_RANGES = {"batch_size": (1, MAX_RECEIVE_MESSAGES), "wait_time": (0, MAX_WAIT_TIME_SECONDS)}


def check_queue(setting: str, queue: str) -> str:
    """``queue`` without surrounding blanks, if it is a queue URL or a queue name.

    A URL is ``http://`` or ``https://`` with a host, its path ending in the queue's name
    (``https://sqs.us-east-1.amazonaws.com/123456789012/orders``, ElasticMQ's
    ``http://localhost:9324/queue/orders``); a name follows SQS's rule. Anything else raises
    :class:`~sqsobs.errors.ConfigError` naming ``setting``, before any call to SQS.
    """
    queue = queue.strip()
    if not queue:
        raise ConfigError(
            setting,
            "no queue given",
            message="queue_url is required (or set QUEUE_URL env var): a queue URL or name",
        )
    if "://" in queue and not is_queue_url(queue):
        problem = f"must start with http:// or https://, got: {queue!r}"
        raise ConfigError(setting, problem, message=f"{setting} {problem} (or be a queue name)")
    if is_queue_url(queue):
        parts = urlsplit(queue)
        name = parts.path.rsplit("/", 1)[-1]
        if not parts.hostname or not is_queue_name(name):
            raise ConfigError(
                setting, f"must be a queue URL ending in the queue's name, got {queue!r}"
            )
    elif not is_queue_name(queue):
        raise ConfigError(
            setting,
            f"must be a queue URL or a queue name (up to 80 letters, digits, - and _, "
            f"ending in .fifo for a FIFO queue), got {queue!r}",
        )
    return queue


def _in_fargate_words(error: ConfigError, overrides: Mapping[str, Any]) -> ConfigError:
    """``error`` in sqs-fargate-listener's words if it checked that argument, else as it is."""
    name, value = error.setting, overrides.get(error.setting)
    if name not in _FARGATE_CHECKED or value is None:  # from a variable, or sqsobs' own option
        return error
    problem = error.problem
    if name in _FARGATE_RANGES and isinstance(value, int) and not isinstance(value, bool):
        low, high = _FARGATE_RANGES[name]
        problem = f"must be between {low} and {high}, got {value!r}"
    return ConfigError(name, problem, message=f"{name} {problem}")


def _port(name: str, value: Any) -> int | None:
    """A TCP port (0: any free port) or None (no health endpoint)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_PORT:
        raise ConfigError(name, f"must be a port number 0..{_MAX_PORT}, got {value!r}")
    return value


@dataclass(frozen=True)
class ListenerSettings:
    """Everything a :class:`~sqsobs.listener.Listener` needs to know, validated.

    Each field is an argument of ``@sqs_listener`` and :class:`~sqsobs.listener.Listener` of the
    same name; the environment variable, bounds and meaning are declared with it.

    Example::

        ListenerSettings.resolve(queue_url="orders", environ={"WAIT_TIME": "5"}).wait_time  # 5
    """

    queue_url: str = setting(
        "",
        env="QUEUE_URL",
        shown_default="—",
        doc="queue URL (`http://` or `https://`) or name (resolved with GetQueueUrl); "
        "anything else fails when the decorator runs",
    )
    mode: str = setting("batch", choices=MODES, doc='`"batch"` or `"per_message"`')
    wait_time: int = setting(
        20,
        env="WAIT_TIME",
        minimum=0,
        maximum=MAX_WAIT_TIME_SECONDS,
        doc="long-poll seconds (0-20)",
    )
    batch_size: int = setting(
        10,
        env="BATCH_SIZE",
        minimum=1,
        maximum=MAX_RECEIVE_MESSAGES,
        doc="most messages per receive (1-10)",
    )
    visibility_secs: int = setting(
        60,
        env="VISIBILITY_SECS",
        minimum=1,
        maximum=_MAX_VISIBILITY,
        doc="visibility timeout set at receive and by each heartbeat",
    )
    max_extend: int = setting(
        900,
        env="MAX_EXTEND",
        minimum=0,
        maximum=_MAX_VISIBILITY,
        doc="most seconds of extension beyond the first timeout; `0`: no extension (a "
        "handler outliving `visibility_secs` lets its message be delivered again)",
    )
    worker_threads: int = setting(
        4,
        env="WORKER_THREADS",
        minimum=1,
        maximum=_MAX_WORKERS,
        doc="handlers running at once (per listener)",
    )
    poller_threads: int = setting(
        lambda v: min(2, v["worker_threads"]),
        env="POLLER_THREADS",
        minimum=1,
        maximum=lambda v: v["worker_threads"],
        shown_default="`min(2, worker_threads)`",
        doc="concurrent ReceiveMessage calls (at most `worker_threads`)",
    )
    idle_sleep_max: float = setting(
        2.0,
        env="IDLE_SLEEP_MAX",
        minimum=0.0,
        maximum=300.0,
        doc="most seconds of random sleep after an empty receive",
    )
    shutdown_timeout_seconds: float = setting(
        25.0,
        env="SHUTDOWN_TIMEOUT",
        minimum=0.0,
        maximum=3600.0,
        doc="the whole drain after SIGTERM: handlers, the last deletes and (under "
        "`run_listeners()`) the telemetry flush; keep the container's stop timeout above it",
    )
    retry_backoff: bool = setting(
        False,
        doc="a failed message comes back after the backoff below instead of its full "
        "visibility timeout",
    )
    retry_backoff_base: int = setting(
        30,
        minimum=0,
        maximum=_MAX_VISIBILITY,
        doc="seconds of the first retry (and of a filtered message's return); doubled per "
        "receive: base * 2^(receives - 1)",
    )
    retry_backoff_max: int = setting(
        600,
        minimum=lambda v: v["retry_backoff_base"],
        maximum=_MAX_VISIBILITY,
        doc="cap of the retry backoff, in seconds",
    )
    health_check_port: int | None = setting(
        None,
        parse=_port,
        shown_default="off",
        doc="`GET /health` (200 running, 503 draining) and `GET /metrics` (counts as JSON, "
        "sqs-fargate-listener's keys and each listener's) on this port; listeners given the "
        "same port share it",
    )
    trace_empty_receives: bool = setting(
        False, doc="also trace receives that returned nothing (always counted)"
    )
    max_prefetch: int = setting(
        lambda v: v["batch_size"],
        env="MAX_PREFETCH",
        minimum=0,
        maximum=MAX_RECEIVE_MESSAGES,
        shown_default="`batch_size`",
        doc="per-message mode: most received messages waiting for a busy worker (kept invisible "
        "by the heartbeat, released at shutdown, never more than start within half a "
        "visibility timeout); 0: receive only for free workers",
    )
    delete_linger_seconds: float = setting(
        0.05,
        minimum=0.0,
        maximum=60.0,
        doc="how long a per-message delete waits for its batch to fill",
    )
    delete_large_payloads: bool = setting(
        True,
        env="SQSOBS_DELETE_LARGE_PAYLOADS",
        doc="after a large message (its payload in S3) is deleted from SQS, delete its S3 "
        "object too; off: keep it (fan-out to several queues, a lifecycle rule expires it)",
    )
    transport: str = setting("boto3", env="SQSOBS_TRANSPORT", choices=TRANSPORTS, doc=TRANSPORT_DOC)
    backlog_metrics: bool = setting(
        False,
        env="BACKLOG_METRICS",
        doc="report the queue's backlog (`sqsobs.queue.messages`) and its dead-letter queue's "
        "as gauges, read with GetQueueAttributes every `backlog_interval_seconds` (one reader "
        "per process and queue)",
    )
    backlog_interval_seconds: float = setting(
        60.0,
        env="BACKLOG_INTERVAL",
        minimum=1.0,
        maximum=3600.0,
        doc="seconds between two backlog reads (with `backlog_metrics`)",
    )
    ecs_task_protection: bool = setting(
        False,
        env="ECS_TASK_PROTECTION",
        doc="on ECS: keep the task protected from scale-in while a handler runs, through the "
        "agent's endpoint (`$ECS_AGENT_URI`); failures are logged and counted, never fatal",
    )

    @property
    def fifo(self) -> bool:
        """True for a FIFO queue (its name or URL ends in ``.fifo``)."""
        return is_fifo_queue(self.queue_url)

    @classmethod
    def resolve(
        cls, *, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> ListenerSettings:
        """Resolve every setting (argument > environment > default) and validate it.

        ``overrides`` are field names; None means "not given". ``environ`` defaults to
        ``os.environ``.
        """
        try:
            settings = resolve(cls, overrides, environ=environ)
        except ConfigError as error:
            raise _in_fargate_words(error, overrides) from None
        source = "queue_url" if overrides.get("queue_url") is not None else "QUEUE_URL"
        return dataclasses.replace(settings, queue_url=check_queue(source, settings.queue_url))

    def backoff_seconds(self, receive_count: int) -> int:
        """Visibility for a failed message: base * 2^(receive_count-1), capped at the maximum."""
        policy = Backoff(self.retry_backoff_base, self.retry_backoff_max, jitter=False)
        return int(policy.delay(max(receive_count, 1)))


#: The names of every setting, in declaration order.
SETTING_NAMES = tuple(field.name for field in dataclasses.fields(ListenerSettings))


def settings_from(
    arguments: Mapping[str, Any], *, environ: Mapping[str, str] | None = None
) -> ListenerSettings:
    """Resolve the settings among a function's ``arguments`` (its ``locals()``); ignore the rest."""
    return ListenerSettings.resolve(
        environ=environ, **{name: arguments[name] for name in SETTING_NAMES}
    )
