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

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future, wait
from types import TracebackType
from typing import Any

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from sqsobs._client import SEND_READ_TIMEOUT_SECONDS, build_sqs_client, drop_inherited_connections
from sqsobs._transport import with_transport
from sqsobs.errors import Cleared, ProducerClosed
from sqsobs.producer import _process_hooks
from sqsobs.producer._buffers import Buffers
from sqsobs.producer._entries import Attributes
from sqsobs.producer._flusher import Flusher
from sqsobs.producer._intake import Intake
from sqsobs.producer._lifecycle import ProducerState
from sqsobs.producer._messages import FlushReason
from sqsobs.producer._monitor import metrics_snapshot, queue_status
from sqsobs.producer._offload import Offloader
from sqsobs.producer._pool import SendPool
from sqsobs.producer._resolve import QueueInfo, resolve_queue
from sqsobs.producer._sender import BatchSender
from sqsobs.producer._settings import ProducerSettings
from sqsobs.producer._settle import OnFailure, Settler
from sqsobs.telemetry import get_instruments, get_tracer
from sqsobs.telemetry.catalog import BUFFER_DEPTH

__all__ = ["BatchProducer"]

logger = logging.getLogger(__name__)

_CLOSING_STATES = frozenset({ProducerState.CLOSING, ProducerState.STOPPING})


def _seconds(timeout_seconds: float | None, timeout: float | None) -> float | None:
    """``timeout_seconds``, or its alias ``timeout`` (the keyword these methods first had)."""
    if timeout is None:
        return timeout_seconds
    if timeout_seconds is not None:
        raise TypeError("pass timeout_seconds or its alias timeout, not both")
    return timeout


def _all_resolved(futures: list[Future[str]], timeout_seconds: float | None) -> bool:
    return not wait(futures, timeout_seconds).not_done


