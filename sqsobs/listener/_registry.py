"""``@sqs_listener`` registers handlers; ``run_listeners()`` runs them all until SIGTERM/SIGINT.

One signal handler serves every listener: the first SIGTERM or SIGINT stops receiving on all of
them at once (their ``/ready`` turns 503, messages received but not started are made visible
again at once, long polls are not waited for) and drains them in parallel: in-flight handlers
finish with their heartbeats going on, deletes and releases are flushed, and the telemetry the
application configured is flushed. All of it fits in the shutdown timeout, counted from the
signal: the handlers get it minus the last few seconds (a tenth of it for deletes, a tenth for
telemetry, at most 2 s each); ``run_listeners()`` then returns and the process can exit 0. A second
signal exits at once.

Example::

    @sqs_listener(queue_url="orders", mode="per_message", worker_threads=4)
    def handle(msg: SqsMessage) -> bool:
        return True

    if __name__ == "__main__":
        run_listeners()
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TypeVar

from sqsobs.errors import NoListenersRegistered
from sqsobs.listener._listener import Listener
from sqsobs.listener._message import SqsMessage
from sqsobs.listener._settings import settings_from
from sqsobs.listener._telemetry_flush import flush_telemetry

__all__ = [
    "clear_listeners",
    "registered_listeners",
    "request_shutdown",
    "run_listeners",
    "sqs_listener",
]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: How often the main thread looks for a shutdown request (a plain poll: signal-safe).
_POLL_SECONDS = 0.1
#: The end of the shutdown timeout kept for the telemetry flush: this share, at most the seconds.
_TELEMETRY_RESERVE_SHARE = 0.1
_TELEMETRY_RESERVE_SECONDS = 2.0
#: How much longer than its deadline a listener's drain is waited for (its last thread joins).
_JOIN_SLACK_SECONDS = 0.5


@dataclass(frozen=True)
class ListenerSpec:
    """A registered handler and the arguments its :class:`Listener` is built with."""

    handler: Callable[..., Any]
    options: dict[str, Any] = field(default_factory=dict)

    def build(self) -> Listener:
        """A new Listener (environment variables are read now)."""
        return Listener(self.handler, **self.options)


_registry: list[ListenerSpec] = []
_registry_lock = threading.Lock()
_shutdown = threading.Event()
#: When the shutdown was asked for (time.monotonic()): the drain's time counts from there.
_shutdown_at: list[float] = []


def sqs_listener(
    queue_url: str | None = None,
    *,
    mode: str | None = None,
    wait_time: int | None = None,
    batch_size: int | None = None,
    visibility_secs: int | None = None,
    max_extend: int | None = None,
    worker_threads: int | None = None,
    poller_threads: int | None = None,
    idle_sleep_max: float | None = None,
    shutdown_timeout_seconds: float | None = None,
    filter_fn: Callable[[SqsMessage], bool] | None = None,
    retry_backoff: bool | None = None,
    retry_backoff_base: int | None = None,
    retry_backoff_max: int | None = None,
    on_success: Callable[[SqsMessage], Any] | None = None,
    on_failure: Callable[[SqsMessage, BaseException | None], Any] | None = None,
    health_check_port: int | None = None,
    client: Any = None,
    trace_empty_receives: bool | None = None,
    delete_linger_seconds: float | None = None,
    max_prefetch: int | None = None,
    delete_large_payloads: bool | None = None,
    s3_client: Any = None,
    transport: str | None = None,
    backlog_metrics: bool | None = None,
    backlog_interval_seconds: float | None = None,
    ecs_task_protection: bool | None = None,
) -> Callable[[F], F]:
    """Register the decorated function as the handler of a queue; return it unchanged.

    sqs-fargate-listener's decorator, with its argument names and values. ``queue_url`` is a URL
    or a queue name (default: the ``QUEUE_URL`` environment variable). ``mode="batch"`` (the
    default) calls ``handler(list[SqsMessage])`` which returns a
    :class:`~sqsobs.listener.BatchResult` (or Lambda's ``batchItemFailures`` dict);
    ``mode="per_message"`` calls ``handler(SqsMessage)`` which returns True to delete. The other
    arguments are :class:`~sqsobs.listener.Listener`'s. Explicit arguments are validated now;
    environment variables when the listener starts.

    Example::

        @sqs_listener(queue_url="orders", mode="per_message", worker_threads=8)
        def handle(msg: SqsMessage) -> bool:
            return True
    """
    options = dict(locals())
    # Fail at decoration for a bad explicit argument (a malformed queue URL too), naming it;
    # without one, the queue may come from QUEUE_URL when the listener starts.
    settings_from(
        {**options, "queue_url": "deferred" if queue_url is None else queue_url}, environ={}
    )

    def register(func: F) -> F:
        with _registry_lock:
            _registry.append(ListenerSpec(func, options))
        logger.debug("registered %s", getattr(func, "__name__", func))
        return func

    return register


def registered_listeners() -> list[ListenerSpec]:
    """The handlers registered so far, in order."""
    with _registry_lock:
        return list(_registry)


def clear_listeners() -> None:
    """Forget every registered handler (for tests and re-configuration)."""
    with _registry_lock:
        _registry.clear()


def request_shutdown() -> None:
    """Ask a running :func:`run_listeners` to drain and return, as SIGTERM does."""
    _shutdown_at.append(time.monotonic())
    _shutdown.set()


def run_listeners(
    *,
    block: bool = True,
    shutdown_timeout_seconds: float | None = None,
    configure_logs: bool = True,
    install_signal_handlers: bool = True,
) -> list[Listener]:
    """Start every registered listener; with ``block``, run until SIGTERM/SIGINT and drain.

    Settings (arguments and environment variables) of every listener are checked before any
    starts; a missing queue or denied access raises before polling begins. Listeners given the
    same ``health_check_port`` share one health endpoint. With ``block=False`` the started
    listeners are returned at once and the caller stops them. Returns the listeners (stopped,
    when ``block`` is true). With no listener registered it raises
    :class:`~sqsobs.errors.NoListenersRegistered` (a ``ConfigError`` and a ``RuntimeError``).
    """
    specs = registered_listeners()
    if not specs:
        raise NoListenersRegistered
    if configure_logs:
        _configure_logs()
    previous: dict[int, Any] = {}
    if block:
        _shutdown.clear()
        _shutdown_at.clear()
        # Before the start (which calls SQS): a SIGTERM while the task starts is a drain too,
        # not Python's default exit.
        previous = _install_signals() if install_signal_handlers else {}
    try:
        listeners = [spec.build() for spec in specs]
        _start_all(listeners)
        if not block:
            return listeners
        while not _shutdown.is_set():
            time.sleep(_POLL_SECONDS)
        _drain(listeners, shutdown_timeout_seconds)
    finally:
        _restore_signals(previous)
    return listeners


def _configure_logs() -> None:
    """Use sqsobs' logging setup only if the application configured none."""
    if logging.getLogger().handlers:
        return
    from sqsobs._logs import configure_logging

    configure_logging()


def _start_all(listeners: list[Listener]) -> None:
    started: list[Listener] = []
    try:
        for listener in listeners:
            started.append(listener.start())
    except BaseException:
        for listener in started:
            listener.stop(timeout_seconds=5.0)
        raise
    logger.info("%d listener(s) running", len(listeners))


def _drain(listeners: list[Listener], timeout_seconds: float | None) -> None:
    """Stop receiving everywhere at once, drain every listener in parallel, flush telemetry."""
    for listener in listeners:
        listener.request_stop()
    timeout = timeout_seconds
    if timeout is None:
        timeout = max(listener.settings.shutdown_timeout_seconds for listener in listeners)
    end = (_shutdown_at[0] if _shutdown_at else time.monotonic()) + timeout
    deadline = end - min(_TELEMETRY_RESERVE_SECONDS, _TELEMETRY_RESERVE_SHARE * timeout)
    joiners = [
        threading.Thread(
            target=listener.join, args=(max(0.0, deadline - time.monotonic()),), daemon=True
        )
        for listener in listeners
    ]
    for joiner in joiners:
        joiner.start()
    for joiner in joiners:
        joiner.join(max(0.0, deadline - time.monotonic()) + _JOIN_SLACK_SECONDS)
    if not flush_telemetry(max(0.0, end - time.monotonic())):
        logger.warning("telemetry was not flushed within the shutdown timeout")
    logger.info("all listeners drained")


def _install_signals() -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        logger.debug("not the main thread: no signal handlers installed")
        return {}
    previous: dict[int, Any] = {}
    for signum in _SIGNALS:
        previous[signum] = signal.signal(signum, _on_signal)
    return previous


def _restore_signals(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _shutdown.is_set():
        # A second signal: the operator wants out now. Undeleted messages come back on their own.
        os.write(2, f"sqsobs: second {signal.Signals(signum).name}; exiting now\n".encode())
        os._exit(128 + signum)
    _shutdown_at.append(time.monotonic())
    logger.info("%s received: draining listeners", signal.Signals(signum).name)
    _shutdown.set()
