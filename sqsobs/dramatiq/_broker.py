"""``BatchSQSBroker``: dramatiq-sqs's ``SQSBroker`` whose ``enqueue`` batches via the producer.

Compatible with dramatiq-sqs-batch's BatchSQSBroker: it keeps dramatiq-sqs 0.4's queue naming
(``{namespace}_{queue}``) and queue creation, runs the ``before_enqueue`` / ``after_enqueue``
middleware hooks, and takes the same parameters and methods. It also takes every other setting
of :class:`~sqsobs.producer.ProducerSettings`; everything else goes to ``SQSBroker``
(``namespace``, ``middleware``, ``retention``, boto3 options ...).

A delay longer than SQS's 15 minutes is not an error: the message is sent with the 15-minute
maximum and an ``eta``, and the dramatiq worker holds it until then (within the queue's
visibility timeout, 12 h by default).

Example::

    broker = BatchSQSBroker(namespace="myapp", default_batch_interval=0.5)
    dramatiq.set_broker(broker)
"""

from __future__ import annotations

import logging
from base64 import b64encode
from collections.abc import Mapping
from typing import Any

import dramatiq
import dramatiq_sqs
from botocore.config import Config
from dramatiq.common import current_millis
from dramatiq_sqs.broker import SQSConsumer

from sqsobs.dramatiq._middleware import TracingMiddleware
from sqsobs.errors import MessageTooLarge
from sqsobs.limits import MAX_DELAY_SECONDS
from sqsobs.producer import BatchProducer, FailedMessage, ProducerSettings
from sqsobs.telemetry import AWS_TRACE_HEADER

__all__ = ["BatchSQSBroker", "DramatiqMessageTooLarge", "TracingSQSConsumer"]


class DramatiqMessageTooLarge(MessageTooLarge, dramatiq_sqs.MessageTooLarge):  # type: ignore[misc]
    """Too large for SQS: both sqsobs's and dramatiq-sqs's error, so either ``except`` works."""


class _AttributeReceivingQueue:
    """A boto3 Queue resource whose receives also return message attributes (trace context)."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def receive_messages(self, **kwargs: Any) -> Any:
        kwargs.setdefault("MessageAttributeNames", ["All"])
        kwargs.setdefault("MessageSystemAttributeNames", [AWS_TRACE_HEADER])
        return self._queue.receive_messages(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)


class TracingSQSConsumer(SQSConsumer):  # type: ignore[misc]
    """dramatiq-sqs's consumer, receiving message attributes so workers join the trace."""

    def __init__(self, queue: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(_AttributeReceivingQueue(queue), *args, **kwargs)


class BatchSQSBroker(dramatiq_sqs.SQSBroker):  # type: ignore[misc]
    """An ``SQSBroker`` that buffers enqueued messages and sends them in SendMessageBatch calls.

    The settings keywords are those of :class:`~sqsobs.producer.BatchProducer` (documented on
    :class:`~sqsobs.producer.ProducerSettings`, with their ``SQSOBS_*`` environment variables);
    per-queue overrides are keyed by dramatiq queue name. Defaults: ``default_batch_interval``
    1.0 s, ``default_idle_timeout`` 0.1 s (0: no idle trigger), ``batch_size`` 10,
    ``max_buffer_size_per_queue`` 5000, ``max_retry_attempts`` 3. Other keywords go to
    dramatiq-sqs's ``SQSBroker``.

    Example::

        broker = BatchSQSBroker(namespace="my-app", group_batch_intervals={"urgent": 0})
        dramatiq.set_broker(broker)
        ...
        broker.close()   # flushes every buffer
    """

    #: The longest DelaySeconds SQS takes; a longer delay travels as an ``eta`` option.
    max_sqs_delay_seconds: int = MAX_DELAY_SECONDS

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
        transport: str | None = None,
        **kwargs: Any,
    ) -> None:
        # The settings keywords are passed on by name (a test keeps them equal to the fields).
        settings = ProducerSettings.pick(locals())
        # Every message is validated before it is buffered, so botocore's own parameter check
        # repeats it (8-9 us per message); a ``config`` passed in still wins on any option.
        unchecked = Config(parameter_validation=False)
        given = kwargs.get("config")
        kwargs["config"] = unchecked if given is None else unchecked.merge(given)
        super().__init__(**kwargs)
        # close() logs "Closing BatchSQSBroker..." here, as dramatiq-sqs-batch did.
        self.logger = logging.getLogger(f"{__name__}.{type(self).__name__}")
        self.producer = BatchProducer(
            self.sqs.meta.client,
            **settings,
            on_failure=self._log_failure,
            queue_url_resolver=self._queue_url,
        )
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
    def consumer_class(self) -> type[SQSConsumer]:
        """The consumer workers use: dramatiq-sqs's, receiving message attributes too."""
        return TracingSQSConsumer

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
        """Buffer ``message`` for its queue (sent in a batch); run the enqueue hooks around it."""
        queue_name = message.queue_name
        self._ensure_queue(queue_name)
        delay_seconds = (delay or 0) // 1000
        if delay_seconds > self.max_sqs_delay_seconds:
            # SQS cannot hold it that long: the worker receives it early and waits for the eta.
            message = message.copy(options={"eta": current_millis() + int(delay or 0)})
            delay_seconds = self.max_sqs_delay_seconds
        body = b64encode(message.encode()).decode()
        if len(body) > self.max_message_size:
            raise DramatiqMessageTooLarge(len(body), self.max_message_size)
        self.logger.debug("Enqueueing message %r on queue %r.", message.message_id, queue_name)
        self.emit_before("enqueue", message, delay)
        try:
            self.producer.send(queue_name, body, delay_seconds=delay_seconds or None)
        except MessageTooLarge as exc:
            raise DramatiqMessageTooLarge(exc.size_bytes, exc.limit_bytes) from exc
        self.emit_after("enqueue", message, delay)
        return message

    def join(self, queue_name: str, *, timeout: int | None = None) -> None:
        """Flush the queue's buffer, then wait as ``SQSBroker.join`` does."""
        self.producer.force_flush_queue(queue_name)
        super().join(queue_name, timeout=timeout)

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