class BatchProducer:
    """Buffers messages per queue and sends them in batches, with futures, spans and metrics.

    ``send()`` validates the message, opens a ``create {queue}`` span, injects its context into
    the message attributes, buffers the message and returns a Future resolving to the SQS
    MessageId (or to the error that says why it was not sent). A queue's buffer goes out when
    it is full, after its batch interval or idle timeout, or on :meth:`flush`.

    Every keyword from ``default_batch_interval`` to ``transport`` is a setting: a field
    of :class:`~sqsobs.producer.ProducerSettings`, which documents its environment variable,
    default and bounds (an argument wins over the environment, the environment over the
    default). The other arguments are objects:

    - ``client``: a boto3 SQS client (thread-safe); by default sqsobs builds one with botocore's
      retries and parameter validation off (sqsobs retries and validates itself) and 5 s / 10 s
      connect / read timeouts; with ``transport="lean"`` it is wrapped, its credentials,
      endpoint and config reused;
    - ``on_failure``: called with a :class:`~sqsobs.producer.FailedMessage` for every message
      never delivered (its exceptions are logged, not raised);
    - ``queue_url_resolver``: turns a queue key into a URL (default: the key if it is a URL,
      else GetQueueUrl);
    - ``tracer_provider``, ``meter_provider``: OpenTelemetry providers (default: the global ones);
    - ``s3_client``: a boto3 S3 client for large payloads (``large_payload_bucket``); by default
      sqsobs builds one from the environment when the first payload goes to S3.

    ``close()`` (also at interpreter exit, unless ``flush_at_exit=False``) sends what is
    buffered; a closed producer refuses messages and never reopens.

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
        create_spans: bool | None = None,
        install_signal_handler: bool | None = None,
        large_payload_bucket: str | None = None,
        large_payload_threshold_bytes: int | None = None,
        always_offload: bool | None = None,
        transport: str | None = None,
        on_failure: OnFailure | None = None,
        queue_url_resolver: Callable[[str], str] | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        s3_client: Any = None,
    ) -> None:
        # The settings keywords are passed on by name (a test keeps them equal to the fields).
        self.settings = ProducerSettings.resolve(**ProducerSettings.pick(locals()))
        self._owns_client = client is None
        self._client = with_transport(
            client if client is not None else self._build_client(), self.settings.transport
        )
        self._url_resolver = queue_url_resolver
        self._tracer = get_tracer(tracer_provider)
        self._instruments = get_instruments(meter_provider)
        self._buffers = Buffers(self.settings)
        # Read at each collection, held weakly, silent once closed.
        self._instruments.observe(BUFFER_DEPTH, self._buffers, Buffers.depths)
        self._offloader = Offloader.build(self.settings, s3_client, self._tracer, self._instruments)
        self._intake = Intake(
            self._buffers,
            self._tracer,
            self._instruments,
            resolve=self._resolve_queue,
            offloader=self._offloader,
        )
        self._settler = Settler(self._buffers, on_failure=on_failure)
        #: What the first close() returned; read once the state is CLOSED.
        self._close_result = False
        self._start_threads()
        settings = self.settings
        _process_hooks.track(
            self, sigterm=settings.flush_at_exit and settings.install_signal_handler
        )

    @property
    def client(self) -> Any:
        """The SQS client this producer sends with (boto3's, or its lean wrapper)."""
        return self._client

    @property
    def closed(self) -> bool:
        """True once ``close()`` started; ``send()`` then raises :class:`ProducerClosed`."""
        return self._buffers.state is not ProducerState.RUNNING

    def _resolve_queue(self, key: str) -> QueueInfo:
        return resolve_queue(self._client, key, self._url_resolver)

    def _build_client(self) -> Any:
        return build_sqs_client(
            max_pool_connections=self.settings.max_concurrent_sends + 2,
            read_timeout_seconds=SEND_READ_TIMEOUT_SECONDS,
        )

    def _start_threads(self) -> None:
        self._pool = SendPool(
            max_workers=self.settings.max_concurrent_sends, name="sqsobs-producer-send"
        )
        sender = BatchSender(self._client, self._tracer)
        self._flusher = Flusher(
            self._buffers,
            sender,
            self._settler,
            self._pool,
            self._tracer,
            offloader=self._offloader,
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
        return self._intake.send(
            queue,
            body,
            attributes=attributes,
            delay_seconds=delay_seconds,
            group_id=group_id,
            deduplication_id=deduplication_id,
        )

    # --- flushing and closing --------------------------------------------------------------

    def flush(self, timeout_seconds: float | None = None, *, timeout: float | None = None) -> bool:
        """Send everything buffered now and wait until each message is resolved.

        Waits up to ``timeout_seconds`` (None: as long as it takes; ``timeout`` is an alias).
        Returns True if every message was resolved (delivered or failed) in time.
        """
        futures = self._buffers.request_flush(None, FlushReason.MANUAL)
        return _all_resolved(futures, _seconds(timeout_seconds, timeout))

    def flush_all(
        self, timeout_seconds: float | None = None, *, timeout: float | None = None
    ) -> bool:
        """:meth:`flush`, by the name dramatiq-sqs-batch's BatchSQSBroker uses."""
        return self.flush(_seconds(timeout_seconds, timeout))

    def force_flush_queue(
        self, queue: str, timeout_seconds: float | None = None, *, timeout: float | None = None
    ) -> bool:
        """:meth:`flush` for one queue (True at once for a queue never used)."""
        futures = self._buffers.request_flush([queue], FlushReason.MANUAL)
        return _all_resolved(futures, _seconds(timeout_seconds, timeout))

    def clear_queue_buffer(self, queue: str) -> int:
        """Drop ``queue``'s buffered and retry-waiting messages; their futures fail with Cleared.

        Messages already in a SendMessageBatch call are not affected. Returns how many were
        cleared; each is counted as failed (``error.type=cleared``) and logged.
        """
        buffer = self._buffers.queues.get(queue)
        if buffer is None:
            return 0
        taken = self._buffers.take_unsent(buffer)
        self._settler.fail_unsent(buffer, taken, Cleared, "cleared by clear_queue_buffer()")
        if taken:
            with self._buffers.lock:
                buffer.stats.messages_cleared += len(taken)
        return len(taken)

    def close(self, timeout_seconds: float | None = None, *, timeout: float | None = None) -> bool:
        """Send everything buffered, wait for in-flight sends and retries, stop the threads.

        Waits up to ``timeout_seconds`` (default: the ``shutdown_timeout_seconds`` setting;
        ``timeout`` is an alias); messages still unsent then fail with :class:`ProducerClosed`.
        Returns True if every message was resolved in time. A second call waits for the first
        (as long as its own timeout allows) and returns the same answer.
        """
        limit = _seconds(timeout_seconds, timeout)
        if limit is None:
            limit = self.settings.shutdown_timeout_seconds
        with _process_hooks.sigterm_deferred():
            return self._close(limit)

    def _close(self, limit: float) -> bool:
        buffers = self._buffers
        if not buffers.move(ProducerState.CLOSING, allowed={ProducerState.RUNNING}):
            return buffers.wait_for(ProducerState.CLOSED, limit) and self._close_result
        logger.info("closing sqsobs producer")
        futures = buffers.request_flush(None, FlushReason.CLOSE)
        complete = _all_resolved(futures, limit)
        buffers.move(ProducerState.STOPPING, allowed={ProducerState.CLOSING})
        self._flusher.join(timeout_seconds=1.0)
        for buffer in list(buffers.queues.values()):
            unsent = buffers.take_unsent(buffer)
            self._settler.fail_unsent(buffer, unsent, ProducerClosed, "the producer closed first")
        self._pool.close(timeout_seconds=1.0)
        self._close_result = complete
        buffers.move(ProducerState.CLOSED, allowed={ProducerState.STOPPING})
        _process_hooks.untrack(self)
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
        """Buffer sizes, per-queue counters and thread liveness, in the shape of
        dramatiq-sqs-batch's ``get_metrics()`` (plus ``in_flight_counts`` and ``closed``)."""
        return metrics_snapshot(self._buffers, thread_alive=self._flusher.alive)

    def get_queue_status(self, queue: str) -> dict[str, Any]:
        """One queue's buffer, counters, timers and limits."""
        return queue_status(self._buffers, queue)

    # --- process hooks (see sqsobs.producer._process_hooks) --------------------------------

    def _close_at_exit(self) -> None:
        if self.settings.flush_at_exit:
            self.close()  # a close() already under way (another thread's): wait for it

    def _before_fork(self) -> None:
        self._buffers.lock.acquire()

    def _after_fork_in_parent(self) -> None:
        self._buffers.lock.release()

    def _after_fork_in_child(self) -> None:
        buffers = self._buffers
        buffers.reset_sync()
        buffers.forget_all()
        if buffers.state is ProducerState.RUNNING:
            if self._owns_client:
                self._client = self._build_client()
            else:
                drop_inherited_connections(self._client)
            if self._offloader is not None:
                self._offloader.store.after_fork()
            self._start_threads()
        elif buffers.move(ProducerState.CLOSED, allowed=_CLOSING_STATES):
            # The close() under way goes on in the parent; the child had nothing left to send.
            self._close_result = True
            _process_hooks.untrack(self)
