"""The flusher thread: decides what goes out, opens the spans, and hands batches to the pool.

The thread sleeps on a condition until the earliest deadline of any queue (batch interval, idle
timeout, retry backoff) or until a caller wakes it; it never polls. It opens the ``flush
{queue}`` span and hands batches to the pool, whose threads call SendMessageBatch and settle
each message (``retry {queue}`` spans for retries). It runs while the producer's state is
``flushing`` and exits once nothing is left to do after ``close()`` stopped it.

Example::

    flusher = Flusher(buffers, sender, settler, pool, tracer)
    flusher.start()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Tracer

from sqsobs.producer._buffers import Buffers
from sqsobs.producer._classify import unexpected_failure
from sqsobs.producer._messages import PendingMessage
from sqsobs.producer._offload import Offloader
from sqsobs.producer._policy import NEVER
from sqsobs.producer._pool import SendPool
from sqsobs.producer._queue_buffer import QueueBuffer
from sqsobs.producer._retry import RetryGroup
from sqsobs.producer._sender import BatchSender, SendOutcome
from sqsobs.producer._settle import Settler
from sqsobs.producer._work import FlushJob, FlushWork, RetryWork
from sqsobs.telemetry import OP_FLUSH, OP_RETRY, OP_SPLIT, messaging_attributes
from sqsobs.telemetry.catalog import ATTR_FLUSH_REASON

__all__ = ["Flusher"]

logger = logging.getLogger(__name__)

#: One pool task: the function, its arguments, and the batches it sends.
_Task = tuple[Callable[..., None], tuple[Any, ...], list[list[PendingMessage]]]


def _shared_parent(batches: list[list[PendingMessage]]) -> Context:
    """The first create span's context when every message came from one trace, else a root."""
    first: SpanContext | None = None
    for batch in batches:
        for message in batch:
            context = message.span_context
            if context is None or not context.is_valid:
                return Context()
            if first is None:
                first = context
            elif context.trace_id != first.trace_id:
                return Context()
    if first is None:
        return Context()
    return trace.set_span_in_context(NonRecordingSpan(first))


