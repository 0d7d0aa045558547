"""``BatchSQSBroker``: dramatiq-sqs's ``SQSBroker`` whose ``enqueue`` batches via the producer.

Compatible with dramatiq-sqs-batch's BatchSQSBroker: it keeps dramatiq-sqs 0.4's queue naming
(``{namespace}_{queue}``) and queue creation, runs the ``before_enqueue`` / ``after_enqueue``
middleware hooks, and takes the same parameters and methods. It also takes every other setting
of :class:`~sqsobs.producer.ProducerSettings`; everything else goes to ``SQSBroker``
(``namespace``, ``middleware``, ``retention``, boto3 options ...).

A delay longer than SQS's 15 minutes is not an error: the message is sent with the 15-minute
maximum and an ``eta``, and the worker's consumer sends it again with the remaining delay until
the eta is less than a second away (:mod:`sqsobs.dramatiq._consumer`). Enqueues made on a worker
thread are stored by SQS before that thread acks its message (:mod:`sqsobs.dramatiq._worker_side`).

Two clients, after sqsobs' client policy (:mod:`sqsobs._client`): the producer's, with botocore's
retries off (the producer retries each entry itself) and 5 s / 10 s connect / read timeouts; and
dramatiq-sqs's (``broker.sqs``), for receives, deletes and visibility changes, which nobody else
retries: 3 attempts in botocore's standard mode, and a read timeout longer than a long poll. Both
take the boto3 options given (``endpoint_url``, ``region_name``, credentials); a ``config``
given is merged on top of each and wins.

Example::

    broker = BatchSQSBroker(namespace="myapp", default_batch_interval=0.5)
    dramatiq.set_broker(broker)
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from base64 import b64encode
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

import dramatiq
import dramatiq_sqs
from dramatiq.common import current_millis
from dramatiq.errors import QueueJoinTimeout
from dramatiq_sqs.broker import SQSConsumer
from opentelemetry import context as otel_context

from sqsobs._client import (
    RECEIVE_READ_TIMEOUT_SECONDS,
    SEND_READ_TIMEOUT_SECONDS,
    UNMANAGED_ATTEMPTS,
    build_sqs_client,
    client_config,
)
from sqsobs._config import bool_setting
from sqsobs._payloads._store import PayloadStore
from sqsobs.dramatiq._consumer import BatchSQSConsumer, TracingSQSConsumer
from sqsobs.dramatiq._middleware import TracingMiddleware, received_context
from sqsobs.dramatiq._payloads import WorkerPayloads
from sqsobs.dramatiq._worker_side import Pending, WorkerEnqueues, WorkerThreads, confirm
from sqsobs.errors import MessageTooLarge
from sqsobs.limits import MAX_BATCH_ENTRIES, MAX_DELAY_SECONDS
from sqsobs.producer import BatchProducer, FailedMessage, ProducerSettings
from sqsobs.telemetry import get_instruments, get_tracer

__all__ = ["BatchSQSBroker", "DramatiqMessageTooLarge", "TracingSQSConsumer"]

logger = logging.getLogger(__name__)

#: SQSBroker's own parameters; every other keyword is a boto3 option.
_SQS_BROKER_PARAMETERS = frozenset(inspect.signature(dramatiq_sqs.SQSBroker.__init__).parameters)


class DramatiqMessageTooLarge(MessageTooLarge, dramatiq_sqs.MessageTooLarge):  # type: ignore[misc]
    """Too large for SQS: both sqsobs's and dramatiq-sqs's error, so either ``except`` works."""


class BatchSQSBroker(dramatiq_sqs.SQSBroker):  # type: ignore[misc]
    """An ``SQSBroker`` that buffers enqueued messages and sends them in SendMessageBatch calls.

    The settings keywords are those of :class:`~sqsobs.producer.BatchProducer` (documented on
    :class:`~sqsobs.producer.ProducerSettings`, with their ``SQSOBS_*`` environment variables);
    per-queue overrides are keyed by dramatiq queue name. Defaults: ``default_batch_interval``
    1.0 s, ``default_idle_timeout`` 0.1 s (0: no idle trigger), ``batch_size`` 10,
    ``max_buffer_size_per_queue`` 5000, ``max_retry_attempts`` 3. A ``batch_size`` argument above
    10 is used as 10 with a warning, as dramatiq-sqs-batch used it (silently);
    ``SQSOBS_BATCH_SIZE`` and :class:`~sqsobs.producer.BatchProducer` still refuse it. Other
    keywords go to dramatiq-sqs's ``SQSBroker``.

    Large messages: with ``large_payload_bucket`` a message over the threshold goes to S3 and a
    pointer through SQS (AWS's extended clients' format). Workers resolve pointers, whoever sent
    them, before decoding, and delete the S3 object after the message unless
    ``delete_large_payloads`` is off (``SQSOBS_DELETE_LARGE_PAYLOADS``, default on, as the
    listener's). ``s3_client``: a boto3 S3 client for both sides (default: built from the
    environment at the first payload).

    Example::

        broker = BatchSQSBroker(namespace="my-app", group_batch_intervals={"urgent": 0})
        dramatiq.set_broker(broker)
        ...
        broker.close()   # flushes every buffer
    """

    #: The longest DelaySeconds SQS takes; a longer delay travels as an ``eta`` option, and the
    #: worker sends the message again with the rest of the delay, this much at most per hop.
    max_sqs_delay_seconds: int = MAX_DELAY_SECONDS
    #: When a message enqueued on a worker thread (a Retries copy, a hop, an actor's send) was
    #: not stored, the message that thread worked on is not deleted: it is visible again after
    #: this many seconds and runs again.
    failed_copy_visibility_seconds: int = 30

    def __init__(
        self,
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
        **kwargs: Any,
    ) -> None:
        if batch_size is not None and batch_size > MAX_BATCH_ENTRIES:
            # dramatiq-sqs-batch used min(batch_size, 10) without a word; an application moved
            # over keeps working, and is told.
            logger.warning(
                "BatchSQSBroker: batch_size=%d is above SQS's %d entries per request; using %d",
                batch_size,
                MAX_BATCH_ENTRIES,
                MAX_BATCH_ENTRIES,
            )
            batch_size = MAX_BATCH_ENTRIES
        # The settings keywords are passed on by name (a test keeps them equal to the fields).
        settings = ProducerSettings.pick(locals())
        # The workers' side of large payloads; the keyword-only parameters are the producer's.
        delete_large_payloads: bool | None = kwargs.pop("delete_large_payloads", None)
        s3_client = kwargs.pop("s3_client", None)
        boto = {k: v for k, v in kwargs.items() if k not in _SQS_BROKER_PARAMETERS}
        given = boto.pop("config", None)
        kwargs["config"] = client_config(
            read_timeout_seconds=RECEIVE_READ_TIMEOUT_SECONDS,
            attempts=UNMANAGED_ATTEMPTS,
            given=given,
        )
        super().__init__(**kwargs)
        # close() logs "Closing BatchSQSBroker..." here, as dramatiq-sqs-batch did.
        self.logger = logging.getLogger(f"{__name__}.{type(self).__name__}")
        client = build_sqs_client(
            max_pool_connections=ProducerSettings.resolve(**settings).max_concurrent_sends + 2,
            read_timeout_seconds=SEND_READ_TIMEOUT_SECONDS,
            config=given,
            **boto,
        )
        self.producer = BatchProducer(
            client,
            **settings,
            s3_client=s3_client,
            on_failure=self._log_failure,
            queue_url_resolver=self._queue_url,
        )
        #: Whether workers delete a large message's S3 object after deleting the message (the
        #: listener's setting: same name, default and variable).
        self.delete_large_payloads = bool_setting(
            "delete_large_payloads",
            delete_large_payloads,
            env="SQSOBS_DELETE_LARGE_PAYLOADS",
            default=True,
        )
        # Workers resolve pointers whoever sent them; the S3 client is built at the first one.
        store = PayloadStore(s3_client, get_tracer(), get_instruments())
        self._payloads = WorkerPayloads(store, delete_objects=self.delete_large_payloads)
        self._worker_enqueues = WorkerEnqueues()
        self.add_middleware(WorkerThreads(self._worker_enqueues))
        # The attributes dramatiq-sqs-batch's broker has, as resolved.
        resolved = self.producer.settings
        self.default_batch_interval = resolved.default_batch_interval
        self.default_idle_timeout = resolved.default_idle_timeout
        self.batch_size = resolved.batch_size
        self.group_batch_intervals = dict(resolved.group_batch_intervals)
        self.group_idle_timeouts = dict(resolved.group_idle_timeouts)
        self.max_buffer_size_per_queue = resolved.max_buffer_size_per_queue
        self.max_retry_attempts = resolved.max_retry_attempts
        if not any(isinstance(m, TracingMiddleware) for m in self.middleware):
            # First in the list: its span encloses every other middleware's work.
            first = type(self.middleware[0]) if self.middleware else None
            self.add_middleware(TracingMiddleware(), before=first)

    @property
    def consumer_class(self) -> Callable[..., SQSConsumer]:
        """The consumer workers use: dramatiq-sqs's, receiving message attributes too, whose
        acks wait for worker-side enqueues and whose long delays hop (``BatchSQSConsumer``)."""
        return functools.partial(BatchSQSConsumer, self, self._payloads)

    def _queue_url(self, queue_name: str) -> str:
        self._ensure_queue(queue_name)
        return str(self.queues[queue_name].url)

    def _log_failure(self, failed: FailedMessage) -> None:
        self.logger.error(
            "Message for queue %r was not delivered after %d retries: %s",
            failed.queue,
            failed.retry_count,
            failed.error,
        )

    def enqueue(
        self, message: dramatiq.Message[Any], *, delay: int | None = None
    ) -> dramatiq.Message[Any]:
        """Buffer ``message`` for its queue (sent in a batch); run the enqueue hooks around it.

        On a dramatiq worker or consumer thread the thread's next ack waits until SQS stored the
        message; if it could not even be buffered (the error is raised as usual), that ack keeps
        its message instead of deleting it.
        """
        try:
            message, future = self._buffer(message, delay)
        except Exception as exc:
            self._worker_enqueues.record_failure(message.queue_name, exc)
            raise
        self._worker_enqueues.record(message.queue_name, future)
        self.emit_after("enqueue", message, delay)
        return message

    def _buffer(
        self, message: dramatiq.Message[Any], delay: int | None
    ) -> tuple[dramatiq.Message[Any], Future[str]]:
        queue_name = message.queue_name
        self._ensure_queue(queue_name)
        delay_seconds = (delay or 0) // 1000
        if delay_seconds > self.max_sqs_delay_seconds:
            # SQS cannot hold it that long: the worker's consumer sends it on until the eta.
            message = message.copy(options={"eta": current_millis() + int(delay or 0)})
            delay_seconds = self.max_sqs_delay_seconds
        body = b64encode(message.encode()).decode()
        # With a large_payload_bucket, the producer stores what is over the limit in S3.
        offloading = bool(self.producer.settings.large_payload_bucket)
        if len(body) > self.max_message_size and not offloading:
            raise DramatiqMessageTooLarge(len(body), self.max_message_size)
        self.logger.debug("Enqueueing message %r on queue %r.", message.message_id, queue_name)
        self.emit_before("enqueue", message, delay)
        try:
            future = self.producer.send(queue_name, body, delay_seconds=delay_seconds or None)
        except MessageTooLarge as exc:
            raise DramatiqMessageTooLarge(exc.size_bytes, exc.limit_bytes) from exc
        return message, future

    def send_again(self, message: dramatiq.Message[Any], delay_seconds: int) -> Future[str]:
        """Send a received message again, unchanged (its ``eta`` kept), ``delay_seconds`` later.

        The hop of a long delay: no enqueue hooks run, and the new ``create`` span continues the
        trace the message carries.
        """
        body = b64encode(message.encode()).decode()
        token = otel_context.attach(received_context(message))
        try:
            return self.producer.send(message.queue_name, body, delay_seconds=delay_seconds)
        finally:
            otel_context.detach(token)

    def confirm_enqueues(self, also: Sequence[Pending] = ()) -> bool:
        """Send this thread's enqueues since its last ack (and ``also``) now; True once SQS
        stored every one, False if one failed or was not resolved in ``shutdown_timeout_seconds``.
        """
        pending = [*self._worker_enqueues.take(), *also]
        return confirm(self.producer, pending, self.producer.settings.shutdown_timeout_seconds)

    def join(self, queue_name: str, *, timeout: int | None = None) -> None:
        """Flush the queue's buffer, then wait as ``SQSBroker.join`` does; ``timeout`` (seconds,
        as dramatiq-sqs reads it) bounds both and raises ``QueueJoinTimeout`` when it passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self.producer.force_flush_queue(queue_name, timeout):
            raise QueueJoinTimeout(queue_name)  # type: ignore[no-untyped-call]
        if deadline is None:
            super().join(queue_name)
            return
        # dramatiq-sqs reads a timeout of 0 as none at all: keep a sliver.
        super().join(queue_name, timeout=max(deadline - time.monotonic(), 0.001))

    def get_metrics(self) -> dict[str, Any]:
        """Buffer sizes, per-queue counters and thread liveness (see ``BatchProducer``)."""
        return self.producer.get_metrics()

    def get_queue_status(self, queue_name: str) -> dict[str, Any]:
        """One queue's buffer, counters and timers."""
        return self.producer.get_queue_status(queue_name)

    def flush_all(self, timeout_seconds: float | None = None) -> bool:
        """Send every buffered message now and wait (up to ``timeout_seconds``) until each is
        resolved; True if all were. (dramatiq's ``Broker.flush_all`` purges queues; this one
        sends, as dramatiq-sqs-batch's does.)"""
        return self.producer.flush(timeout_seconds)

    def force_flush_queue(self, queue_name: str, timeout_seconds: float | None = None) -> bool:
        """Send one queue's buffer now and wait until it is resolved; True if it was in time."""
        return self.producer.force_flush_queue(queue_name, timeout_seconds)

    def clear_queue_buffer(self, queue_name: str) -> int:
        """Drop one queue's unsent messages (emergency use); returns how many."""
        return self.producer.clear_queue_buffer(queue_name)

    def close(self, timeout_seconds: float | None = None) -> bool:
        """Flush every buffer, wait for sends and retries, stop the producer's threads.

        Waits up to ``timeout_seconds`` (default: ``shutdown_timeout_seconds``); True if every
        message was resolved. A second call waits for the first and returns its answer.
        """
        if self.producer.closed:
            return self.producer.close(timeout_seconds)
        self.logger.info("Closing BatchSQSBroker...")
        complete = self.producer.close(timeout_seconds)
        self.logger.info("BatchSQSBroker closed. Final metrics: %s", self.get_metrics())
        super().close()
        return complete
