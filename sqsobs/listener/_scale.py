"""What a listener adds for running at scale, both opt-in: backlog gauges and task protection.

:class:`ScaleHooks` joins the process's backlog reader for the queue (``backlog_metrics``, see
:mod:`sqsobs.listener._backlog`) and its ECS task protection (``ecs_task_protection``, see
:mod:`sqsobs.listener._task_protection`) when the listener starts, counts the protection calls on
the listener's queue, and leaves both when it has drained.

Example::

    hooks = ScaleHooks(settings, queue_url=url, client=client, owner=engine)
    pool = WorkerPool(..., on_start=hooks.on_start)
    hooks.start(pool.busy)
    ...
    hooks.stop(timeout_seconds=1.0)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqsobs._urls import queue_name
from sqsobs.listener._backlog import join_backlog, leave_backlog
from sqsobs.listener._settings import ListenerSettings
from sqsobs.listener._task_protection import join_protection, leave_protection, wake_protection
from sqsobs.telemetry import get_instruments, metric_attributes
from sqsobs.telemetry.catalog import TASK_PROTECTION_UPDATES

__all__ = ["ScaleHooks"]


class ScaleHooks:
    """The backlog reader and the task protection of one listener, as its settings ask."""

    def __init__(
        self, settings: ListenerSettings, *, queue_url: str, client: Any, owner: object
    ) -> None:
        self._settings = settings
        self._url = queue_url
        self._queue = queue_name(queue_url)
        self._client = client
        self._owner = owner
        self._protecting = False

    @property
    def on_start(self) -> Callable[[], None] | None:
        """What the worker pool calls before each handler run (None: nothing to do)."""
        return wake_protection if self._settings.ecs_task_protection else None

    def start(self, busy: Callable[[], int]) -> None:
        """Join the backlog reader and the task protection, as the settings ask."""
        if self._settings.backlog_metrics:
            join_backlog(
                self._url,
                client=self._client,
                interval_seconds=self._settings.backlog_interval_seconds,
                owner=self._owner,
            )
        if self._settings.ecs_task_protection:
            self._protecting = join_protection(owner=self._owner, busy=busy, on_update=self._count)

    def stop(self, timeout_seconds: float) -> None:
        """Leave both (the last listener of the process stops them), waiting at most the timeout.

        The last one out drops the protection: that call gets what is left of the timeout.
        """
        deadline = time.monotonic() + timeout_seconds
        if self._settings.backlog_metrics:
            leave_backlog(self._url, owner=self._owner, timeout_seconds=timeout_seconds)
        if self._protecting:
            left = max(0.0, deadline - time.monotonic())
            leave_protection(owner=self._owner, timeout_seconds=left)
            self._protecting = False

    def _count(self, request: str, error_type: str | None) -> None:
        attributes = metric_attributes(
            TASK_PROTECTION_UPDATES,
            self._queue,
            error_type=error_type,
            protection_request=request,
        )
        get_instruments().counter(TASK_PROTECTION_UPDATES).add(1, attributes)
