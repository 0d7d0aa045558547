"""A listener's pollers: ReceiveMessage loops that feed the worker pool.

A poller reserves slots in the worker pool before it receives (see :mod:`sqsobs.listener._workers`:
the free workers, plus in per-message mode a small prefetch buffer the heartbeat covers) and asks
for that many messages (a full batch in batch mode). Failed receives back off with full jitter;
empty ones sleep a random while (``idle_sleep_max``). Messages a receive returns after the
listener began stopping are made visible again at once.

Stopping never waits out a long poll: the drain goes on without it, and a poll that returns
during the drain has its messages released at once. A poll still waiting when the process exits
is cut, and SQS does not notice: a message arriving in the rest of that poll's wait is handed to
the closed connection and stays invisible for the visibility timeout that receive set. So a poll
that follows an empty receive (the queue is idle, the case of a scale-in) asks for a short
timeout, ``min(visibility_secs, IDLE_RECEIVE_VISIBILITY_SECONDS)``, and the heartbeat extends what
it returns to ``visibility_secs`` at once: a message lost to a cut poll comes back within 10 s.

Example::

    poller = Poller(client=c, queue_url=url, settings=s, telemetry=t, heartbeat=h,
                    runner=r, pool=p, stats=st, stop=stop_event)
    poller.start("sqsobs-orders")
    ...
    poller.join(deadline)    # after stop_event was set
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any

from opentelemetry.trace import SpanContext

from sqsobs._backoff import Backoff
from sqsobs._suppress import suppress_other_instrumentation
from sqsobs.errors import SqsError, translate_client_error
from sqsobs.listener._heartbeat import Heartbeat
from sqsobs.listener._message import SqsMessage
from sqsobs.listener._runner import HandlerRunner
from sqsobs.listener._settings import ListenerSettings
from sqsobs.listener._stats import ListenerStats
from sqsobs.listener._telemetry import ListenerTelemetry
from sqsobs.listener._workers import Job, WorkerPool
from sqsobs.telemetry import aws_request_id, error_type, extract_context

__all__ = ["Poller"]

logger = logging.getLogger(__name__)

#: System attributes the listener asks for: tracing, age, receive count and FIFO group.
SYSTEM_ATTRIBUTES = ["AWSTraceHeader", "SentTimestamp", "ApproximateReceiveCount", "MessageGroupId"]

#: After the n-th failed ReceiveMessage in a row: full jitter up to 0.4 s * 2**(n-1), at most 20 s.
POLL_BACKOFF = Backoff(base_seconds=0.4, max_seconds=20.0)

#: The visibility timeout a receive following an empty one asks for (see the module docstring).
IDLE_RECEIVE_VISIBILITY_SECONDS = 10
#: How long after a stop request a receive on its way is waited for (see Poller.join).
STOP_GRACE_SECONDS = 0.5
#: How much longer than its WaitTimeSeconds a receive may take to come back by itself.
_RECEIVE_MARGIN_SECONDS = 1.0
#: A receive that ends by itself this soon after the stop request is waited for.
_NATURAL_END_SECONDS = 2.5


class Poller:
    """``poller_threads`` threads receiving from one queue until ``stop`` is set."""

    def __init__(
        self,
        *,
        client: Any,
        queue_url: str,
        settings: ListenerSettings,
        telemetry: ListenerTelemetry,
        heartbeat: Heartbeat,
        runner: HandlerRunner,
        pool: WorkerPool,
        stats: ListenerStats,
        stop: threading.Event,
    ) -> None:
        self._client = client
        self._queue_url = queue_url
        self._settings = settings
        self._telemetry = telemetry
        self._heartbeat = heartbeat
        self._runner = runner
        self._pool = pool
        self._stats = stats
        self._stop = stop
        self._threads: list[threading.Thread] = []
        # When each poller (by thread ident) began the receive it is in.
        self._receiving: dict[int, float] = {}
        # A batch takes one worker; per message, one worker per message.
        self._wanted = 1 if settings.mode == "batch" else settings.batch_size

    def start(self, tag: str) -> None:
        """Start the pollers, named ``{tag}-poller-{n}``."""
        for index in range(self._settings.poller_threads):
            name = f"{tag}-poller-{index}"
            poller = threading.Thread(target=self._poll, name=name, daemon=True)
            poller.start()
            self._threads.append(poller)

    def join(self, deadline: float, *, stopped_at: float) -> bool:
        """Wait for the pollers to end, at most until ``deadline``; True if they all did.

        A receive on its way is given ``STOP_GRACE_SECONDS`` from the stop request
        (``stopped_at``): one on a busy queue returns in milliseconds and its messages are
        released. One that ends by itself (its WaitTimeSeconds plus a second) within
        ``_NATURAL_END_SECONDS`` of the stop is waited for; a long poll on an idle queue is left
        to its daemon thread (what it returns later is released at once).
        """
        for poller in self._threads:
            since = self._receiving.get(poller.ident or 0)
            until = time.monotonic()
            if since is not None:
                until = stopped_at + STOP_GRACE_SECONDS
                natural_end = since + self._settings.wait_time + _RECEIVE_MARGIN_SECONDS
                if natural_end <= stopped_at + _NATURAL_END_SECONDS:
                    until = max(until, natural_end)
            poller.join(max(0.0, min(until, deadline) - time.monotonic()))
        return not any(poller.is_alive() for poller in self._threads)

    def dead(self) -> list[str]:
        """Names of pollers that ended although the listener was not stopping."""
        if self._stop.is_set():
            return []
        return [poller.name for poller in self._threads if not poller.is_alive()]

    def _poll(self) -> None:
        failures = 0
        idle = True  # no receive yet: as after an empty one (see the module docstring)
        while not self._stop.is_set():
            slots = self._pool.reserve(self._wanted)
            if slots == 0:
                break
            jobs: list[Job] = []
            try:
                received, receive = self._receive(slots, idle)
                jobs = self._dispatch(received, receive) if received else []
            except SqsError as error:
                if self._stop.is_set():  # a poll abandoned at shutdown: nothing to retry
                    logger.debug("receive on %s ended by the shutdown: %s", self._queue_url, error)
                    break
                failures += 1
                self._poll_failed(error, failures)
                continue
            except Exception:  # a bug of ours must not end polling
                logger.exception("receive on %s: unexpected error", self._queue_url)
                failures += 1
                self._stop.wait(POLL_BACKOFF.delay(failures))
                continue
            finally:
                self._pool.received(slots, jobs)
            failures = 0
            idle = not received
            if idle and self._settings.idle_sleep_max > 0:
                self._stop.wait(random.random() * self._settings.idle_sleep_max)

    def _receive(self, slots: int, idle: bool) -> tuple[list[SqsMessage], SpanContext | None]:
        count = self._settings.batch_size if self._settings.mode == "batch" else slots
        visibility = self._settings.visibility_secs
        if idle:
            visibility = min(visibility, IDLE_RECEIVE_VISIBILITY_SECONDS)
        started_ns = time.time_ns()
        started = time.perf_counter()
        ident = threading.get_ident()
        self._receiving[ident] = time.monotonic()
        try:
            raw, request_id = self._receive_message(count, visibility, started, started_ns)
        finally:
            del self._receiving[ident]
        duration = time.perf_counter() - started
        if not raw:
            traced = self._settings.trace_empty_receives
            self._telemetry.empty_receive(
                duration, started_ns, traced=traced, request_id=request_id
            )
            return [], None
        now = time.monotonic()
        queue = self._telemetry.queue
        messages = [
            SqsMessage.from_boto(m, received_at=now, context=extract_context(m, destination=queue))
            for m in raw
        ]
        receive = self._telemetry.received(messages, started_ns, duration, request_id)
        self._heartbeat.track(messages, visibility)
        self._stats.add(received=len(messages))
        return messages, receive

    def _receive_message(
        self, count: int, visibility: int, started: float, started_ns: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One ReceiveMessage call: the raw messages and the request id; a failure is recorded
        (metrics and a failed ``receive`` span) and raised translated."""
        try:
            with suppress_other_instrumentation():  # sqsobs' receive span describes the call
                response = self._client.receive_message(
                    QueueUrl=self._queue_url,
                    MaxNumberOfMessages=count,
                    WaitTimeSeconds=self._settings.wait_time,
                    VisibilityTimeout=visibility,
                    MessageAttributeNames=["All"],
                    MessageSystemAttributeNames=SYSTEM_ATTRIBUTES,
                )
        except Exception as error:
            translated = translate_client_error(error, operation="ReceiveMessage")
            translated.__cause__ = error  # as `raise from` sets it: the span reads the request id
            self._telemetry.poll_error(translated, time.perf_counter() - started, started_ns)
            raise translated from error
        messages: list[dict[str, Any]] = response.get("Messages") or []
        return messages, aws_request_id(response)

    def _dispatch(self, messages: list[SqsMessage], receive: SpanContext | None) -> list[Job]:
        """The jobs for ``messages``: one per batch, per message or per FIFO group."""
        if self._stop.is_set():
            self._runner.release(messages, 0, "received after the listener began stopping")
            return []
        if self._settings.mode == "batch":
            return [Job(self._runner.run_batch, messages, receive)]
        # A FIFO group is one job: its messages never wait apart, so their order holds.
        groups = _fifo_groups(messages) if self._settings.fifo else [[m] for m in messages]
        return [Job(self._runner.run_messages, group, receive) for group in groups]

    def _poll_failed(self, error: SqsError, failures: int) -> None:
        # Full jitter, capped: throttling and outages back off without synchronised retries.
        delay = POLL_BACKOFF.delay(failures)
        logger.warning(
            "receive on %s failed (%s: %s); retrying in %.1f s",
            self._queue_url,
            error_type(error),
            error,
            delay,
        )
        self._stop.wait(delay)


def _fifo_groups(messages: list[SqsMessage]) -> list[list[SqsMessage]]:
    """Messages split by MessageGroupId, each group in receive order."""
    groups: dict[str | None, list[SqsMessage]] = {}
    for message in messages:
        groups.setdefault(message.group_id, []).append(message)
    return list(groups.values())
