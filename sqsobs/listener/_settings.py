"""Listener settings, resolved decorator argument > environment variable > default.

The environment variables are the seed's: ``QUEUE_URL``, ``WAIT_TIME``, ``BATCH_SIZE``,
``VISIBILITY_SECS``, ``MAX_EXTEND``, ``WORKER_THREADS``, ``IDLE_SLEEP_MAX``, plus
``SHUTDOWN_TIMEOUT``. A bad value (not a number, outside SQS's range) raises
:class:`~sqsobs.errors.ConfigError` naming the argument or variable, when the listener is built.

Example::

    settings = ListenerSettings.resolve(queue="orders", batch_size=5)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqsobs._backoff import Backoff
from sqsobs._config import bool_setting, float_setting, int_setting, str_setting
from sqsobs.errors import ConfigError
from sqsobs.limits import (
    MAX_RECEIVE_MESSAGES,
    MAX_VISIBILITY_TIMEOUT_SECONDS,
    MAX_WAIT_TIME_SECONDS,
    is_fifo_queue,
)

__all__ = ["MODES", "ListenerSettings"]

#: The two handler styles.
MODES = ("batch", "per_message")

_MAX_WORKERS = 1024


@dataclass(frozen=True)
class ListenerSettings:
    """Everything a :class:`~sqsobs.listener._listener.Listener` needs to know, validated."""

    queue: str
    mode: str = "batch"
    wait_time: int = 20
    batch_size: int = 10
    visibility_secs: int = 60
    max_extend: int = 900
    worker_threads: int = 4
    poller_threads: int = 2
    idle_sleep_max: float = 2.0
    shutdown_timeout_seconds: float = 30.0
    retry_backoff: bool = False
    retry_backoff_base: int = 30
    retry_backoff_max: int = 600

    @property
    def fifo(self) -> bool:
        """True for a FIFO queue (its name or URL ends in ``.fifo``)."""
        return is_fifo_queue(self.queue)

    @classmethod
    def resolve(
        cls,
        *,
        queue: str | None = None,
        mode: str | None = None,
        wait_time: int | None = None,
        batch_size: int | None = None,
        visibility_secs: int | None = None,
        max_extend: int | None = None,
        worker_threads: int | None = None,
        poller_threads: int | None = None,
        idle_sleep_max: float | None = None,
        shutdown_timeout_seconds: float | None = None,
        retry_backoff: bool | None = None,
        retry_backoff_base: int | None = None,
        retry_backoff_max: int | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ListenerSettings:
        """Resolve every setting (argument > environment > default) and validate it."""
        env = environ
        resolved_queue = str_setting("queue_url", queue, env="QUEUE_URL", default="", environ=env)
        if not resolved_queue.strip():
            raise ConfigError("queue_url", "no queue given: pass queue_url= or set QUEUE_URL")
        workers = int_setting(
            "worker_threads",
            worker_threads,
            env="WORKER_THREADS",
            default=4,
            minimum=1,
            maximum=_MAX_WORKERS,
            environ=env,
        )
        base = int_setting(
            "retry_backoff_base", retry_backoff_base, default=30, minimum=0,
            maximum=MAX_VISIBILITY_TIMEOUT_SECONDS, environ=env,
        )  # fmt: skip
        return cls(
            queue=resolved_queue.strip(),
            mode=str_setting("mode", mode, default="batch", choices=MODES, environ=env),
            wait_time=int_setting(
                "wait_time",
                wait_time,
                env="WAIT_TIME",
                default=20,
                minimum=0,
                maximum=MAX_WAIT_TIME_SECONDS,
                environ=env,
            ),
            batch_size=int_setting(
                "batch_size",
                batch_size,
                env="BATCH_SIZE",
                default=10,
                minimum=1,
                maximum=MAX_RECEIVE_MESSAGES,
                environ=env,
            ),
            visibility_secs=int_setting(
                "visibility_secs",
                visibility_secs,
                env="VISIBILITY_SECS",
                default=60,
                minimum=1,
                maximum=MAX_VISIBILITY_TIMEOUT_SECONDS,
                environ=env,
            ),
            max_extend=int_setting(
                "max_extend",
                max_extend,
                env="MAX_EXTEND",
                default=900,
                minimum=0,
                maximum=MAX_VISIBILITY_TIMEOUT_SECONDS,
                environ=env,
            ),
            worker_threads=workers,
            poller_threads=int_setting(
                "poller_threads",
                poller_threads,
                env="POLLER_THREADS",
                default=min(2, workers),
                minimum=1,
                maximum=workers,
                environ=env,
            ),
            idle_sleep_max=float_setting(
                "idle_sleep_max",
                idle_sleep_max,
                env="IDLE_SLEEP_MAX",
                default=2.0,
                minimum=0.0,
                maximum=300.0,
                environ=env,
            ),
            shutdown_timeout_seconds=float_setting(
                "shutdown_timeout_seconds",
                shutdown_timeout_seconds,
                env="SHUTDOWN_TIMEOUT",
                default=30.0,
                minimum=0.0,
                maximum=3600.0,
                environ=env,
            ),
            retry_backoff=bool_setting("retry_backoff", retry_backoff, default=False, environ=env),
            retry_backoff_base=base,
            retry_backoff_max=int_setting(
                "retry_backoff_max",
                retry_backoff_max,
                default=600,
                minimum=base,
                maximum=MAX_VISIBILITY_TIMEOUT_SECONDS,
                environ=env,
            ),
        )

    def backoff_seconds(self, receive_count: int) -> int:
        """Visibility for a failed message: base * 2^(receive_count-1), capped at the maximum."""
        policy = Backoff(self.retry_backoff_base, self.retry_backoff_max, jitter=False)
        return int(policy.delay(max(receive_count, 1)))
