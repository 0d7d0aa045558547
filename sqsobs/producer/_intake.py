"""What ``send()`` does before a message waits in its buffer.

It looks the queue up on first use, checks the message as SQS would, opens the ``create
{queue}`` span, adds the trace context to the message attributes and buffers the message. A
message refused on the way (invalid, too large, buffer full, producer closed, unknown queue) is
counted in the metrics and the queue's counters before the error reaches the caller.

Example::

    intake = Intake(buffers, tracer, instruments, resolve=lambda key: resolve_queue(client, key))
    future = intake.send("orders", "hello", attributes=None, delay_seconds=None,
                         group_id=None, deduplication_id=None)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import Future

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Tracer

from sqsobs.errors import MessageError, MessageTooLarge, PayloadError, ProducerError, SqsObsError
from sqsobs.producer._buffers import Buffers
from sqsobs.producer._entries import Attributes, build_entry, check_message
from sqsobs.producer._messages import PendingMessage
from sqsobs.producer._offload import Offloader
from sqsobs.producer._queue_buffer import QueueBuffer
from sqsobs.producer._resolve import QueueInfo
from sqsobs.producer._telemetry import QueueTelemetry, count_rejected
from sqsobs.telemetry import Instruments, error_type, record_error

__all__ = ["Intake"]


class Intake:
    """Admits messages into the buffers, or refuses them with a counted, typed error."""

    def __init__(
        self,
        buffers: Buffers,
        tracer: Tracer,
        instruments: Instruments,
        *,
        resolve: Callable[[str], QueueInfo],
        offloader: Offloader | None = None,
    ) -> None:
        self._buffers = buffers
        self._settings = buffers.settings
        self._tracer = tracer
        self._instruments = instruments
        self._resolve = resolve
        self._offloader = offloader

    def send(
        self,
        queue: str,
        body: str,
        *,
        attributes: Attributes | None,
        delay_seconds: int | None,
        group_id: str | None,
        deduplication_id: str | None,
    ) -> Future[str]:
        """Buffer a message for ``queue``; see :meth:`BatchProducer.send`."""
        buffer = self._buffers.queues.get(queue)
        if buffer is None:
            buffer = self._open_queue(queue)
        info, telemetry = buffer.info, buffer.telemetry
        offloader, offloaded = self._offloader, None
        try:
            size = check_message(
                info,
                body,
                attributes,
                delay_seconds=delay_seconds,
                group_id=group_id,
                deduplication_id=deduplication_id,
                size_limited=offloader is None,
            )
            if offloader is not None:
                offloaded = offloader.prepare(info, body, attributes, size)
        except (MessageError, PayloadError) as exc:
            self._rejected(buffer, exc)
            raise
        if offloaded is not None:
            body, attributes, size = offloaded.body, offloaded.attributes, offloaded.size_bytes
        span, context = self._creation(telemetry)
        entry, size = build_entry(
            body,
            attributes,
            size=size,
            destination=telemetry.name,
            room_bytes=info.max_message_bytes - size,
            context=context,
            delay_seconds=delay_seconds,
            group_id=group_id,
            deduplication_id=deduplication_id,
            xray=self._settings.xray_trace_header,
        )
        future: Future[str] = Future()
        creation = trace.get_current_span(context).get_span_context()
        message = PendingMessage(entry, size, future, creation, time.monotonic())
        message.payload = offloaded
        try:
            self._buffers.accept(buffer, message, self._settings.buffer_full_timeout_seconds)
        except ProducerError as exc:
            if span is not None:
                record_error(span, exc)
                span.end()
            self._rejected(buffer, exc)
            raise
        if span is not None:
            span.end()
        return future

    def _creation(self, telemetry: QueueTelemetry) -> tuple[Span | None, Context]:
        """The message's ``create`` span and its context; without create spans, the caller's."""
        if not self._settings.create_spans:
            return None, otel_context.get_current()
        span = self._tracer.start_span(
            telemetry.create_name, kind=SpanKind.PRODUCER, attributes=telemetry.create_attrs
        )
        return span, trace.set_span_in_context(span)

    def _open_queue(self, key: str) -> QueueBuffer:
        state = self._buffers.state
        try:
            if not state.accepts_messages:  # refuse before any network call
                raise state.refusal()
            info = self._resolve(key)
        except Exception as exc:
            count_rejected(self._instruments, key, error_type(exc))
            with self._buffers.lock:
                self._buffers.stats_for(key).messages_rejected += 1
            raise
        limit = min(info.max_message_bytes, self._settings.max_batch_bytes)
        info = dataclasses.replace(info, max_message_bytes=limit)
        telemetry = QueueTelemetry(info.name, info.url, self._instruments)
        return self._buffers.open_queue(key, info, telemetry)

    def _rejected(self, buffer: QueueBuffer, error: SqsObsError) -> None:
        buffer.telemetry.rejected(error_type(error))
        with self._buffers.lock:
            buffer.stats.messages_rejected += 1
            if isinstance(error, MessageTooLarge):
                buffer.stats.oversized_message_dropped += 1
