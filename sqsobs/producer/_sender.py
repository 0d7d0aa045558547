"""One SendMessageBatch call: the ``send {queue}`` span, per-entry results, and backoff.

Each entry's result is classified on its own: accepted, failed for good (``SenderFault=true``),
or retryable (``SenderFault=false``, throttling, 5xx, connection errors). The call runs with no
producer lock held.

Example::

    outcome = BatchSender(client, get_tracer()).send(tel, batch, parent_context)
    [message_id for _, message_id in outcome.delivered]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanContext, SpanKind, Tracer

from sqsobs.errors import is_throttling, translate_client_error
from sqsobs.producer._messages import PendingMessage
from sqsobs.producer._telemetry import QueueTelemetry
from sqsobs.telemetry import record_error

__all__ = ["BatchSender", "Failure", "SendOutcome", "classify"]


@dataclass(frozen=True)
class Failure:
    """Why one entry was not accepted, and whether sending it again may help."""

    code: str
    message: str
    sender_fault: bool
    retryable: bool
    cause: BaseException | None = None

    @property
    def kind(self) -> str:
        """The ``error.type`` attribute value."""
        return self.code or "unknown"


@dataclass
class SendOutcome:
    """The result of one SendMessageBatch call, per entry."""

    delivered: list[tuple[PendingMessage, str]]
    failures: list[tuple[PendingMessage, Failure]]
    span_context: SpanContext | None


_MISSING = Failure("MissingResult", "SQS returned no result for the entry", False, True)


def classify(
    batch: Sequence[PendingMessage], response: Mapping[str, Any]
) -> tuple[list[tuple[PendingMessage, str]], list[tuple[PendingMessage, Failure]]]:
    """Split a SendMessageBatch response into (delivered, failures), in batch order."""
    accepted = {item["Id"]: item["MessageId"] for item in response.get("Successful") or ()}
    rejected = {item["Id"]: item for item in response.get("Failed") or ()}
    delivered: list[tuple[PendingMessage, str]] = []
    failures: list[tuple[PendingMessage, Failure]] = []
    for message in batch:
        entry_id = message.entry["Id"]
        message_id = accepted.get(entry_id)
        if message_id is not None:
            delivered.append((message, str(message_id)))
            continue
        item = rejected.get(entry_id)
        if item is None:
            failures.append((message, _MISSING))
            continue
        code = str(item.get("Code", "") or "")
        sender_fault = bool(item.get("SenderFault", False))
        failures.append(
            (
                message,
                Failure(
                    code=code,
                    message=str(item.get("Message", "") or ""),
                    sender_fault=sender_fault,
                    retryable=not sender_fault or is_throttling(code),
                ),
            )
        )
    return delivered, failures


class BatchSender:
    """Sends one batch for a queue and reports every entry's fate."""

    def __init__(
        self, client: Any, tracer: Tracer, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._client = client
        self._tracer = tracer
        self._clock = clock

    def send(
        self, tel: QueueTelemetry, batch: Sequence[PendingMessage], parent: Context | None
    ) -> SendOutcome:
        """Call SendMessageBatch once for ``batch`` inside a ``send {queue}`` span."""
        now = self._clock()
        links = []
        for message in batch:
            message.attempts += 1
            if message.attempts == 1:
                tel.buffer_time(now - message.enqueued_at)
            context = message.span_context
            if context is not None and context.is_valid:
                links.append(Link(context))
        tel.batch(len(batch), sum(m.size for m in batch))
        span = self._tracer.start_span(
            tel.send_name,
            context=parent if parent is not None else Context(),
            kind=SpanKind.CLIENT,
            attributes=tel.send_attributes(len(batch)),
            links=links,
        )
        started = time.perf_counter()
        try:
            with trace.use_span(span, end_on_exit=False, record_exception=False):
                response = self._client.send_message_batch(
                    QueueUrl=tel.url, Entries=[m.entry for m in batch]
                )
        except Exception as exc:
            error = translate_client_error(exc, operation="SendMessageBatch")
            failure = Failure(
                code=error.code or type(exc).__name__,
                message=str(error),
                sender_fault=bool(error.sender_fault),
                retryable=error.retryable,
                cause=error,
            )
            tel.call(time.perf_counter() - started, failure.kind)
            span.record_exception(exc)
            record_error(span, failure.kind)
            span.end()
            return SendOutcome([], [(m, failure) for m in batch], span.get_span_context())
        delivered, failures = classify(batch, response)
        # The call itself worked; entry failures are counted per message by the caller.
        tel.call(time.perf_counter() - started, None)
        if failures:
            span.set_attribute("sqsobs.send.failed_count", len(failures))
            record_error(span, failures[0][1].kind)
        span.end()
        return SendOutcome(delivered, failures, span.get_span_context())
