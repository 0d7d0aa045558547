"""``BatchProducer``: buffer messages per queue, send them in SendMessageBatch calls.

Example::

    from sqsobs import BatchProducer

    producer = BatchProducer(default_batch_interval=0.5)
    future = producer.send("orders", '{"id": 1}', attributes={
        "kind": {"DataType": "String", "StringValue": "new"}})
    print(future.result(timeout=10))      # the SQS MessageId
    producer.close()
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, wait
from types import TracebackType
from typing import Any

from opentelemetry import trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import SpanKind, TracerProvider

from sqsobs._client import build_sqs_client, drop_inherited_connections
from sqsobs.errors import (
    Cleared,
    InvalidMessage,
    MessageError,
    MessageTooLarge,
    ProducerClosed,
    ProducerError,
    SqsObsError,
)
from sqsobs.limits import validate_message
from sqsobs.producer import _lifecycle as lifecycle
from sqsobs.producer._core import ProducerCore
from sqsobs.producer._entries import Attributes, build_entry
from sqsobs.producer._flusher import Flusher, OnFailure, fail_future
from sqsobs.producer._messages import FlushReason, PendingMessage
from sqsobs.producer._monitor import metrics_snapshot, queue_status
from sqsobs.producer._pool import SendPool
from sqsobs.producer._queues import QueueState, resolve_queue
from sqsobs.producer._sender import BatchSender
from sqsobs.producer._settings import ProducerSettings, resolve_settings
from sqsobs.producer._telemetry import QueueTelemetry, count_rejected
from sqsobs.telemetry import error_type, get_instruments, get_tracer, record_error

__all__ = ["BatchProducer"]

logger = logging.getLogger(__name__)


class BatchProducer:
    """Buffers messages per queue and sends them in batches, with futures, spans and metrics.

    ``send()`` validates the message, opens a ``create {queue}`` span, injects its context into
    the message attributes, buffers the message and returns a Future resolving to the SQS
    MessageId (or to the error that says why it was not sent). A queue's buffer goes out when it
    holds ``batch_size`` messages or a full payload, ``default_batch_interval`` after its oldest
    message, or ``default_idle_timeout`` after its newest (0 disables the idle trigger); per-queue
    overrides come from ``group_batch_intervals`` / ``group_idle_timeouts``.

    Example::

        with BatchProducer(default_batch_interval=0.2) as producer:
            futures = [producer.send("orders", f"order {i}") for i in range(25)]
        print([f.result() for f in futures][:2])
    """

    def __init__(
        self,
        client: Any = None,
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
        on_failure: OnFailure | None = None,
        queue_url_resolver: Callable[[str], str] | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self.settings: ProducerSettings = resolve_settings(
            default_batch_interval=default_batch_interval,
            default_idle_timeout=default_idle_timeout,
            batch_size=batch_size,
            group_batch_intervals=group_batch_intervals,
            group_idle_timeouts=group_idle_timeouts,
            max_buffer_size_per_queue=max_buffer_size_per_queue,
            max_retry_attempts=max_retry_attempts,
            max_batch_bytes=max_batch_bytes,
            buffer_full_timeout_seconds=buffer_full_timeout_seconds,
            max_concurrent_sends=max_concurrent_sends,
            retry_backoff_base_seconds=retry_backoff_base_seconds,
            retry_backoff_max_seconds=retry_backoff_max_seconds,
            shutdown_timeout_seconds=shutdown_timeout_seconds,
            flush_at_exit=flush_at_exit,
            xray_trace_header=xray_trace_header,
        )
        self._owns_client = client is None
        self._client = client if client is not None else self._build_client()
        self._url_resolver = queue_url_resolver
        self._on_failure = on_failure
        self._tracer = get_tracer(tracer_provider)
        self._instruments = get_instruments(meter_provider)
        self._core = ProducerCore(self.settings)
        self._shut_down = False
        self._closed_event = threading.Event()
        self._start_threads()
        lifecycle.track(self)

    @property
    def client(self) -> Any:
        """The boto3 SQS client this producer sends with."""
        return self._client

    @property
    def closed(self) -> bool:
        """True once ``close()`` started; ``send()`` then raises :class:`ProducerClosed`."""
        return self._core.closing

    def _build_client(self) -> Any:
        return build_sqs_client(
            max_pool_connections=self.settings.max_concurrent_sends + 2, read_timeout_seconds=30
        )

    def _start_threads(self) -> None:
        self._pool = SendPool(
            max_workers=self.settings.max_concurrent_sends, name="sqsobs-producer-send"
        )
        self._flusher = Flusher(
            self._core,
            BatchSender(self._client, self._tracer),
            self._pool,
            self._tracer,
            on_failure=self._on_failure,
        )
        self._flusher.start()

    # --- sending ---------------------------------------------------------------------------

    def send(
        self,
        queue: str,
        body: str,
        *,
        attributes: Attributes | None = None,
        delay_seconds: int | None = None,
        group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> Future[str]:
        """Buffer a message for ``queue`` (a name or URL); the Future resolves to its MessageId.

        Raises :class:`MessageError` (e.g. :class:`MessageTooLarge`) for a message SQS would
        reject, :class:`BufferFull` when the queue's buffer stayed full for
        ``buffer_full_timeout_seconds``, and :class:`ProducerClosed` after ``close()``.
        """
        state = self._core.queues.get(queue)
        if state is None:
            state = self._open_queue(queue)
        info, tel = state.info, state.tel
        try:
            size = validate_message(
                body, attributes, max_size_bytes=info.max_message_bytes,
                delay_seconds=delay_seconds, group_id=group_id,
                deduplication_id=deduplication_id, fifo=info.fifo,
            )  # fmt: skip
            if info.fifo and deduplication_id is None and not info.content_based_deduplication:
                raise InvalidMessage(
                    f"{info.name} has no ContentBasedDeduplication: pass a deduplication_id"
                )
        except MessageError as exc:
            self._rejected(state, exc)
            raise
        span = self._tracer.start_span(
            tel.create_name, kind=SpanKind.PRODUCER, attributes=tel.create_attrs
        )
        context = trace.set_span_in_context(span)
        entry, size = build_entry(
            body, attributes, size=size, destination=tel.name,
            room_bytes=info.max_message_bytes - size, context=context,
            delay_seconds=delay_seconds, group_id=group_id,
            deduplication_id=deduplication_id, xray=self.settings.xray_trace_header,
        )  # fmt: skip
        future: Future[str] = Future()
        message = PendingMessage(entry, size, future, span.get_span_context(), time.monotonic())
        try:
            depth = self._core.accept(state, message, self.settings.buffer_full_timeout_seconds)
        except ProducerError as exc:
            record_error(span, exc)
            span.end()
            self._rejected(state, exc)
            raise
        span.end()
        if depth:
            tel.depth(depth)
        return future

    def _open_queue(self, key: str) -> QueueState:
        core = self._core
        if core.closing:
            error = ProducerClosed("the producer is closed; it accepts no more messages")
            self._count_unknown_rejection(key, error)
            raise error
        try:
            info = resolve_queue(self._client, key, self._url_resolver)
        except Exception as exc:
            self._count_unknown_rejection(key, exc)
            raise
        limit = min(info.max_message_bytes, self.settings.max_batch_bytes)
        info = dataclasses.replace(info, max_message_bytes=limit)
        tel = QueueTelemetry(info.name, info.url, self._instruments)
        with core.lock:
            state = core.queues.get(key)
            if state is None:
                state = QueueState(
                    key=key,
                    info=info,
                    tel=tel,
                    batch_interval=self.settings.batch_interval(key, info.name),
                    idle_timeout=self.settings.idle_timeout(key, info.name),
                    stats=core.stats_for(key),
                )
                core.queues[key] = state
        return state

    def _count_unknown_rejection(self, key: str, error: BaseException) -> None:
        count_rejected(self._instruments, key, error_type(error))
        with self._core.lock:
            self._core.stats_for(key).messages_rejected += 1

    def _rejected(self, state: QueueState, error: SqsObsError) -> None:
        state.tel.rejected(error_type(error))
        with self._core.lock:
            state.stats.messages_rejected += 1
            if isinstance(error, MessageTooLarge):
                state.stats.oversized_message_dropped += 1

    # --- flushing and shutdown -------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything buffered now and wait (up to ``timeout``) until it is all resolved."""
        futures = self._core.request_flush(None, FlushReason.MANUAL)
        return not wait(futures, timeout).not_done

    def flush_all(self, timeout: float | None = None) -> bool:
        """The seed's name for :meth:`flush`."""
        return self.flush(timeout)

    def force_flush_queue(self, queue: str, timeout: float | None = None) -> bool:
        """Send ``queue``'s buffer now and wait until it is resolved (a no-op for unused queues)."""
        futures = self._core.request_flush([queue], FlushReason.MANUAL)
        return not wait(futures, timeout).not_done

    def clear_queue_buffer(self, queue: str) -> int:
        """Drop ``queue``'s buffered and retry-waiting messages; their futures fail with Cleared.

        Messages already in a SendMessageBatch call are not affected. Returns how many were
        cleared; each is counted as failed (``error.type=cleared``) and logged.
        """
        state = self._core.queues.get(queue)
        if state is None:
            return 0
        taken = self._core.take_all(state)
        self._fail_unsent(state, taken, Cleared, "cleared by clear_queue_buffer()")
        if taken:
            with self._core.lock:
                state.stats.messages_cleared += len(taken)
        return len(taken)

    def _fail_unsent(
        self,
        state: QueueState,
        messages: list[PendingMessage],
        error_class: type[ProducerError],
        why: str,
    ) -> None:
        if not messages:
            return
        kind = error_class.error_type
        for message in messages:
            error = error_class(f"message for {state.key} not sent: {why}")
            fail_future(message.future, error)
            self._flusher.report(state.key, message, error)
        state.tel.depth(-len(messages))
        state.tel.failed(len(messages), kind, attempted=False)
        with self._core.lock:
            state.stats.messages_failed += len(messages)
        logger.warning("sqsobs producer: %d message(s) for %s %s", len(messages), state.key, why)

    def close(self, timeout: float | None = None) -> bool:
        """Flush everything, wait for in-flight sends and retries, stop the threads.

        Waits up to ``timeout`` (default ``shutdown_timeout_seconds``); messages still unsent
        then fail with :class:`ProducerClosed`. Idempotent. Returns True if all were resolved.
        """
        limit = self.settings.shutdown_timeout_seconds if timeout is None else timeout
        core = self._core
        with core.lock:
            first = not core.closing
            core.closing = True
        if not first:
            return self._closed_event.wait(limit)
        logger.info("closing sqsobs producer")
        futures = core.request_flush(None, FlushReason.CLOSE)
        complete = not wait(futures, limit).not_done
        self._flusher.stop(timeout=1.0)
        for state in list(core.queues.values()):
            self._fail_unsent(
                state, core.take_all(state), ProducerClosed, "the producer closed first"
            )
        self._pool.shutdown(timeout=1.0)
        self._shut_down = True
        self._closed_event.set()
        logger.info("sqsobs producer closed; final metrics: %s", self.get_metrics())
        return complete

    def __enter__(self) -> BatchProducer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- monitoring ------------------------------------------------------------------------

    def get_metrics(self) -> dict[str, Any]:
        """The seed's metrics dictionary: buffer sizes, per-queue counters, thread liveness."""
        return metrics_snapshot(self._core, thread_alive=self._flusher.alive)

    def get_queue_status(self, queue: str) -> dict[str, Any]:
        """One queue's buffer, counters, timers and limits."""
        return queue_status(self._core, queue)

    # --- process hooks (see sqsobs.producer._lifecycle) -------------------------------------

    def _close_at_exit(self) -> None:
        if self.settings.flush_at_exit and not self._core.closing:
            self.close()

    def _before_fork(self) -> None:
        self._core.lock.acquire()

    def _after_fork_in_parent(self) -> None:
        self._core.lock.release()

    def _after_fork_in_child(self) -> None:
        core = self._core
        core.reset_sync()
        core.forget_buffers()
        core.closing = core.stopping = self._shut_down
        self._closed_event = threading.Event()
        if self._shut_down:
            self._closed_event.set()
            return
        if self._owns_client:
            self._client = self._build_client()
        else:
            drop_inherited_connections(self._client)
        self._start_threads()
