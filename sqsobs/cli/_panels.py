"""What the Grafana dashboards show: Overview, Producer and Listener, panel by panel.

Each panel is a title, what it answers, a Grafana unit and PromQL queries built from the
metric catalog (:mod:`sqsobs.cli._promql`). :mod:`sqsobs.cli._dashboards` renders them as
Grafana JSON.

Example::

    >>> [d.uid for d in DASHBOARDS]
    ['sqsobs-overview', 'sqsobs-producer', 'sqsobs-listener']
    >>> DASHBOARDS[0].filename
    'sqsobs-overview.json'
"""

from __future__ import annotations

from sqsobs.cli._oncall import on_call_panels
from sqsobs.cli._panel_model import DashboardDef, PanelDef
from sqsobs.cli._promql import (
    ERROR,
    OK,
    OPERATION,
    QUEUE,
    REASON,
    Query,
    gauge,
    mean,
    per_queue,
    percentiles,
    rate,
    ratio,
    selector,
    unit,
)
from sqsobs.cli._scaling import capacity_panels
from sqsobs.telemetry import OP_DELETE, OP_HEARTBEAT, OP_RECEIVE, OP_RELEASE, OP_SEND
from sqsobs.telemetry import catalog as c

__all__ = ["DASHBOARDS", "DashboardDef", "PanelDef"]


_QE = (QUEUE, ERROR)
_SEND = f'{OPERATION}="{OP_SEND}"'
_LISTENER_CALLS = f'{OPERATION}=~"{"|".join((OP_RECEIVE, OP_DELETE, OP_HEARTBEAT, OP_RELEASE))}"'


def _by_error(spec: c.MetricSpec, legend: str = "") -> Query:
    """A rate per queue and error type."""
    return Query(rate(spec, by=_QE), per_queue(f"{legend} {{{{error_type}}}}".strip()))


def _rate_panel(title: str, spec: c.MetricSpec, where: str = "") -> PanelDef:
    """One rate per queue, described by the catalog."""
    return PanelDef(
        title, spec.description, "short", (Query(rate(spec, where=where), per_queue()),)
    )


def _gauge_panel(title: str, spec: c.MetricSpec) -> PanelDef:
    """An up-down counter per queue, described by the catalog."""
    return PanelDef(title, spec.description, "short", (Query(gauge(spec), per_queue()),))


def _mean_and_quantile(spec: c.MetricSpec, q: float) -> tuple[Query, ...]:
    """A histogram's mean and one quantile, per queue."""
    return (Query(mean(spec), per_queue("mean")), *percentiles(spec, qs=(q,)))


def _stat(title: str, description: str, unit: str, query: Query) -> PanelDef:
    """A quarter-width single number."""
    return PanelDef(title, description, unit, (query,), "stat", 6)


def _producer() -> DashboardDef:
    flow = (
        _rate_panel("Messages sent / s", c.SENT_MESSAGES, where=OK),
        PanelDef(
            "Failed, retried and rejected / s",
            "Messages never delivered, sent again after a retryable failure, and refused "
            "at send(), by error type.",
            "short",
            (
                _by_error(c.MESSAGES_FAILED, "failed"),
                _by_error(c.RETRIES, "retried"),
                _by_error(c.MESSAGES_REJECTED, "rejected"),
            ),
        ),
        _gauge_panel("Buffer depth", c.BUFFER_DEPTH),
        PanelDef(
            "Flushes / s by reason",
            c.FLUSHES.description,
            "short",
            (Query(rate(c.FLUSHES, by=(QUEUE, REASON)), per_queue("{{" + REASON + "}}")),),
        ),
    )
    batches = (
        PanelDef(
            "Messages per batch",
            c.BATCH_MESSAGES.description,
            "short",
            _mean_and_quantile(c.BATCH_MESSAGES, 0.5),
        ),
        PanelDef(
            "Batch payload",
            c.BATCH_BYTES.description,
            unit(c.BATCH_BYTES),
            _mean_and_quantile(c.BATCH_BYTES, 0.99),
        ),
        _rate_panel("Batch splits / s", c.BATCH_SPLITS),
        PanelDef(
            "SendMessageBatch calls / s",
            "SQS send calls; compare with messages sent / s.",
            "short",
            (Query(rate(c.OPERATION_DURATION, where=_SEND), per_queue()),),
        ),
    )
    latency = (
        PanelDef("Time in buffer", c.BUFFER_TIME.description, "s", percentiles(c.BUFFER_TIME)),
        PanelDef(
            "Send latency",
            "Duration of SendMessageBatch calls.",
            "s",
            percentiles(c.OPERATION_DURATION, where=_SEND),
        ),
    )
    large = (
        PanelDef(
            "Offloaded to S3 / s",
            c.PAYLOADS_OFFLOADED.description,
            "short",
            (_by_error(c.PAYLOADS_OFFLOADED, "offloaded"),),
        ),
        PanelDef(
            "Offloaded bytes / s",
            c.PAYLOADS_OFFLOADED_BYTES.description,
            "Bps",
            (Query(rate(c.PAYLOADS_OFFLOADED_BYTES), per_queue()),),
        ),
    )
    return DashboardDef(
        "sqsobs-producer",
        "sqsobs / Producer",
        "The batching producer: what goes in, how it is batched, what SQS accepted.",
        (("Flow", flow), ("Batches", batches), ("Latency", latency), ("Large messages", large)),
    )


