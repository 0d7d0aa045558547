"""The Listener dashboard's "Capacity and backlog" row: what autoscaling looks at.

Busy workers against slots, the utilisation, the queue's backlog and the backlog per worker
(the number KEDA and ECS target tracking scale on; ``queue:sqsobs_backlog_per_worker:ratio`` in
``dashboards/prometheus/recording.yml``), the dead-letter queue, and the ECS task protection's
calls. The backlog panels need ``backlog_metrics`` on the listeners.

Example::

    >>> [p.title for p in capacity_panels()][:2]
    ['Workers busy, slots, prefetched', 'Worker utilisation']
"""

from __future__ import annotations

from sqsobs.cli._panel_model import PanelDef
from sqsobs.cli._promql import (
    DLQ,
    ERROR,
    PROTECTION_REQUEST,
    QUEUE,
    QUEUE_STATE,
    VISIBLE,
    Query,
    backlog_per_worker,
    gauge,
    per_queue,
    queue_gauge,
    rate,
    selector,
)
from sqsobs.telemetry import catalog as c

__all__ = ["capacity_panels", "dead_letter_panel", "utilization_panel"]

_BY_STATE = (QUEUE, QUEUE_STATE)


def utilization_panel(width: int = 12) -> PanelDef:
    """The instances' mean utilisation per queue, in percent."""
    mean = f"avg by ({QUEUE}) ({c.WORKERS_UTILIZATION.prometheus_name}{selector()})"
    return PanelDef(
        "Worker utilisation",
        "Share of the listeners' worker time spent in handlers over the last minute, averaged "
        "over instances. Near 100 % for long: the listeners are saturated; scale out.",
        "percent",
        (Query(mean, per_queue()),),
        width=width,
    )


def dead_letter_panel(width: int = 12) -> PanelDef:
    """Messages on each listened queue's dead-letter queue (``backlog_metrics``)."""
    query = queue_gauge(c.DEAD_LETTER_MESSAGES, by=(QUEUE, DLQ), where=VISIBLE)
    return PanelDef(
        "Dead-letter queue messages",
        c.DEAD_LETTER_MESSAGES.description + " Growing: messages fail for good; look at them.",
        "short",
        (Query(query, per_queue("{{" + DLQ + "}}")),),
        width=width,
    )


def capacity_panels() -> tuple[PanelDef, ...]:
    """The row's panels, in reading order."""
    by_request = (QUEUE, PROTECTION_REQUEST, ERROR)
    return (
        PanelDef(
            "Workers busy, slots, prefetched",
            "Handlers running and the handlers the listeners can run at once (worker_threads), "
            "summed over instances, and received messages waiting for a worker.",
            "short",
            (
                Query(gauge(c.WORKERS_BUSY), per_queue("busy")),
                Query(gauge(c.WORKERS_SLOTS), per_queue("slots")),
                Query(gauge(c.PREFETCHED), per_queue("prefetched")),
            ),
        ),
        utilization_panel(),
        PanelDef(
            "Queue backlog",
            c.QUEUE_MESSAGES.description,
            "short",
            (
                Query(
                    queue_gauge(c.QUEUE_MESSAGES, by=_BY_STATE),
                    per_queue("{{" + QUEUE_STATE + "}}"),
                ),
            ),
        ),
        PanelDef(
            "Backlog per worker",
            "Visible messages per worker slot over every instance: what KEDA and ECS target "
            "tracking scale on (recorded as queue:sqsobs_backlog_per_worker:ratio). Keep it "
            "under (acceptable wait) / (handler duration).",
            "short",
            (Query(backlog_per_worker(), per_queue()),),
        ),
        dead_letter_panel(),
        PanelDef(
            "ECS task protection calls / s",
            c.TASK_PROTECTION_UPDATES.description,
            "short",
            (
                Query(
                    rate(c.TASK_PROTECTION_UPDATES, by=by_request),
                    per_queue("{{" + PROTECTION_REQUEST + "}} {{" + ERROR + "}}"),
                ),
            ),
        ),
    )