class Flusher:
    """The flusher thread plus the pool tasks it starts."""

    def __init__(
        self,
        buffers: Buffers,
        sender: BatchSender,
        settler: Settler,
        pool: SendPool,
        tracer: Tracer,
        *,
        offloader: Offloader | None = None,
    ) -> None:
        self.buffers = buffers
        self.offloader = offloader
        self.sender = sender
        self.settler = settler
        self.pool = pool
        self.tracer = tracer
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the named daemon thread."""
        self.thread = threading.Thread(
            target=self._run, name="sqsobs-producer-flusher", daemon=True
        )
        self.thread.start()

    def join(self, timeout_seconds: float | None) -> bool:
        """Wait up to ``timeout_seconds`` for the thread to exit; True if it has."""
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_seconds)
        return not self.alive

    @property
    def alive(self) -> bool:
        """Whether the flusher thread runs."""
        return self.thread is not None and self.thread.is_alive()

    def _run(self) -> None:
        while True:
            try:
                if not self._step():
                    return
            except Exception:  # the flusher must survive anything; back off, do not spin
                logger.exception("sqsobs producer: the flusher failed; retrying")
                time.sleep(0.1)

    def _step(self) -> bool:
        """Dispatch what is due, or wait for the next deadline. False: stop the thread."""
        buffers = self.buffers
        with buffers.lock:
            work, wake = buffers.collect(time.monotonic())
            if not work:
                if not buffers.state.flushing:
                    return False
                timeout = None if wake == NEVER else max(wake - time.monotonic(), 0.0)
                buffers.wakeup.wait(timeout)
                return True
        for item in work:
            self._dispatch(item)
        return True

    def _dispatch(self, item: FlushWork | RetryWork) -> None:
        """Hand ``item`` to the pool; what cannot be handed over fails, never stays in flight."""
        job: FlushJob | None = None
        try:
            tasks, job = self._tasks(item)
        except Exception as exc:
            self._abandon(item.buffer, _batches(item), _task_count(item), None, exc)
            return
        for index, (fn, args, _) in enumerate(tasks):
            try:
                self.pool.submit(fn, *args)
            except Exception as exc:
                rest = tasks[index:]
                unsent = [batch for _, _, task_batches in rest for batch in task_batches]
                self._abandon(item.buffer, unsent, len(rest), job, exc)
                return

    def _tasks(self, item: FlushWork | RetryWork) -> tuple[list[_Task], FlushJob | None]:
        """The pool tasks of ``item``, with the flush span (and its job) they share."""
        if isinstance(item, RetryWork):
            task = (self._run_retry, (item.buffer, item.group), [item.group.messages])
            return [task], None
        buffer, telemetry = item.buffer, item.buffer.telemetry
        telemetry.flushed(item.reason.value, item.splits)
        span = self._flush_span(item)
        context = trace.set_span_in_context(span)
        if item.splits:
            self._split_span(item, context)
        if buffer.info.fifo:
            job = FlushJob(span, 1)
            return [(self._run_batches, (buffer, item.batches, context, job), item.batches)], job
        job = FlushJob(span, len(item.batches))
        run = self._run_batches
        return [(run, (buffer, [batch], context, job), [batch]) for batch in item.batches], job

    def _flush_span(self, item: FlushWork) -> Span:
        telemetry = item.buffer.telemetry
        attributes = messaging_attributes(OP_FLUSH, telemetry.name)
        attributes[ATTR_FLUSH_REASON] = item.reason.value
        attributes["sqsobs.flush.message_count"] = item.count
        attributes["sqsobs.flush.bytes"] = item.payload_bytes
        attributes["sqsobs.flush.batches"] = len(item.batches)
        # The flush starts with its packing decision, so a split span sits inside it.
        return self.tracer.start_span(
            telemetry.flush_name,
            context=_shared_parent(item.batches),
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=item.packed_ns[0] or None,
        )

    def _split_span(self, item: FlushWork, flush: Context) -> None:
        """``split {queue}``: the packing decision that broke the buffer up at the byte limit."""
        attributes = messaging_attributes(OP_SPLIT, item.buffer.telemetry.name)
        # What the buffer was packed into; a partial tail may wait for more.
        attributes["sqsobs.split.batches"] = item.packed_batches
        attributes["sqsobs.split.sent_batches"] = len(item.batches)
        attributes["sqsobs.split.count"] = item.splits
        attributes["sqsobs.split.reason"] = "batch_payload_limit"
        started, ended = item.packed_ns
        self.tracer.start_span(
            item.buffer.telemetry.split_name,
            context=flush,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=started or None,
        ).end(end_time=ended or None)

    def _abandon(
        self,
        buffer: QueueBuffer,
        batches: list[list[PendingMessage]],
        tasks: int,
        job: FlushJob | None,
        error: Exception,
    ) -> None:
        """Fail batches taken out of the buffer that no pool thread will ever send."""
        logger.error(
            "sqsobs producer: could not hand %d batch(es) for %s to a send thread; failing them",
            len(batches),
            buffer.key,
            exc_info=error,
        )
        # The bookkeeping first: a FIFO queue is unblocked before anyone sees a failed future.
        ended = self.buffers.task_done(buffer, batches, job, tasks=tasks, abandoned=True)
        if ended and job is not None:
            job.span.end()
        self.settler.fail_dispatch(buffer, [m for batch in batches for m in batch], error)

    def _run_retry(self, buffer: QueueBuffer, group: RetryGroup) -> None:
        telemetry = buffer.telemetry
        attributes = messaging_attributes(OP_RETRY, telemetry.name)
        attributes["sqsobs.retry.attempt"] = group.attempt
        attributes["sqsobs.retry.backoff_seconds"] = group.backoff_seconds
        attributes["sqsobs.retry.cause"] = group.cause
        attributes["sqsobs.retry.message_count"] = len(group.messages)
        parent = (
            trace.set_span_in_context(NonRecordingSpan(group.parent))
            if group.parent is not None and group.parent.is_valid
            else Context()
        )
        span = self.tracer.start_span(
            telemetry.retry_name, context=parent, kind=SpanKind.INTERNAL, attributes=attributes
        )
        try:
            self._run_batches(buffer, [group.messages], trace.set_span_in_context(span), None)
        finally:
            span.end()

    def _run_batches(
        self,
        buffer: QueueBuffer,
        batches: list[list[PendingMessage]],
        context: Context,
        job: FlushJob | None,
    ) -> None:
        """Send batches in order; on a FIFO queue stop at the first retry so nothing overtakes."""
        index = 0
        try:
            while index < len(batches):
                outcome = self._send(buffer, batches[index], context)
                retrying = self.settler.settle(buffer, batches[index], outcome)
                index += 1
                if retrying and buffer.info.fifo:
                    break
        finally:
            # What was not sent (a FIFO retry stopped the run, or a send raised) goes back first.
            if self.buffers.task_done(buffer, batches[index:], job) and job is not None:
                job.span.end()

    def _send(
        self, buffer: QueueBuffer, batch: list[PendingMessage], context: Context
    ) -> SendOutcome:
        """One attempt: upload the batch's large payloads (at once), then send what may go out.

        An exception out of the send path (a bug, not an SQS answer) is a retryable failure of
        every entry, so the messages retry and then fail, never loop."""
        try:
            return self._upload_and_send(buffer, batch, context)
        except Exception as exc:
            logger.exception("sqsobs producer: sending a batch for %s failed", buffer.key)
            failure = unexpected_failure(exc)
            return SendOutcome([], [(message, failure) for message in batch], None)

    def _upload_and_send(
        self, buffer: QueueBuffer, batch: list[PendingMessage], context: Context
    ) -> SendOutcome:
        telemetry = buffer.telemetry
        unsent = self.offloader.upload(telemetry.name, batch, context) if self.offloader else []
        if not unsent:
            return self.sender.send(telemetry, batch, context)
        failed = {id(message) for message, _ in unsent}
        ready = [message for message in batch if id(message) not in failed]
        outcome = (
            self.sender.send(telemetry, ready, context) if ready else SendOutcome([], [], None)
        )
        outcome.failures.extend(unsent)
        return outcome


def _batches(item: FlushWork | RetryWork) -> list[list[PendingMessage]]:
    return [item.group.messages] if isinstance(item, RetryWork) else item.batches


def _task_count(item: FlushWork | RetryWork) -> int:
    """How many pool tasks ``item`` counts as in flight (see ``QueueBuffer.take_batches``)."""
    if isinstance(item, RetryWork) or item.buffer.info.fifo:
        return 1
    return len(item.batches)