def _listener() -> DashboardDef:
    flow = (
        PanelDef(
            "Received and processed / s",
            "Messages received from SQS, and messages handled and deleted.",
            "short",
            (
                Query(rate(c.CONSUMED_MESSAGES), per_queue("received")),
                Query(rate(c.DELETES, where=OK), per_queue("processed")),
            ),
        ),
        PanelDef(
            "Handler failures / s by error type",
            c.HANDLER_FAILURES.description,
            "short",
            (_by_error(c.HANDLER_FAILURES),),
        ),
        _gauge_panel("In flight", c.INFLIGHT),
        _rate_panel("Empty receives / s", c.EMPTY_RECEIVES),
    )
    handling = (
        PanelDef(
            "Process duration",
            c.PROCESS_DURATION.description,
            "s",
            percentiles(c.PROCESS_DURATION),
        ),
        PanelDef("Heartbeats / s", c.HEARTBEATS.description, "short", (_by_error(c.HEARTBEATS),)),
        PanelDef(
            "Message age at receive", c.MESSAGE_AGE.description, "s", percentiles(c.MESSAGE_AGE)
        ),
        PanelDef(
            "Receive count",
            c.RECEIVE_COUNT.description + " Above 1: redeliveries.",
            "short",
            _mean_and_quantile(c.RECEIVE_COUNT, 0.99),
        ),
    )
    calls = (
        PanelDef(
            "SQS calls / s by operation",
            "Receive, delete and visibility calls.",
            "short",
            (
                Query(
                    rate(c.OPERATION_DURATION, by=(QUEUE, OPERATION), where=_LISTENER_CALLS),
                    per_queue("{{" + OPERATION + "}}"),
                ),
            ),
            width=24,
        ),
    )
    large = (
        PanelDef(
            "Payloads fetched from S3 / s",
            c.PAYLOADS_FETCHED.description,
            "short",
            (_by_error(c.PAYLOADS_FETCHED, "fetched"),),
            width=8,
        ),
        PanelDef(
            "Payload bytes fetched / s",
            c.PAYLOADS_FETCHED_BYTES.description,
            "Bps",
            (Query(rate(c.PAYLOADS_FETCHED_BYTES), per_queue()),),
            width=8,
        ),
        PanelDef(
            "Payload objects deleted / s",
            c.PAYLOADS_DELETED.description,
            "short",
            (_by_error(c.PAYLOADS_DELETED, "deleted"),),
            width=8,
        ),
    )
    return DashboardDef(
        "sqsobs-listener",
        "sqsobs / Listener",
        "The listener: what it receives, how handlers do, how long messages waited.",
        (
            ("Flow", flow),
            ("Handling", handling),
            ("Capacity and backlog", capacity_panels()),
            ("SQS calls", calls),
            ("Large messages", large),
        ),
    )


def _total(spec: c.MetricSpec, legend: str) -> Query:
    """How many succeeded in the dashboard's time range."""
    return Query(f"sum(increase({spec.prometheus_name}{selector(OK)}[$__range]))", legend)


def _overview() -> DashboardDef:
    stats = (
        _stat("Sent", "Messages sent in the time range.", "short", _total(c.SENT_MESSAGES, "sent")),
        _stat(
            "Handled",
            "Messages handled and deleted in the time range.",
            "short",
            _total(c.DELETES, "handled"),
        ),
        _stat(
            "Producer error ratio",
            "Undelivered messages per message sent.",
            "percentunit",
            Query(ratio(c.MESSAGES_FAILED, c.SENT_MESSAGES), "in"),
        ),
        _stat(
            "Listener error ratio",
            "Handler failures per message received.",
            "percentunit",
            Query(ratio(c.HANDLER_FAILURES, c.CONSUMED_MESSAGES), "out"),
        ),
    )
    flow = (
        PanelDef(
            "Throughput in vs out",
            "Messages/s sent by producers and received by listeners.",
            "short",
            (
                Query(rate(c.SENT_MESSAGES, by=(), where=OK), "in (sent)"),
                Query(rate(c.CONSUMED_MESSAGES, by=()), "out (received)"),
            ),
        ),
        PanelDef(
            "End-to-end age",
            "How long messages waited in SQS before a listener got them.",
            "s",
            percentiles(c.MESSAGE_AGE, qs=(0.5, 0.99)),
        ),
        PanelDef(
            "Backlog in the process",
            "Messages buffered by producers and in flight in listeners.",
            "short",
            (
                Query(gauge(c.BUFFER_DEPTH), per_queue("buffered")),
                Query(gauge(c.INFLIGHT), per_queue("in flight")),
            ),
        ),
        PanelDef(
            "Errors / s",
            "Undelivered messages and failed handlers.",
            "short",
            (
                Query(rate(c.MESSAGES_FAILED, by=(ERROR,)), "undelivered {{error_type}}"),
                Query(rate(c.HANDLER_FAILURES, by=(ERROR,)), "handler {{error_type}}"),
            ),
        ),
    )
    return DashboardDef(
        "sqsobs-overview",
        "sqsobs / Overview",
        "Messages in vs out, how long they wait, how many fail.",
        (("Summary", stats), ("On call", on_call_panels()), ("Flow", flow)),
    )


#: The dashboards, Overview first (it is Grafana's home dashboard in the local stack).
DASHBOARDS: tuple[DashboardDef, ...] = (_overview(), _producer(), _listener())
