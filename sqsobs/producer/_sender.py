"""One SendMessageBatch call inside a ``send {queue}`` span, with its metrics.

The call runs with no producer lock held; :mod:`~sqsobs.producer._classify` says what became
of each entry.

Example::

    outcome = BatchSender(client, get_tracer()).send(telemetry, batch, parent_context)
    [message_id for _, message_id in outcome.delivered]
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanContext, SpanKind, Tracer

from sqsobs._suppress import suppress_other_instrumentation
from sqsobs.producer._classify import Failure, call_failure, classify, requests_made
from sqsobs.producer._messages import PendingMessage
from sqsobs.producer._telemetry import QueueTelemetry
from sqsobs.telemetry import add_message_links, record_error, set_request_id

__all__ = ["BatchSender", "SendOutcome"]


@dataclass
class SendOutcome:
    """The result of one SendMessageBatch call, per entry."""

    delivered: list[tuple[PendingMessage, str]]
    failures: list[tuple[PendingMessage, Failure]]
    span_context: SpanContext | None


class BatchSender:
    """Sends one batch for a queue and reports every entry's fate."""

    def __init__(self, client: Any, tracer: Tracer) -> None:
        self._client = client
        self._tracer = tracer

    def send(
        self, telemetry: QueueTelemetry, batch: Sequence[PendingMessage], parent: Context | None
    ) -> SendOutcome:
        """Call SendMessageBatch once for ``batch`` inside a ``send {queue}`` span."""
        now = time.monotonic()
        for message in batch:
            message.attempts += 1
            if message.attempts == 1:
                telemetry.buffer_time(now - message.enqueued_at)
        telemetry.batch(len(batch), sum(m.size for m in batch))
        span = self._tracer.start_span(
            telemetry.send_name,
            context=parent if parent is not None else Context(),
            kind=SpanKind.CLIENT,
            attributes=telemetry.send_attributes(len(batch)),
        )
        # Links to the create spans, only when this span records (sampled out: none built).
        add_message_links(span, ((m.span_context, None) for m in batch))
        started = time.perf_counter()
        # The span is current while the call's duration is recorded: its exemplar names it.
        with trace.use_span(span, end_on_exit=False, record_exception=False):
            try:
                with suppress_other_instrumentation():  # this span is the call's one span
                    response = self._client.send_message_batch(
                        QueueUrl=telemetry.url, Entries=[m.entry for m in batch]
                    )
            except Exception as exc:
                _count_requests(batch, exc)
                failure = call_failure(exc)
                telemetry.call(time.perf_counter() - started, failure.kind)
                span.record_exception(exc)
                record_error(span, failure.kind)
                set_request_id(span, exc)
                span.end()
                return SendOutcome([], [(m, failure) for m in batch], span.get_span_context())
            # The call itself worked; entry failures are counted per message by the caller.
            telemetry.call(time.perf_counter() - started, None)
        _count_requests(batch, response)
        set_request_id(span, response)
        delivered, failures = classify(batch, response)
        if failures:
            span.set_attribute("sqsobs.send.failed_count", len(failures))
            record_error(span, failures[0][1].kind)
        span.end()
        return SendOutcome(delivered, failures, span.get_span_context())


def _count_requests(batch: Sequence[PendingMessage], outcome: Any) -> None:
    requests = requests_made(outcome)
    for message in batch:
        message.requests += requests
