"""The producer's lifecycle: one state, moved forward only, by :meth:`Buffers.move`.

::

    RUNNING --close()--> CLOSING --wait over--> STOPPING --threads stopped--> CLOSED

There is no "new" state: the constructor starts the threads, so a producer runs once it is built.
A closed producer never runs again; in a child after ``os.fork()`` a running producer runs (with
empty buffers and its own threads) and any other becomes ``CLOSED``.

Example::

    ProducerState.CLOSING.accepts_messages   # False
    ProducerState.CLOSING.flushing           # True: buffers still go out, failures retry
"""

from __future__ import annotations

import enum

from sqsobs.errors import ProducerClosed

__all__ = ["ProducerState"]


class ProducerState(enum.Enum):
    """Where a producer is in its life (``producer.closed`` is True from ``CLOSING`` on)."""

    RUNNING = "running"  # send() accepts; the flusher sends and retries
    CLOSING = "closing"  # close() began: send() refuses; buffers still go out, failures retry
    STOPPING = "stopping"  # close() waited long enough: the flusher exits, failures are final
    CLOSED = "closed"  # threads stopped, unsent messages failed; terminal

    @property
    def accepts_messages(self) -> bool:
        """Whether ``send()`` may buffer a message."""
        return self is ProducerState.RUNNING

    @property
    def flushing(self) -> bool:
        """Whether the flusher thread runs, sending buffers and retrying failed entries."""
        return self is ProducerState.RUNNING or self is ProducerState.CLOSING

    def refusal(self) -> ProducerClosed:
        """The error ``send()`` raises in this state, naming it."""
        return ProducerClosed(f"the producer is {self.value}; it accepts no more messages")
