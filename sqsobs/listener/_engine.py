"""The threads of one started listener, wired together, and the order they stop in.

An :class:`Engine` is built by ``Listener.start()`` once the queue URL is known: telemetry,
heartbeat, acker, the event loop (for an ``async def`` handler), the handler runner, the worker
pool and the pollers. :meth:`Engine.drain` stops them in this order, after the listener's stop
event was set: pollers (their receive in flight returns; late messages are released), workers
(in-flight handlers finish while the heartbeat goes on), acker (deletes and releases flushed),
heartbeat, event loop.

Example::

    engine = Engine(handler, client=c, queue_url=url, settings=s, stats=st, stop=stop_event)
    engine.start()
    ...
    stop_event.set()
    engine.drain(deadline)   # True if everything finished in time
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqsobs._urls import queue_name
from sqsobs.listener._acker import Acker
from sqsobs.listener._heartbeat import Heartbeat
from sqsobs.listener._loop import EventLoopThread, is_async
from sqsobs.listener._message import SqsMessage
from sqsobs.listener._poller import Poller
from sqsobs.listener._runner import HandlerRunner
from sqsobs.listener._settings import ListenerSettings
from sqsobs.listener._stats import ListenerStats
from sqsobs.listener._telemetry import ListenerTelemetry
from sqsobs.listener._workers import WorkerPool

__all__ = ["Engine", "Hooks"]

logger = logging.getLogger(__name__)

#: How long the heartbeat thread may take to end once the deletes were flushed.
_HEARTBEAT_STOP_SECONDS = 1.0
#: The acker always gets this long to flush, even when the drain ran out of time.
_MIN_FLUSH_SECONDS = 0.1


@dataclass(frozen=True)
class Hooks:
    """The user's ``filter_fn``, ``on_success`` and ``on_failure`` (each may be None)."""

    filter_fn: Callable[[SqsMessage], bool] | None = None
    on_success: Callable[[SqsMessage], Any] | None = None
    on_failure: Callable[[SqsMessage, BaseException | None], Any] | None = None


class Engine:
    """Every part of a started listener on ``queue_url``; ``stop`` set means stopping."""

    def __init__(
        self,
        handler: Callable[..., Any],
        *,
        client: Any,
        queue_url: str,
        settings: ListenerSettings,
        stats: ListenerStats,
        stop: threading.Event,
        hooks: Hooks,
    ) -> None:
        self.name = queue_name(queue_url)
        self.telemetry = ListenerTelemetry(self.name, queue_url)
        self.heartbeat = Heartbeat(
            client=client,
            queue_url=queue_url,
            telemetry=self.telemetry,
            visibility_secs=settings.visibility_secs,
            max_extend=settings.max_extend,
        )
        self.acker = Acker(
            client=client,
            queue_url=queue_url,
            telemetry=self.telemetry,
            linger_seconds=settings.delete_linger_seconds,
            before_send=self.heartbeat.untrack_handles,
        )
        self.loop = EventLoopThread() if is_async(handler) else None
        self.runner = HandlerRunner(
            handler,
            settings=settings,
            telemetry=self.telemetry,
            heartbeat=self.heartbeat,
            acker=self.acker,
            stats=stats,
            stopping=stop.is_set,
            loop=self.loop,
            filter_fn=hooks.filter_fn,
            on_success=hooks.on_success,
            on_failure=hooks.on_failure,
        )
        self.pool = WorkerPool(settings.worker_threads, stopping=stop.is_set)
        self.poller = Poller(
            client=client,
            queue_url=queue_url,
            settings=settings,
            telemetry=self.telemetry,
            heartbeat=self.heartbeat,
            runner=self.runner,
            pool=self.pool,
            stats=stats,
            stop=stop,
        )

    def start(self) -> None:
        """Start every thread, named ``sqsobs-{queue}-{part}``."""
        tag = f"sqsobs-{self.name}"
        self.telemetry.observe_inflight(self.heartbeat)
        self.heartbeat.start(f"{tag}-heartbeat")
        self.acker.start(f"{tag}-acker")
        if self.loop is not None:
            self.loop.start(f"{tag}-loop")
        self.pool.start(tag)
        self.poller.start(tag)

    def wake(self) -> None:
        """Wake the pollers waiting for a free worker (the stop event was just set)."""
        self.pool.wake()

    def drain(self, deadline: float) -> bool:
        """Stop everything in order; True if handlers and deletes finished by ``deadline``."""
        self.poller.join(deadline)
        finished = self.pool.join(deadline)
        if not finished:
            logger.warning(
                "listener on %s: handlers still running at the shutdown deadline; their "
                "messages come back after their visibility timeout",
                self.name,
            )
        remaining = max(_MIN_FLUSH_SECONDS, deadline - time.monotonic())
        flushed = self.acker.stop(remaining)
        self.heartbeat.stop(_HEARTBEAT_STOP_SECONDS)
        self.telemetry.stop_observing()
        if self.loop is not None:
            self.loop.stop()
        return finished and flushed
