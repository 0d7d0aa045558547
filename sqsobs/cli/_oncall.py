"""The Overview's "On call" row: what an engineer paged about a queue service looks at first.

Is a queue falling behind (messages sent minus messages processed), which SQS calls fail, can
the listeners receive and delete, do traces still join up, do handlers outlive ``max_extend``,
are the listeners saturated, does the dead-letter queue fill up.
Every panel has a matching alert in ``dashboards/prometheus/alerts.yml``.

Example::

    >>> [p.title for p in on_call_panels()][:2]
    ['Consumer lag (sent - processed) / s', 'SQS call errors / s by operation']
"""

from __future__ import annotations

from sqsobs.cli._panel_model import PanelDef
from sqsobs.cli._promql import (
    ERROR,
    FAILED,
    OK,
    OPERATION,
    PROPAGATION_REASON,
    QUEUE,
    Query,
    per_queue,
    rate,
)
from sqsobs.cli._scaling import dead_letter_panel, utilization_panel
from sqsobs.telemetry import catalog as c

__all__ = ["on_call_panels"]

#: Three panels a line.
_WIDTH = 8


def _lag() -> str:
    """Messages/s sent minus messages/s processed, per queue; no listener counts as zero."""
    sent = rate(c.SENT_MESSAGES, where=OK)
    processed = rate(c.DELETES, where=OK)
    return f"({sent}) - ({processed} or {sent} * 0)"


def _errors(spec: c.MetricSpec, title: str, description: str, where: str = "") -> PanelDef:
    """Failures/s per queue and error type."""
    query = Query(rate(spec, by=(QUEUE, ERROR), where=where), per_queue("{{" + ERROR + "}}"))
    return PanelDef(title, description, "short", (query,), width=_WIDTH)


def on_call_panels() -> tuple[PanelDef, ...]:
    """The row's eight panels, in the order they are read."""
    by_operation = (QUEUE, OPERATION, ERROR)
    return (
        PanelDef(
            "Consumer lag (sent - processed) / s",
            "Messages sent per second minus messages handled and deleted per second, per queue "
            "(choose every service: producers and consumers). Above zero for long, the "
            "consumers fall behind and the queue grows; scale them out.",
            "short",
            (Query(_lag(), per_queue("sent - processed")),),
            width=_WIDTH,
        ),
        PanelDef(
            "SQS call errors / s by operation",
            "Failed SQS calls per second by operation (send, receive, delete, heartbeat, "
            "release) and error type: throttling, network, 5xx, access denied.",
            "short",
            (
                Query(
                    rate(c.OPERATION_DURATION, by=by_operation, where=FAILED),
                    per_queue("{{" + OPERATION + "}} {{" + ERROR + "}}"),
                ),
            ),
            width=_WIDTH,
        ),
        _errors(c.POLL_ERRORS, "Poll errors / s", c.POLL_ERRORS.description),
        _errors(
            c.DELETES,
            "Delete failures / s",
            "Handled messages that could not be deleted: they come back and are handled again.",
            where=FAILED,
        ),
        PanelDef(
            "Trace context skipped / s",
            c.PROPAGATION_SKIPPED.description,
            "short",
            (
                Query(
                    rate(c.PROPAGATION_SKIPPED, by=(QUEUE, PROPAGATION_REASON)),
                    per_queue("{{" + PROPAGATION_REASON + "}}"),
                ),
            ),
            width=_WIDTH,
        ),
        PanelDef(
            "Handlers past max_extend / s",
            c.MAX_EXTEND_EXCEEDED.description,
            "short",
            (Query(rate(c.MAX_EXTEND_EXCEEDED), per_queue()),),
            width=_WIDTH,
        ),
        utilization_panel(width=_WIDTH),
        dead_letter_panel(width=_WIDTH),
    )
