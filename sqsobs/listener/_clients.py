"""The two SQS clients a listener builds when it is given none, and their timeouts.

Long polls and short calls need opposite read timeouts: a ``ReceiveMessage`` waits up to
``wait_time`` seconds on a quiet queue, which must not count as a timeout, while a
``DeleteMessageBatch`` or ``ChangeMessageVisibilityBatch`` that hangs must be given up soon
enough to be retried while the heartbeat still has time in hand (it extends a message half a
visibility timeout before it expires). So the pollers get a client whose read timeout is
``wait_time + 10`` seconds, and the acker and the heartbeat one whose connect and read timeouts
are a quarter of ``visibility_secs``, between 1 and 5 s. A ``client`` given by the application is
used for everything, with its own timeouts.

Example::

    client, poll_client = default_clients(settings)
    short_call_timeout_seconds(60)   # 5.0
"""

from __future__ import annotations

from typing import Any

from sqsobs._client import build_sqs_client
from sqsobs.listener._settings import ListenerSettings

__all__ = ["default_clients", "short_call_timeout_seconds"]

#: Bounds of the short calls' timeouts.
_SHORT_CALL_MIN_SECONDS = 1.0
_SHORT_CALL_MAX_SECONDS = 5.0
#: How much longer than WaitTimeSeconds a receive may take before its read times out.
_POLL_READ_MARGIN_SECONDS = 10.0


def short_call_timeout_seconds(visibility_secs: int) -> float:
    """Connect and read timeout of deletes, releases and heartbeats (see the module doc)."""
    return min(_SHORT_CALL_MAX_SECONDS, max(_SHORT_CALL_MIN_SECONDS, visibility_secs / 4.0))


def default_clients(settings: ListenerSettings) -> tuple[Any, Any]:
    """(client for deletes, releases and heartbeats; client for the long polls)."""
    short = short_call_timeout_seconds(settings.visibility_secs)
    client = build_sqs_client(
        max_pool_connections=settings.poller_threads + 2,  # acker, heartbeat, late releases
        read_timeout_seconds=short,
        connect_timeout_seconds=short,
    )
    poll_client = build_sqs_client(
        max_pool_connections=settings.poller_threads,
        read_timeout_seconds=settings.wait_time + _POLL_READ_MARGIN_SECONDS,
    )
    return client, poll_client
