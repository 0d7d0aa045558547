"""One client span per SQS call: around the calls sqsobs traces, other instrumentations stay out.

Under the OpenTelemetry agent (``opentelemetry-instrument``, AWS's ADOT) the botocore
instrumentation opens a CLIENT span for every AWS call (``SQS.SendMessageBatch``), and an HTTP
instrumentation may open one more for its request. For the calls sqsobs already traces (send,
receive, delete, release, heartbeat) those are second spans for the same call, with older
attribute names (``messaging.system=aws.sqs``), that span-derived metrics would count twice.
So sqsobs sets OpenTelemetry's instrumentation-suppression context key around exactly those
calls, as the SDK's exporters do around their own requests; calls sqsobs does not trace
(GetQueueUrl, the application's own SQS calls) keep the agent's spans.

Example::

    with trace.use_span(span, end_on_exit=False), suppress_other_instrumentation():
        client.send_message_batch(QueueUrl=url, Entries=entries)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context

__all__ = ["suppress_other_instrumentation"]


@contextmanager
def suppress_other_instrumentation() -> Iterator[None]:
    """Instrumentations that honour the suppression key record nothing inside this block."""
    token = context.attach(context.set_value(context._SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        yield
    finally:
        context.detach(token)
