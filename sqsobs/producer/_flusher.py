"""The background side: one flusher thread that decides, a pool that sends and settles.

The flusher sleeps on a condition until the earliest deadline of any queue (batch interval,
idle timeout, retry backoff) or until a caller wakes it; it never polls. It opens the
``flush {queue}`` span, and hands batches to the pool. Pool threads call SendMessageBatch,
resolve futures, report failures and schedule retries (``retry {queue}`` spans).

Example::

    flusher = Flusher(core, sender, pool, tracer, on_failure=None)
    flusher.start()
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Tracer

from sqsobs._backoff import Backoff
from sqsobs.errors import SendFailed
from sqsobs.producer._core import FlushJob, FlushWork, ProducerCore, RetryWork
from sqsobs.producer._messages import FailedMessage, PendingMessage
from sqsobs.producer._pool import SendPool
from sqsobs.producer._queues import NEVER, QueueState, RetryGroup
from sqsobs.producer._sender import BatchSender, Failure, SendOutcome
from sqsobs.telemetry import OP_FLUSH, OP_RETRY, messaging_attributes
from sqsobs.telemetry.catalog import ATTR_FLUSH_REASON

__all__ = ["Flusher", "resolve_future", "fail_future"]

logger = logging.getLogger(__name__)

OnFailure = Callable[[FailedMessage], Any]


def resolve_future(future: Future[str], message_id: str) -> None:
    """Set a result unless the caller cancelled the future."""
    # try/except, not contextlib.suppress: this runs once per delivered message.
    try:  # noqa: SIM105
        future.set_result(message_id)
    except InvalidStateError:
        pass


def fail_future(future: Future[str], error: BaseException) -> None:
    """Set an exception unless the caller cancelled the future."""
    with contextlib.suppress(InvalidStateError):
        future.set_exception(error)


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
        core: ProducerCore,
        sender: BatchSender,
        pool: SendPool,
        tracer: Tracer,
        *,
        on_failure: OnFailure | None,
        rand: Callable[[], float] | None = None,
    ) -> None:
        self.core = core
        self.sender = sender
        self.pool = pool
        self.tracer = tracer
        self.on_failure = on_failure
        self.rand = rand
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the named daemon thread."""
        self.thread = threading.Thread(
            target=self._run, name="sqsobs-producer-flusher", daemon=True
        )
        self.thread.start()

    def stop(self, timeout: float | None) -> None:
        """Ask the thread to end once nothing is due, and wait up to ``timeout``."""
        core = self.core
        with core.lock:
            core.stopping = True
            core.wakeup.notify()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)

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
        core = self.core
        with core.lock:
            work, wake = core.collect(time.monotonic())
            depths = core.take_depth_reports()
            if not work and not depths:
                if core.stopping:
                    return False
                timeout = None if wake == NEVER else max(wake - time.monotonic(), 0.0)
                core.wakeup.wait(timeout)
                return True
        for state, delta in depths:
            state.tel.depth(delta)
        for item in work:
            self._dispatch(item)
        return True

    def _dispatch(self, item: FlushWork | RetryWork) -> None:
        if isinstance(item, RetryWork):
            item.state.tel.depth(-len(item.group.messages))
            self.pool.submit(self._run_retry, item.state, item.group)
            return
        state, tel = item.state, item.state.tel
        tel.depth(-item.count)
        tel.flushed(item.reason.value, item.splits)
        attributes = messaging_attributes(OP_FLUSH, tel.name)
        attributes[ATTR_FLUSH_REASON] = item.reason.value
        attributes["sqsobs.flush.message_count"] = item.count
        attributes["sqsobs.flush.bytes"] = item.payload_bytes
        attributes["sqsobs.flush.batches"] = len(item.batches)
        span = self.tracer.start_span(
            tel.flush_name,
            context=_shared_parent(item.batches),
            kind=SpanKind.INTERNAL,
            attributes=attributes,
        )
        if item.splits:
            span.add_event(
                "split",
                {
                    # What the buffer was packed into; a partial tail may wait for more.
                    "sqsobs.split.batches": item.packed_batches,
                    "sqsobs.split.sent_batches": len(item.batches),
                    "sqsobs.split.count": item.splits,
                    "sqsobs.split.reason": "batch_payload_limit",
                },
            )
        context = trace.set_span_in_context(span)
        if state.info.fifo:
            job = FlushJob(span, 1)
            self.pool.submit(self._run_batches, state, item.batches, context, job)
            return
        job = FlushJob(span, len(item.batches))
        for batch in item.batches:
            self.pool.submit(self._run_batches, state, [batch], context, job)

    def _run_retry(self, state: QueueState, group: RetryGroup) -> None:
        tel = state.tel
        attributes = messaging_attributes(OP_RETRY, tel.name)
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
            tel.retry_name, context=parent, kind=SpanKind.INTERNAL, attributes=attributes
        )
        try:
            self._run_batches(state, [group.messages], trace.set_span_in_context(span), None)
        finally:
            span.end()

    def _run_batches(
        self,
        state: QueueState,
        batches: list[list[PendingMessage]],
        context: Context,
        job: FlushJob | None,
    ) -> None:
        """Send batches in order; on a FIFO queue stop at the first retry so nothing overtakes."""
        requeue: list[list[PendingMessage]] = []
        index = 0
        try:
            while index < len(batches):
                outcome = self.sender.send(state.tel, batches[index], context)
                retrying = self._settle(state, batches[index], outcome)
                index += 1
                if retrying and state.info.fifo:
                    break
        finally:
            requeue = batches[index:]
            if self.core.task_done(state, requeue, job) and job is not None:
                job.span.end()

    def _settle(self, state: QueueState, batch: list[PendingMessage], outcome: SendOutcome) -> bool:
        """Resolve what was decided, schedule what may be retried; True if a retry is due."""
        settings = self.core.settings
        for message, message_id in outcome.delivered:
            resolve_future(message.future, message_id)
        state.tel.delivered(len(outcome.delivered))
        retry: list[PendingMessage] = []
        final: list[tuple[PendingMessage, Failure]] = []
        exhausted = 0
        now = time.time()
        for message, failure in outcome.failures:
            message.first_failure_time = message.first_failure_time or now
            message.last_failure_time = now
            # Once close() has stopped the flusher, nothing would send a retry: fail instead.
            may_retry = message.attempts <= settings.max_retry_attempts and not self.core.stopping
            if failure.retryable and may_retry:
                retry.append(message)
                state.tel.retried(1, failure.kind)
            else:
                exhausted += failure.retryable
                final.append((message, failure))
        group = self._retry_group(retry, outcome) if retry else None
        if group is not None:
            state.tel.depth(len(retry))
        self.core.settle(
            state, batch, delivered=len(outcome.delivered), failed=len(final),
            exhausted=exhausted, retry=group,
        )  # fmt: skip
        if final:
            self._fail(state, final)
        return group is not None

    def _retry_group(self, messages: list[PendingMessage], outcome: SendOutcome) -> RetryGroup:
        settings = self.core.settings
        attempt = messages[0].attempts
        policy = Backoff(settings.retry_backoff_base_seconds, settings.retry_backoff_max_seconds)
        backoff = policy.delay(attempt) if self.rand is None else policy.delay(attempt, self.rand)
        cause = next(f.kind for m, f in outcome.failures if m is messages[0])
        return RetryGroup(
            due=time.monotonic() + backoff,
            messages=messages,
            attempt=attempt,
            backoff_seconds=backoff,
            cause=cause,
            parent=outcome.span_context,
        )

    def _fail(self, state: QueueState, final: list[tuple[PendingMessage, Failure]]) -> None:
        kinds: dict[str, int] = {}
        for message, failure in final:
            verdict = "retries ran out" if failure.retryable else "rejected"
            error = SendFailed(
                f"SQS did not accept a message for {state.key} ({verdict} after "
                f"{message.attempts} attempt(s)): {failure.kind}: {failure.message}",
                code=failure.code,
                sender_fault=failure.sender_fault,
                attempts=message.attempts,
            )
            error.__cause__ = failure.cause
            fail_future(message.future, error)
            state.tel.failed(1, failure.kind)
            kinds[failure.kind] = kinds.get(failure.kind, 0) + 1
            self.report(state.key, message, error)
        logger.warning(
            "sqsobs producer: %d message(s) for %s not delivered: %s",
            len(final),
            state.key,
            ", ".join(f"{kind} x{count}" for kind, count in sorted(kinds.items())),
        )

    def report(self, key: str, message: PendingMessage, error: BaseException) -> None:
        """Call ``on_failure`` with the message's record; its exceptions are logged, not raised."""
        if self.on_failure is None:
            return
        try:
            self.on_failure(message.failed_record(key, error))
        except Exception:
            logger.exception("sqsobs producer: the on_failure callback raised")
