"""Worker-side enqueues: stored by SQS before the message being worked on is acked.

dramatiq's ``Retries`` middleware, its delayed-message handling and actors that send messages
call ``broker.enqueue()`` on a worker (or consumer) thread, and then the worker acks (deletes)
the message it was working on. With a buffered producer the new message may still be in memory
at that point, and a SIGKILL or an OOM kill would lose the task.

:class:`WorkerEnqueues` remembers, for each thread dramatiq runs messages on (marked by
:class:`WorkerThreads` when dramatiq starts the thread), the futures of the enqueues made since
that thread's last ack; :func:`confirm` sends them at once and waits until SQS stored them. The
consumer acks only then, and otherwise leaves the message on the queue so it comes back.
Enqueues made on any other thread (``actor.send()`` in a web request) stay buffered and batched.

Example::

    enqueues = WorkerEnqueues()
    broker.add_middleware(WorkerThreads(enqueues))
    ...
    confirm(producer, enqueues.take(), timeout_seconds=30)   # before the ack
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future, wait
from typing import Any

import dramatiq

from sqsobs.producer import BatchProducer

__all__ = ["Pending", "WorkerEnqueues", "WorkerThreads", "confirm"]

logger = logging.getLogger(__name__)

#: An enqueue to confirm: its dramatiq queue name and the producer's future.
Pending = tuple[str, Future[str]]


class WorkerEnqueues(threading.local):
    """Per thread: whether dramatiq runs messages on it, and its enqueues since the last ack."""

    def __init__(self) -> None:
        self.active = False
        self.pending: list[Pending] = []

    def record(self, queue_name: str, future: Future[str]) -> None:
        """Remember an enqueue made on this thread, if it is a worker or consumer thread."""
        if self.active:
            self.pending.append((queue_name, future))

    def record_failure(self, queue_name: str, error: BaseException) -> None:
        """Remember an enqueue that raised on this thread: its ack must keep its message."""
        if self.active:
            failed: Future[str] = Future()
            failed.set_exception(error)
            self.pending.append((queue_name, failed))

    def take(self) -> list[Pending]:
        """This thread's enqueues since the last call (for the ack at hand)."""
        pending, self.pending = self.pending, []
        return pending


class WorkerThreads(dramatiq.Middleware):
    """Marks dramatiq's worker and consumer threads, whose enqueues are confirmed before acks."""

    def __init__(self, enqueues: WorkerEnqueues) -> None:
        self._enqueues = enqueues

    def after_worker_thread_boot(self, broker: dramatiq.Broker, thread: Any) -> None:
        """A worker thread: its actors' enqueues (Retries copies, sends) belong to its acks."""
        self._enqueues.active = True

    def after_consumer_thread_boot(self, broker: dramatiq.Broker, thread: Any) -> None:
        """A consumer thread: it re-enqueues delayed messages, then acks the originals."""
        self._enqueues.active = True


def confirm(producer: BatchProducer, pending: Sequence[Pending], timeout_seconds: float) -> bool:
    """Send ``pending`` now and wait until each is stored; False if any failed or is late."""
    if not pending:
        return True
    for queue_name in dict.fromkeys(queue_name for queue_name, _ in pending):
        producer.force_flush_queue(queue_name, 0)  # send now; the wait is below
    futures = [future for _, future in pending]
    done, late = wait(futures, timeout_seconds)
    failed = [f for f in done if f.cancelled() or f.exception() is not None]
    if not failed and not late:
        return True
    logger.error(
        "%d of %d message(s) enqueued while working on a message were not stored "
        "(%d failed, %d unresolved after %g s); the message stays on its queue",
        len(failed) + len(late),
        len(futures),
        len(failed),
        len(late),
        timeout_seconds,
    )
    return False
