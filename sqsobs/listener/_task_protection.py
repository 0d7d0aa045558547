"""ECS task scale-in protection while handlers run (``ecs_task_protection``).

ECS protects a task from scale-in while it says so; a service scaling in then picks unprotected
tasks, so a long handler is not cut by a scale-in. One :class:`TaskProtection` thread per process
(the protection is the task's) watches every listener that asked for it
(:func:`join_protection`):

- a handler starts (the worker pool wakes it) and the task is not protected: protect it at once,
  for ``EXPIRES_IN_MINUTES``;
- handlers keep running: renew every ``RENEW_AFTER_SECONDS``, well before the protection expires;
- no handler has run for ``IDLE_SECONDS`` (counted from the first look that finds the workers
  idle, never from an earlier one): drop the protection. The hysteresis keeps a busy queue
  (a message every few seconds) from turning it on and off for every message, and still lets a
  quiet task be scaled in within seconds;
- the last listener leaves: drop it.

A failed call (see :mod:`sqsobs.listener._agent_endpoint`) is counted by the listeners'
``on_update`` callbacks, logged (a warning the first time an error type comes, then debug until a
call works) and retried with a capped backoff. It is never fatal and never blocks a handler: the
calls happen on this thread; workers only set an event.

Example::

    join_protection(owner=listener, busy=pool.busy, on_update=count)   # on ECS
    pool = WorkerPool(..., on_start=wake_protection)
    ...
    leave_protection(owner=listener)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqsobs._backoff import Backoff
from sqsobs.listener._agent_endpoint import AGENT_URI_ENV, AgentEndpoint, Answer

__all__ = [
    "EXPIRES_IN_MINUTES",
    "IDLE_SECONDS",
    "RENEW_AFTER_SECONDS",
    "OnUpdate",
    "TaskProtection",
    "join_protection",
    "leave_protection",
    "wake_protection",
]

logger = logging.getLogger(__name__)

#: How long one protection lasts unless renewed (what a frozen process keeps it for).
EXPIRES_IN_MINUTES = 5
#: How long after the last protection a running handler renews it.
RENEW_AFTER_SECONDS = 120.0
#: How long without a running handler before the protection is dropped.
IDLE_SECONDS = 10.0
#: How often the thread looks at the workers when nothing wakes it.
CHECK_SECONDS = 1.0
#: After the n-th failed call in a row, the next one waits up to this backoff.
RETRY = Backoff(base_seconds=1.0, max_seconds=60.0, jitter=False)
_STOP_SECONDS = 2.0

#: ``on_update(request, error_type)``: ``request`` is "protect" or "unprotect"; error_type None
#: when the call worked.
OnUpdate = Callable[[str, "str | None"], None]


@dataclass(frozen=True)
class _Source:
    busy: Callable[[], int]
    on_update: OnUpdate


class TaskProtection:
    """Keeps the task protected while any source is busy (see the module docstring)."""

    def __init__(
        self,
        endpoint: AgentEndpoint,
        *,
        expires_in_minutes: int = EXPIRES_IN_MINUTES,
        renew_after_seconds: float = RENEW_AFTER_SECONDS,
        idle_seconds: float = IDLE_SECONDS,
        check_seconds: float = CHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._endpoint = endpoint
        self._minutes = expires_in_minutes
        self._renew_after = min(renew_after_seconds, expires_in_minutes * 60.0 / 2)
        self._idle = idle_seconds
        self._check = check_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._sources: dict[int, _Source] = {}
        self._departed: list[_Source] = []  # the last source removed: counts the final call
        self._wake = threading.Event()
        self._started = False  # a handler started since the last look (it may be done already)
        self._stopping = False
        self._thread: threading.Thread | None = None
        # Our view of the agent's state: protected until _expires_at (monotonic) if True.
        self._protected = False
        self._expires_at = 0.0
        self._renew_at = 0.0
        self._last_busy = -1e18
        self._busy_at_last_look = False
        self._failures = 0
        self._retry_at = 0.0
        self._warned: set[str] = set()

    @property
    def protected(self) -> bool:
        """Whether the last call that worked turned protection on (and it has not expired)."""
        return self._protected and self._clock() < self._expires_at

    # --- sources -------------------------------------------------------------------------
    def add(self, owner: object, busy: Callable[[], int], on_update: OnUpdate) -> None:
        """Watch ``busy()`` (handlers running) for ``owner``; report calls to ``on_update``."""
        with self._lock:
            self._sources[id(owner)] = _Source(busy, on_update)

    def remove(self, owner: object) -> int:
        """Stop watching ``owner``; return how many sources are left."""
        with self._lock:
            source = self._sources.pop(id(owner), None)
            if source is not None and not self._sources:
                self._departed = [source]
            return len(self._sources)

    def handler_started(self) -> None:
        """A handler starts: look now. Cheap, and never waits for the agent."""
        self._started = True
        self._wake.set()

    # --- the thread ----------------------------------------------------------------------
    def start(self) -> TaskProtection:
        """Run on a daemon thread ``sqsobs-task-protection``."""
        self._thread = threading.Thread(
            target=self._run, name="sqsobs-task-protection", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout_seconds: float = _STOP_SECONDS) -> None:
        """Drop the protection (if on) and end the thread, waiting at most the timeout."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_seconds)

    def _run(self) -> None:
        while not self._stopping:
            try:
                delay = self.step()
            except Exception:  # the thread outlives any surprise
                logger.exception("task protection: unexpected error")
                delay = self._check
            self._wake.wait(delay)
            self._wake.clear()
        if self.protected:
            self._call(False)

    def step(self) -> float:
        """Protect, renew or unprotect as the workers need; return seconds until the next look."""
        now = self._clock()
        if self._protected and now >= self._expires_at:
            self._protected = False  # it lapsed (renewals failed)
        started, self._started = self._started, False
        busy = started or self._busy()
        if busy or self._busy_at_last_look:
            # Idle is counted from the first look that finds the workers idle: a look can come
            # late (a slow agent call, a busy CPU), and they may have gone idle just before it.
            self._last_busy = now
        self._busy_at_last_look = busy
        wanted = now - self._last_busy < self._idle
        if now >= self._retry_at:
            if wanted and (not self._protected or now >= self._renew_at):
                self._call(True)
            elif not wanted and self._protected:
                self._call(False)
        due = now + self._check
        if wanted:  # the next change: the workers go idle, or the protection needs renewing
            due = min(due, self._last_busy + self._idle)
            if self._protected:
                due = min(due, self._renew_at)
        return max(0.0, due - self._clock())

    def _busy(self) -> bool:
        with self._lock:
            sources = list(self._sources.values())
        return any(source.busy() > 0 for source in sources)

    def _call(self, enabled: bool) -> None:
        request = "protect" if enabled else "unprotect"
        answer = self._endpoint.update(enabled, expires_in_minutes=self._minutes)
        now = self._clock()
        self._report(request, answer)
        if answer.ok:
            self._failures = 0
            self._retry_at = 0.0
            self._protected = enabled
            self._expires_at = now + self._minutes * 60.0 if enabled else 0.0
            self._renew_at = now + self._renew_after
            return
        self._failures += 1
        self._retry_at = now + RETRY.delay(self._failures)

    def _report(self, request: str, answer: Answer) -> None:
        with self._lock:
            sources = list(self._sources.values()) or list(self._departed)
        for source in sources:
            try:
                source.on_update(request, answer.error_type)
            except Exception:  # counting never breaks the protection
                logger.debug("task protection: on_update failed", exc_info=True)
        if answer.ok:
            if self._warned:
                logger.info("task protection: the ECS agent answers again (%s)", request)
                self._warned.clear()
            logger.debug("task protection: %s (expires %s)", request, answer.expiration)
            return
        first = answer.error_type not in self._warned
        self._warned.add(str(answer.error_type))
        logger.log(
            logging.WARNING if first else logging.DEBUG,
            "task protection: %s failed at %s (%s: %s); retrying, handlers go on",
            request,
            self._endpoint.url,
            answer.error_type,
            answer.detail,
        )


