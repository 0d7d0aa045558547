"""Settling messages: resolve their futures, schedule retries, fail and report the rest.

A message's future always resolves: to its MessageId, or to the error that says why it was not
sent (:class:`~sqsobs.errors.SendFailed`, :class:`~sqsobs.errors.Cleared`,
:class:`~sqsobs.errors.ProducerClosed`). Every failure is counted, logged and handed to
``on_failure`` before its future resolves (so ``flush()`` and ``close()`` return after the
callbacks); a failing callback is logged, not raised.

Example::

    settler = Settler(buffers, on_failure=print)
    retrying = settler.settle(buffer, batch, outcome)
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from typing import Any

from sqsobs._backoff import Backoff
from sqsobs.errors import ProducerError, SendFailed
from sqsobs.producer._buffers import Buffers
from sqsobs.producer._classify import Failure
from sqsobs.producer._messages import FailedMessage, PendingMessage
from sqsobs.producer._queue_buffer import QueueBuffer
from sqsobs.producer._retry import RetryGroup
from sqsobs.producer._sender import SendOutcome

__all__ = ["OnFailure", "Settler", "fail_future", "resolve_future"]

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


class Settler:
    """Decides each message's fate after a send, or when it will never be sent."""

    def __init__(self, buffers: Buffers, *, on_failure: OnFailure | None) -> None:
        self.buffers = buffers
        self.on_failure = on_failure
        settings = buffers.settings
        #: The wait before an entry SQS did not accept is sent again.
        self.backoff = Backoff(
            settings.retry_backoff_base_seconds, settings.retry_backoff_max_seconds
        )

    def settle(
        self, buffer: QueueBuffer, batch: list[PendingMessage], outcome: SendOutcome
    ) -> bool:
        """Resolve what was decided, schedule what may be retried; True if a retry is due."""
        telemetry = buffer.telemetry
        for message, message_id in outcome.delivered:
            resolve_future(message.future, message_id)
        telemetry.delivered(len(outcome.delivered))
        max_attempts = self.buffers.settings.max_retry_attempts
        retry: list[PendingMessage] = []
        cause = ""
        final: list[tuple[PendingMessage, Failure]] = []
        exhausted = 0
        retried: dict[str, int] = {}  # counted once per error.type, not once per message
        now = time.time()
        for message, failure in outcome.failures:
            message.first_failure_time = message.first_failure_time or now
            message.last_failure_time = now
            # Once close() has stopped the flusher, nothing would send a retry: fail instead.
            may_retry = message.attempts <= max_attempts and self.buffers.state.flushing
            if failure.retryable and may_retry:
                cause = cause or failure.kind
                retry.append(message)
                retried[failure.kind] = retried.get(failure.kind, 0) + 1
            else:
                exhausted += failure.retryable
                final.append((message, failure))
        for kind, count in retried.items():
            telemetry.retried(count, kind)
        group = None
        if retry:
            group = RetryGroup.schedule(
                retry, cause=cause, parent=outcome.span_context, backoff=self.backoff
            )
        self.buffers.settle(
            buffer,
            batch,
            delivered=len(outcome.delivered),
            failed=len(final),
            exhausted=exhausted,
            retry=group,
        )
        if final:
            self._fail_sent(buffer, final)
        return group is not None

    def _fail_sent(self, buffer: QueueBuffer, final: list[tuple[PendingMessage, Failure]]) -> None:
        kinds: dict[str, int] = {}
        counts: dict[tuple[str, bool], int] = {}  # counted per (error.type, attempted)
        failed: list[tuple[PendingMessage, BaseException]] = []
        for message, failure in final:
            error = failure.unsent_error or self._send_failed(buffer.key, message, failure)
            failed.append((message, error))
            key = (failure.kind, failure.unsent_error is None)
            counts[key] = counts.get(key, 0) + 1
            kinds[failure.kind] = kinds.get(failure.kind, 0) + 1
        for (kind, attempted), count in counts.items():
            buffer.telemetry.failed(count, kind, attempted=attempted)
        logger.warning(
            "sqsobs producer: %d message(s) for %s not delivered: %s",
            len(final),
            buffer.key,
            ", ".join(f"{kind} x{count}" for kind, count in sorted(kinds.items())),
        )
        self._fail_all(buffer, failed)

    @staticmethod
    def _send_failed(key: str, message: PendingMessage, failure: Failure) -> SendFailed:
        verdict = "retries ran out" if failure.retryable else "rejected"
        error = SendFailed(
            f"SQS did not accept a message for {key} ({verdict} after "
            f"{message.requests} attempt(s)): {failure.kind}: {failure.message}",
            code=failure.code,
            sender_fault=failure.sender_fault,
            attempts=message.requests,
        )
        error.__cause__ = failure.cause
        return error

    def fail_unsent(
        self,
        buffer: QueueBuffer,
        messages: list[PendingMessage],
        error_class: type[ProducerError],
        why: str,
    ) -> None:
        """Fail messages that never reached SQS (cleared, or left when close() ended)."""
        if not messages:
            return
        buffer.telemetry.failed(len(messages), error_class.error_type, attempted=False)
        with self.buffers.lock:
            buffer.stats.messages_failed += len(messages)
        logger.warning("sqsobs producer: %d message(s) for %s %s", len(messages), buffer.key, why)
        text = f"message for {buffer.key} not sent: {why}"
        self._fail_all(buffer, [(message, error_class(text)) for message in messages])

    def fail_dispatch(
        self, buffer: QueueBuffer, messages: list[PendingMessage], cause: Exception
    ) -> None:
        """Fail messages taken out of the buffer that no send thread took over (already out of
        the books, see ``Buffers.task_done``): ``SendFailed`` coded with the exception's type."""
        kind = type(cause).__name__
        buffer.telemetry.failed(len(messages), kind, attempted=False)
        failed: list[tuple[PendingMessage, BaseException]] = []
        for message in messages:
            error = SendFailed(
                f"message for {buffer.key} not sent: no send thread took it ({kind}: {cause})",
                code=kind,
                attempts=message.requests,
            )
            error.__cause__ = cause
            failed.append((message, error))
        self._fail_all(buffer, failed)

    def _fail_all(
        self, buffer: QueueBuffer, failed: list[tuple[PendingMessage, BaseException]]
    ) -> None:
        """``on_failure`` first, then the future: whoever waits on it finds the report made."""
        for message, error in failed:
            self._report(buffer.key, message, error)
            fail_future(message.future, error)

    def _report(self, key: str, message: PendingMessage, error: BaseException) -> None:
        """Call ``on_failure`` with the message's record; its exceptions are logged, not raised."""
        if self.on_failure is None:
            return
        try:
            self.on_failure(message.failed_record(key, error))
        except Exception:
            logger.exception("sqsobs producer: the on_failure callback raised")
