"""A listener's pollers: ReceiveMessage loops that feed the worker pool.

A poller receives only as many messages as there are free workers (one batch per free worker in
batch mode), so no message waits in a local buffer while its visibility timeout runs down. Failed
receives back off with full jitter; empty ones sleep a random while (``idle_sleep_max``). Messages
a receive returns after the listener began stopping are made visible again at once.

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
from sqsobs.listener._workers import WorkerPool
from sqsobs.telemetry import aws_request_id, error_type, extract_context

__all__ = ["Poller"]

logger = logging.getLogger(__name__)

#: System attributes the listener asks for: tracing, age, receive count and FIFO group.
SYSTEM_ATTRIBUTES = ["AWSTraceHeader", "SentTimestamp", "ApproximateReceiveCount", "MessageGroupId"]

#: After the n-th failed ReceiveMessage in a row: full jitter up to 0.4 s * 2**(n-1), at most 20 s.
POLL_BACKOFF = Backoff(base_seconds=0.4, max_seconds=20.0)


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
        # A batch takes one worker; per message, one worker per message.
        self._wanted = 1 if settings.mode == "batch" else settings.batch_size

    def start(self, tag: str) -> None:
        """Start the pollers, named ``{tag}-poller-{n}``."""
        for index in range(self._settings.poller_threads):
            name = f"{tag}-poller-{index}"
            poller = threading.Thread(target=self._poll, name=name, daemon=True)
            poller.start()
            self._threads.append(poller)

    def join(self, deadline: float) -> bool:
        """Wait for the pollers to end (their receive in flight returns first)."""
        for poller in self._threads:
            poller.join(max(0.0, deadline - time.monotonic()))
        return not any(poller.is_alive() for poller in self._threads)

    def _poll(self) -> None:
        failures = 0
        while not self._stop.is_set():
            slots = self._pool.reserve(self._wanted)
            if slots == 0:
                break
            try:
                received, receive = self._receive(slots)
            except SqsError as error:
                self._pool.give_back(slots)
                failures += 1
                self._poll_failed(error, failures)
                continue
            failures = 0
            used = self._dispatch(received, receive) if received else 0
            self._pool.give_back(slots - used)
            if not received and self._settings.idle_sleep_max > 0:
                self._stop.wait(random.random() * self._settings.idle_sleep_max)

    def _receive(self, slots: int) -> tuple[list[SqsMessage], SpanContext | None]:
        count = self._settings.batch_size if self._settings.mode == "batch" else slots
        started_ns = time.time_ns()
        started = time.perf_counter()
        raw, request_id = self._receive_message(count, started, started_ns)
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
        self._heartbeat.track(messages)
        self._stats.add(received=len(messages))
        return messages, receive

    def _receive_message(
        self, count: int, started: float, started_ns: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One ReceiveMessage call: the raw messages and the request id; a failure is recorded
        (metrics and a failed ``receive`` span) and raised translated."""
        try:
            with suppress_other_instrumentation():  # sqsobs' receive span describes the call
                response = self._client.receive_message(
                    QueueUrl=self._queue_url,
                    MaxNumberOfMessages=count,
                    WaitTimeSeconds=self._settings.wait_time,
                    VisibilityTimeout=self._settings.visibility_secs,
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

    def _dispatch(self, messages: list[SqsMessage], receive: SpanContext | None) -> int:
        """Queue the work for ``messages``; return how many workers it takes."""
        if self._stop.is_set():
            self._runner.release(messages, 0, "received after the listener began stopping")
            return 0
        if self._settings.mode == "batch":
            self._pool.submit(self._runner.run_batch, messages, receive)
            return 1
        groups = _fifo_groups(messages) if self._settings.fifo else [[m] for m in messages]
        for group in groups:
            self._pool.submit(self._runner.run_messages, group, receive)
        return len(groups)

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