# --- one per process ---------------------------------------------------------------------
_keeper: list[TaskProtection] = []
_keeper_lock = threading.Lock()


def join_protection(
    *,
    owner: object,
    busy: Callable[[], int],
    on_update: OnUpdate,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Protect the task while ``busy()`` > 0 (with the other owners'); False if not on ECS.

    The first owner starts the thread, with the agent from ``$ECS_AGENT_URI``; without it (not
    on ECS, or a platform before agent 1.65 / Fargate 1.4) a warning is logged and nothing else
    happens.
    """
    with _keeper_lock:
        if not _keeper:
            uri = (os.environ if environ is None else environ).get(AGENT_URI_ENV, "").strip()
            if not uri:
                logger.warning(
                    "ecs_task_protection is on but %s is not set (not running on ECS?): the task "
                    "is not protected from scale-in",
                    AGENT_URI_ENV,
                )
                return False
            _keeper.append(
                TaskProtection(
                    AgentEndpoint(uri),
                    expires_in_minutes=EXPIRES_IN_MINUTES,
                    renew_after_seconds=RENEW_AFTER_SECONDS,
                    idle_seconds=IDLE_SECONDS,
                    check_seconds=CHECK_SECONDS,
                ).start()
            )
        _keeper[0].add(owner, busy, on_update)
        return True


def wake_protection() -> None:
    """A handler is starting: let the protection thread look now."""
    for keeper in list(_keeper):  # a copy: the last listener may be leaving meanwhile
        keeper.handler_started()


def leave_protection(*, owner: object, timeout_seconds: float = _STOP_SECONDS) -> None:
    """``owner`` stopped; the last one drops the protection and ends the thread.

    Waits at most ``timeout_seconds`` (the final call goes on, on its daemon thread).
    """
    with _keeper_lock:
        if not _keeper or _keeper[0].remove(owner) > 0:
            return
        keeper = _keeper.pop()
    keeper.stop(min(_STOP_SECONDS, timeout_seconds))
