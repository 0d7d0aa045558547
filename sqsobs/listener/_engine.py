"""The threads of one started listener, wired together, and the order they stop in.

An :class:`Engine` is built by ``Listener.start()`` once the queue URL is known: telemetry,
heartbeat, acker, the event loop (for an ``async def`` handler), the handler runner, the worker
pool (and its prefetch bound, per message) and the pollers. The pollers use ``poll_client`` (a
read timeout above the long poll), everything else ``client`` (short timeouts, so a stalled call
is retried well within half a visibility timeout).

Stopping, once the listener's stop event is set: :meth:`Engine.wake` releases at once what no
worker started (the prefetch buffer) and wakes the pollers. :meth:`Engine.drain` then waits for
the handlers until ``deadline`` minus a settle reserve (a tenth of the time, at most 2 s), gives
receives on their way a moment (a long poll on an idle queue is not waited for; see
:meth:`Poller.join <sqsobs.listener._poller.Poller.join>`), flushes deletes and releases until the
deadline, and stops the heartbeat and the event loop.

Example::

    engine = Engine(handler, client=c, queue_url=url, settings=s, stats=st, stop=stop_event)
    engine.start()
    ...
    stop_event.set()
    engine.wake()
    engine.drain(deadline)   # True if everything finished in time
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqsobs._payloads._store import PayloadStore
from sqsobs._urls import queue_name
from sqsobs.listener._acker import Acker
from sqsobs.listener._heartbeat import Heartbeat
from sqsobs.listener._loop import EventLoopThread, is_async
from sqsobs.listener._message import SqsMessage
from sqsobs.listener._payloads import PayloadFetcher
from sqsobs.listener._poller import Poller
from sqsobs.listener._prefetch import PrefetchBound
from sqsobs.listener._runner import HandlerRunner
from sqsobs.listener._scale import ScaleHooks
from sqsobs.listener._settings import ListenerSettings
from sqsobs.listener._stats import ListenerStats
from sqsobs.listener._telemetry import ListenerTelemetry
from sqsobs.listener._workers import WorkerPool
from sqsobs.telemetry import get_instruments, get_tracer

__all__ = ["Engine", "Hooks"]

logger = logging.getLogger(__name__)

#: The last part of a drain kept for the final deletes and releases: this share of it, at most
#: _SETTLE_RESERVE_SECONDS.
_SETTLE_RESERVE_SHARE = 0.1
_SETTLE_RESERVE_SECONDS = 2.0
#: The acker always gets this long to flush, even when the drain ran out of time.
_MIN_FLUSH_SECONDS = 0.1
#: The most the heartbeat thread and the event loop are waited for at the end.
_THREAD_STOP_SECONDS = 1.0


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
        poll_client: Any = None,
        s3_client: Any = None,
    ) -> None:
        self.name = queue_name(queue_url)
        self._stop = stop
        self._stopped_at = 0.0  # when wake() saw the stop request
        self.telemetry = ListenerTelemetry(self.name, queue_url)
        self.heartbeat = Heartbeat(
            client=client,
            queue_url=queue_url,
            telemetry=self.telemetry,
            visibility_secs=settings.visibility_secs,
            max_extend=settings.max_extend,
        )
        # Large payloads: the S3 client is built when the first pointer arrives.
        store = PayloadStore(s3_client, get_tracer(), get_instruments())
        payloads = PayloadFetcher(store, self.name, delete_objects=settings.delete_large_payloads)
        self.acker = Acker(
            client=client,
            queue_url=queue_url,
            telemetry=self.telemetry,
            linger_seconds=settings.delete_linger_seconds,
            guard=self.heartbeat,
            after_delete=payloads.deleted if settings.delete_large_payloads else None,
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
            payloads=payloads,
        )
        prefetch = None
        if settings.mode == "per_message":
            prefetch = PrefetchBound(
                workers=settings.worker_threads,
                most=settings.max_prefetch,
                visibility_secs=settings.visibility_secs,
            )
        self.scale = ScaleHooks(settings, queue_url=queue_url, client=client, owner=self)
        self.pool = WorkerPool(
            settings.worker_threads,
            stopping=stop.is_set,
            prefetch=prefetch,
            on_start=self.scale.on_start,
        )
        self.poller = Poller(
            client=poll_client if poll_client is not None else client,
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
        self.telemetry.observe_capacity(self.pool)
        self.scale.start(self.pool.busy)
        self.heartbeat.start(f"{tag}-heartbeat")
        self.acker.start(f"{tag}-acker")
        if self.loop is not None:
            self.loop.start(f"{tag}-loop")
        self.pool.start(tag)
        self.poller.start(tag)

    def wake(self) -> None:
        """The stop event was just set: release what no worker started, wake the pollers."""
        self._stopped_at = time.monotonic()
        unstarted = [m for job in self.pool.take_unstarted() for m in job.messages]
        self.runner.release(unstarted, 0, "not started before shutdown")
        self.pool.wake()

    def dead_threads(self) -> list[str]:
        """Names of this listener's threads that died while it runs (workers are replaced)."""
        if self._stop.is_set():
            return []
        threads = [self.heartbeat.thread, self.acker.thread]
        if self.loop is not None:
            threads.append(self.loop.thread)
        dead = [t.name for t in threads if t is not None and not t.is_alive()]
        return dead + self.poller.dead() + self.pool.dead()

    def drain(self, deadline: float) -> bool:
        """Stop everything in order; True if handlers and deletes finished by ``deadline``."""
        now = time.monotonic()
        reserve = min(_SETTLE_RESERVE_SECONDS, _SETTLE_RESERVE_SHARE * max(0.0, deadline - now))
        settle_at = deadline - reserve
        finished = self.pool.join(settle_at)
        if not finished:
            logger.warning(
                "listener on %s: handlers still running at the shutdown deadline; their "
                "messages come back after their visibility timeout",
                self.name,
            )
        # A receive on its way is waited for briefly; a long poll on an idle queue is not.
        self.poller.join(settle_at, stopped_at=self._stopped_at or now)
        flushed = self.acker.stop(max(_MIN_FLUSH_SECONDS, deadline - time.monotonic()))
        last = min(_THREAD_STOP_SECONDS, max(0.0, deadline - time.monotonic()))
        self.heartbeat.stop(last)
        self.telemetry.stop_observing()
        self.scale.stop(max(0.0, deadline - time.monotonic()))
        if self.loop is not None:
            self.loop.stop(last)
        return finished and flushed
