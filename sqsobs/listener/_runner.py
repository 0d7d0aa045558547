"""Runs the handler on received messages, per message or per batch, then settles each outcome.

Per-message mode runs the messages it is given in order (on a FIFO queue, one message group); a
handler returning ``True`` deletes its message, ``False`` or an exception leaves it for
redelivery (or sets its visibility from the retry backoff). After a failure in a FIFO group, the
rest of that group is not handled and is made visible again at once. Batch mode calls the handler
once with every message and reads its result (:mod:`sqsobs.listener._results`); an exception fails
the whole batch. ``async def`` handlers run on the listener's event loop thread
(:mod:`sqsobs.listener._loop`).

Any ``BaseException`` a handler raises is a failure of its message (or batch), counted, logged and
recorded on the span, and the worker goes on: ``sys.exit()``, argparse's ``parser.error()`` and
click's exits raise ``SystemExit``, which in a worker thread never exited the process anyway (it
only ended the thread). ``KeyboardInterrupt`` too: Python delivers Ctrl-C to the main thread only
(where ``run_listeners()`` turns it into a drain), so a worker sees one only when the handler
raises it itself.

Example::

    runner = HandlerRunner(handle, settings=s, telemetry=t, heartbeat=h, acker=a, stats=st)
    runner.run_messages(messages, receive_context)
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.trace import SpanContext

from sqsobs.listener._acker import Acker
from sqsobs.listener._heartbeat import Heartbeat
from sqsobs.listener._loop import EventLoopThread
from sqsobs.listener._message import SqsMessage
from sqsobs.listener._payloads import BatchFetch, PayloadFetcher
from sqsobs.listener._results import failed_indexes
from sqsobs.listener._settings import ListenerSettings
from sqsobs.listener._stats import ListenerStats
from sqsobs.listener._telemetry import ListenerTelemetry
from sqsobs.telemetry import error_type, record_error

__all__ = ["HandlerRunner"]

logger = logging.getLogger(__name__)

#: error.type of a per-message handler that returned False (or anything not truthy).
RETURNED_FALSE = "handler_returned_false"
#: error.type of messages a batch handler reported as failed.
REPORTED_FAILED = "reported_failed"


class HandlerRunner:
    """Calls the handler inside a ``process`` span and hands the outcome to heartbeat and acker.

    ``loop`` runs an ``async def`` handler; ``stopping`` tells whether the listener is stopping
    (messages not started by then are released, not handled).
    """

    def __init__(
        self,
        handler: Callable[..., Any],
        *,
        settings: ListenerSettings,
        telemetry: ListenerTelemetry,
        heartbeat: Heartbeat,
        acker: Acker,
        stats: ListenerStats,
        stopping: Callable[[], bool] = lambda: False,
        loop: EventLoopThread | None = None,
        filter_fn: Callable[[SqsMessage], bool] | None = None,
        on_success: Callable[[SqsMessage], Any] | None = None,
        on_failure: Callable[[SqsMessage, BaseException | None], Any] | None = None,
        payloads: PayloadFetcher | None = None,
    ) -> None:
        self._handler = handler
        self._payloads = payloads
        self._settings = settings
        self._telemetry = telemetry
        self._heartbeat = heartbeat
        self._acker = acker
        self._stats = stats
        self._stopping = stopping
        self._loop = loop
        self._filter = filter_fn
        self._on_success = on_success
        self._on_failure = on_failure

    def _invoke(self, argument: Any) -> Any:
        if self._loop is not None:
            return self._loop.call(self._handler, argument)
        result = self._handler(argument)
        if inspect.isawaitable(result):
            # Never taken for success: an un-awaited coroutine is truthy but did nothing.
            if inspect.iscoroutine(result):
                result.close()
            raise TypeError("the handler returned an awaitable: declare it `async def`")
        return result

    # --- per message -----------------------------------------------------------------------
    def run_messages(self, messages: Sequence[SqsMessage], receive: SpanContext | None) -> None:
        """Handle ``messages`` one by one, in order (one FIFO group, or one message)."""
        for index, message in enumerate(messages):
            rest = messages[index + 1 :]
            if self._stopping():
                self.release(messages[index:], 0, "not started before shutdown")
                return
            if not self._passes_filter(message):
                continue
            ok = self._run_one(message, receive)
            if not ok and self._settings.fifo and rest:
                self.release(rest, 0, "behind a failed message of their FIFO group")
                return

    def _run_one(self, message: SqsMessage, receive: SpanContext | None) -> bool:
        started = time.perf_counter()
        error: BaseException | None = None
        with self._telemetry.process_span([message], receive, batch=False) as span:
            try:
                if self._payloads is not None:  # a large payload: fetched from S3 first
                    self._payloads.fetch(message, None)
                ok = bool(self._invoke(message))
            except BaseException as exc:  # sys.exit() too: see the module docstring
                error, ok = exc, False
                record_error(span, exc)
            if not ok and error is None:
                record_error(span, RETURNED_FALSE)
            kind = None if ok else (error_type(error) if error is not None else RETURNED_FALSE)
            # Inside the span: the duration's exemplar names this span.
            self._telemetry.processed(time.perf_counter() - started, kind)
        if ok:
            self._succeeded([message], complete=False)
            return True
        queue = self._telemetry.queue
        if error is not None:
            logger.error(
                "handler failed for message %s on %s%s",
                message.message_id,
                queue,
                _exit_note(error),
                exc_info=error,
            )
        else:
            logger.warning(
                "handler returned a failure for message %s on %s", message.message_id, queue
            )
        self._failed([message], kind or RETURNED_FALSE, error)
        return False

    # --- batch -----------------------------------------------------------------------------
    def run_batch(self, messages: Sequence[SqsMessage], receive: SpanContext | None) -> None:
        """Call the handler once with every message that passes the filter."""
        if self._stopping():
            self.release(messages, 0, "not started before shutdown")
            return
        batch = [m for m in messages if self._passes_filter(m)]
        if not batch:
            return
        started = time.perf_counter()
        error: BaseException | None = None
        failed: set[int] = set()
        fetched: BatchFetch | None = None
        with self._telemetry.process_span(batch, receive, batch=True) as span:
            if self._payloads is not None:  # large payloads: fetched from S3 first
                fetched = self._payloads.fetch_batch(batch, fifo=self._settings.fifo)
                batch = fetched.ready
            try:
                failed = failed_indexes(self._invoke(batch), batch) if batch else set()
            except BaseException as exc:  # sys.exit() too: see the module docstring
                error, failed = exc, set(range(len(batch)))
                record_error(span, exc)
            if failed and error is None:
                record_error(span, REPORTED_FAILED)
            kind = None if not failed else (error_type(error) if error else REPORTED_FAILED)
            self._telemetry.processed(time.perf_counter() - started, kind)
        self._settle_batch(batch, failed, kind or REPORTED_FAILED, error)
        if fetched is not None:
            self._payloads_failed(fetched)

    def _settle_batch(
        self,
        batch: Sequence[SqsMessage],
        failed: set[int],
        kind: str,
        error: BaseException | None,
    ) -> None:
        queue = self._telemetry.queue
        if error is not None:
            logger.error(
                "batch handler failed on %s; all %d message(s) will be retried%s",
                queue,
                len(batch),
                _exit_note(error),
                exc_info=error,
            )
        blocked = self._blocked_by_fifo(batch, failed)
        ok = [m for i, m in enumerate(batch) if i not in failed and i not in blocked]
        self._succeeded(ok, complete=True)
        if failed:
            if error is None:
                logger.warning("batch on %s: %d ok, %d failed", queue, len(ok), len(failed))
            self._failed([batch[i] for i in sorted(failed)], kind, error)
        if blocked:
            held_back = [batch[i] for i in sorted(blocked)]
            self.release(held_back, 0, "behind a failed message of their group")

    def _payloads_failed(self, fetched: BatchFetch) -> None:
        """Messages whose payload could not be fetched failed, as if their handler had."""
        for message, error in fetched.broken:
            logger.error(
                "message %s on %s not handled: %s", message.message_id, self._telemetry.queue, error
            )
            self._failed([message], error_type(error), error)
        self.release(fetched.blocked, 0, "behind a message of their group whose payload failed")

    def _blocked_by_fifo(self, batch: Sequence[SqsMessage], failed: set[int]) -> set[int]:
        """On FIFO, messages after a failed one of the same group: keep them for order's sake."""
        if not self._settings.fifo or not failed:
            return set()
        broken: set[str | None] = set()
        blocked: set[int] = set()
        for index, message in enumerate(batch):
            group = message.group_id
            if index in failed:
                broken.add(group)
            elif group in broken:
                blocked.add(index)
        return blocked

    # --- outcomes --------------------------------------------------------------------------
    def _passes_filter(self, message: SqsMessage) -> bool:
        if self._filter is None:
            return True
        try:
            keep = bool(self._filter(message))
        except BaseException:
            logger.warning(
                "filter_fn raised for message %s; treating it as filtered out",
                message.message_id,
                exc_info=True,
            )
            keep = False
        if not keep:
            self._stats.add(filtered=1)
            # Not at once (sqs-fargate-listener's hot loop): other consumers get it after a
            # backoff.
            delay = self._settings.backoff_seconds(message.receive_count)
            self.release([message], delay, "filtered out")
        return keep

    def _succeeded(self, messages: Sequence[SqsMessage], *, complete: bool) -> None:
        if not messages:
            return
        self._acker.delete(messages, complete=complete)
        self._stats.add(succeeded=len(messages))
        if self._on_success is not None:
            for message in messages:
                self._hook(self._on_success, message)

    def _failed(
        self, messages: Sequence[SqsMessage], kind: str, error: BaseException | None
    ) -> None:
        # A failure is let go at once: it comes back when its current visibility runs out.
        self._heartbeat.untrack(messages)
        self._telemetry.handler_failures(len(messages), kind)
        self._stats.add(failed=len(messages))
        # Without a retry backoff it is left as it is: visible when its visibility runs out.
        if self._settings.retry_backoff:
            for message in messages:
                delay = self._settings.backoff_seconds(message.receive_count)
                self._acker.release([message], visibility_seconds=delay)
        if self._on_failure is not None:
            for message in messages:
                self._hook(self._on_failure, message, error)

    def release(self, messages: Sequence[SqsMessage], seconds: int, why: str) -> None:
        """Make ``messages`` visible again in ``seconds``, unhandled (``why`` is logged)."""
        if not messages:
            return
        self._heartbeat.untrack(messages)
        self._acker.release(messages, visibility_seconds=seconds)
        self._stats.add(released=len(messages))
        logger.debug(
            "releasing %d message(s) on %s in %d s: %s",
            len(messages),
            self._telemetry.queue,
            seconds,
            why,
        )

    def _hook(self, hook: Callable[..., Any], *args: Any) -> None:
        try:
            hook(*args)
        except BaseException:
            logger.warning("an on_success/on_failure hook raised; ignored", exc_info=True)


def _exit_note(error: BaseException) -> str:
    """A hint for errors that usually mean "exit the program": a handler cannot do that."""
    if isinstance(error, Exception):
        return ""
    return (
        f" ({type(error).__name__} in a handler is a failure of its message; the listener "
        "goes on: stop it with SIGTERM or request_shutdown())"
    )
