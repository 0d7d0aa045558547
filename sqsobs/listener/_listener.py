"""A listener on one queue, and its lifecycle: :class:`Listener`.

A listener moves through :class:`ListenerState` once: built, started, stopping, draining,
stopped. ``start()`` checks the queue and starts the threads (see :mod:`sqsobs.listener._engine`);
``request_stop()`` ends receiving at once; ``join()`` drains (in-flight handlers finish, deletes
are flushed) and ``stop()`` does both. A stopped listener cannot be started again.

Example::

    def handle(msg: SqsMessage) -> bool:
        return True

    listener = Listener(handle, queue_url="orders", mode="per_message").start()
    ...
    listener.stop()   # drains: in-flight handlers finish, deletes are flushed
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from sqsobs._transport import with_transport
from sqsobs.errors import ConfigError, ListenerClosed, ListenerError
from sqsobs.listener._clients import default_clients
from sqsobs.listener._engine import Engine, Hooks
from sqsobs.listener._health import join_health, leave_health
from sqsobs.listener._message import SqsMessage
from sqsobs.listener._resolve import resolve_queue_url
from sqsobs.listener._settings import settings_from
from sqsobs.listener._stats import ListenerStats
from sqsobs.listener._telemetry import ListenerTelemetry

__all__ = ["Listener", "ListenerState"]

logger = logging.getLogger(__name__)


class ListenerState(enum.Enum):
    """Where a :class:`Listener` is in its life; it only ever moves down this list."""

    NEW = "new"  # built; no thread yet
    STARTING = "starting"  # start(): checking the queue, starting the threads
    RUNNING = "running"  # receiving and handling
    STOPPING = "stopping"  # stop requested: no more receives; nobody drains yet
    DRAINING = "draining"  # join(): in-flight handlers finish, deletes are flushed
    STOPPED = "stopped"  # drained, or never started; terminal: it cannot start again


#: The states in which receiving has ended for good (the stop event is set).
_STOP_REQUESTED = frozenset({ListenerState.STOPPING, ListenerState.DRAINING, ListenerState.STOPPED})


class Listener:
    """Polls one queue and runs ``handler`` on what arrives, until :meth:`stop`.

    Every keyword but the hooks, ``client``, ``s3_client``, ``name`` and ``environ`` is a field of
    :class:`~sqsobs.listener.ListenerSettings` (its docs give each one's environment variable,
    default and meaning): arguments win over the environment (``environ``, default
    ``os.environ``), read now; a bad value raises :class:`~sqsobs.errors.ConfigError`.
    ``filter_fn(msg)`` returning False skips a message (it comes back after the retry backoff);
    ``on_success(msg)`` and ``on_failure(msg, error)`` see each outcome. ``client`` is a boto3
    SQS client (default: two per listener, from the environment: one for long polls, one with
    short timeouts for deletes and heartbeats; with ``transport="lean"`` each is wrapped, its
    credentials, endpoint and config reused). ``s3_client`` is a boto3 S3 client for large
    payloads (default: built from the environment when the first one arrives). With
    ``health_check_port`` the listener serves ``/health``, ``/ready`` and ``/metrics`` while it
    runs.

    Example::

        with Listener(handle, queue_url=url, mode="batch", visibility_secs=30):
            time.sleep(60)
    """

    def __init__(
        self,
        handler: Callable[..., Any],
        *,
        queue_url: str | None = None,
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
        delete_linger_seconds: float | None = None,
        trace_empty_receives: bool | None = None,
        max_prefetch: int | None = None,
        delete_large_payloads: bool | None = None,
        s3_client: Any = None,
        backlog_metrics: bool | None = None,
        backlog_interval_seconds: float | None = None,
        ecs_task_protection: bool | None = None,
        name: str | None = None,
        environ: Mapping[str, str] | None = None,
        transport: str | None = None,
    ) -> None:
        # Every setting keyword above goes on as it is (a test keeps them equal to the fields).
        self.settings = settings_from(locals(), environ=environ)
        if not callable(handler):
            raise TypeError("handler must be callable")
        self._hooks = Hooks(filter_fn, on_success, on_failure)
        for setting, hook in vars(self._hooks).items():
            if hook is not None and not callable(hook):
                # Caught later, a non-callable filter would silently filter out every message.
                raise ConfigError(setting, f"must be callable, got {type(hook).__name__}")
        self.handler = handler
        self.name = name or getattr(handler, "__name__", "listener")
        #: What this listener did, counted (also served by the health endpoint).
        self.stats = ListenerStats()
        #: The queue's URL, once :meth:`start` resolved it.
        self.queue_url = ""
        self._client = client
        self._s3_client = s3_client
        self._state = ListenerState.NEW
        self._lock = threading.Condition()
        # Set on the move to a stopping state (never otherwise): it wakes sleeping pollers.
        self._stop_event = threading.Event()
        self._engine: Engine | None = None
        # join()'s result, kept for every later caller once the state is STOPPED.
        self._drained = False

    # --- state ----------------------------------------------------------------------------
    def _set(self, to: ListenerState) -> None:
        """Enter ``to`` (the lock is held); the one place the state changes."""
        self._state = to
        if to in _STOP_REQUESTED:
            self._stop_event.set()
        self._lock.notify_all()

    def _move(self, allowed: set[ListenerState], to: ListenerState) -> None:
        with self._lock:
            if self._state not in allowed:
                raise ListenerClosed(
                    f"listener {self.name!r} is {self._state.value}: it cannot become "
                    f"{to.value} (a listener starts once)"
                )
            self._set(to)

    @property
    def running(self) -> bool:
        """True between start() and the beginning of stop()."""
        return self._state is ListenerState.RUNNING

    @property
    def healthy(self) -> bool:
        """False if one of its threads died while it runs (see :meth:`dead_threads`)."""
        return not self.dead_threads()

    def dead_threads(self) -> list[str]:
        """Names of threads that died while the listener runs (a worker is replaced at once)."""
        engine = self._engine
        if engine is None or not self.running:
            return []
        return engine.dead_threads()

    @property
    def telemetry(self) -> ListenerTelemetry:
        """The listener's spans and metrics (``telemetry.queue`` is the queue's name)."""
        engine = self._engine
        if engine is None:
            raise ListenerError(f"listener {self.name!r} has not started")
        return engine.telemetry

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> Listener:
        """Check the queue (a missing queue or denied access raises here) and start polling.

        Raises :class:`~sqsobs.errors.ListenerClosed` if it was started (or stopped) before.
        """
        self._move({ListenerState.NEW}, ListenerState.STARTING)
        try:
            engine = self._start_engine()
        except BaseException:
            self._leave_health()
            with self._lock:
                self._drained = True  # nothing was started: stop() has nothing to drain
                self._set(ListenerState.STOPPED)
            raise
        with self._lock:
            self._engine = engine
            if self._state is ListenerState.STARTING:
                self._set(ListenerState.RUNNING)
            self._lock.notify_all()  # a join() waiting for the engine may drain now
        s = self.settings
        logger.info(
            "listening on %s: mode=%s batch_size=%d workers=%d visibility=%ds wait=%ds",
            engine.name,
            s.mode,
            s.batch_size,
            s.worker_threads,
            s.visibility_secs,
            s.wait_time,
        )
        return self

    def _start_engine(self) -> Engine:
        poll_client = None
        if self._client is None:
            self._client, poll_client = default_clients(self.settings)
        self._client = with_transport(self._client, self.settings.transport)
        if poll_client is not None:
            poll_client = with_transport(poll_client, self.settings.transport)
        self.queue_url = resolve_queue_url(self._client, self.settings.queue_url)
        engine = Engine(
            self.handler,
            client=self._client,
            poll_client=poll_client,
            queue_url=self.queue_url,
            settings=self.settings,
            stats=self.stats,
            stop=self._stop_event,
            hooks=self._hooks,
            s3_client=self._s3_client,
        )
        if self.settings.health_check_port is not None:
            join_health(self.settings.health_check_port, self)
        engine.start()
        return engine

    def request_stop(self) -> None:
        """Stop receiving at once; in-flight handlers go on (see :meth:`join`)."""
        with self._lock:
            if self._state is ListenerState.NEW:
                self._drained = True
                self._set(ListenerState.STOPPED)
            elif self._state in (ListenerState.STARTING, ListenerState.RUNNING):
                self._set(ListenerState.STOPPING)
            engine = self._engine
        if engine is not None:
            engine.wake()

    def stop(self, timeout_seconds: float | None = None) -> bool:
        """Stop receiving and drain; return True if everything finished within the timeout."""
        self.request_stop()
        return self.join(timeout_seconds)

    def join(self, timeout_seconds: float | None = None) -> bool:
        """Wait for a stop request (:meth:`request_stop`, a signal), then drain.

        Handlers finish, deletes flush, threads end. ``timeout_seconds`` defaults to the
        ``shutdown_timeout_seconds`` setting. Returns True only if everything finished in time;
        False if handlers were still running when it ran out (their messages come back later)
        or if no stop was requested by then. Once stopped, every call returns the first result.
        """
        timeout = self.settings.shutdown_timeout_seconds
        deadline = time.monotonic() + (timeout if timeout_seconds is None else timeout_seconds)
        with self._lock:
            if self._state is ListenerState.NEW:
                self._drained = True
                self._set(ListenerState.STOPPED)
            if not self._lock.wait_for(self._can_drain, _remaining(deadline)):
                return False
            if self._state is ListenerState.DRAINING:  # another caller drains: wait for it
                return self._lock.wait_for(self._stopped, _remaining(deadline)) and self._drained
            if self._state is ListenerState.STOPPED:
                return self._drained
            self._set(ListenerState.DRAINING)
            engine = self._engine
        assert engine is not None  # _can_drain: STOPPING only once start() built it
        drained = engine.drain(deadline)
        self._leave_health()
        with self._lock:
            self._drained = drained
            self._set(ListenerState.STOPPED)
        logger.info("listener %s stopped (%s)", self.name, self.stats.snapshot())
        return drained

    def _can_drain(self) -> bool:
        """A stop was requested and start() is done with the threads (the lock is held)."""
        if self._state is ListenerState.STOPPING:
            return self._engine is not None
        return self._state in _STOP_REQUESTED

    def _stopped(self) -> bool:
        return self._state is ListenerState.STOPPED

    def _leave_health(self) -> None:
        if self.settings.health_check_port is not None:
            leave_health(self.settings.health_check_port, self)

    def __enter__(self) -> Listener:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
