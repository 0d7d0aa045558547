"""The one place sqsobs builds a boto3 SQS client, with one documented policy.

Endpoint, region and credentials resolve as boto3 resolves them (``AWS_ENDPOINT_URL_SQS`` /
``AWS_ENDPOINT_URL``, ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, profiles, container and instance
roles). The policy, for every client sqsobs builds:

- *Retries.* botocore's own retries are off (one HTTP request per call) wherever sqsobs retries
  itself, with backoff, spans and metrics: the producer's sends, the listener's receives,
  deletes and heartbeats. A second retry loop underneath would multiply the requests (botocore's
  default mode makes up to 5 per call, so 20 per message under the producer's 4 attempts) and
  hide them from ``SendFailed.attempts`` and the metrics. The one client whose calls nobody
  retries, the one dramatiq-sqs's consumer uses for receives, deletes and visibility changes
  inside :class:`~sqsobs.dramatiq.BatchSQSBroker`, makes :data:`UNMANAGED_ATTEMPTS` attempts in
  botocore's standard mode: a failed delete there means the task runs again after the
  visibility timeout (12 h by default), so a blip is worth two quick retries.
- *Timeouts.* :data:`DEFAULT_CONNECT_TIMEOUT_SECONDS` to connect. Reads wait
  :data:`SEND_READ_TIMEOUT_SECONDS` for calls that answer at once (sends, deletes, visibility
  changes): one stuck attempt (connect plus read, 15 s) fits twice in the producer's 30 s
  ``shutdown_timeout_seconds`` and in a container's 30 s stop timeout. Clients that long-poll
  wait :data:`RECEIVE_READ_TIMEOUT_SECONDS`, longer than the longest poll SQS allows (20 s).
  botocore's defaults are 60 s each.
- botocore's parameter validation is off: messages are validated before they are buffered.
- TCP keep-alive on, and a connection pool sized by the caller.

A ``config`` passed by the caller is merged on top and wins on every option it sets.

Example::

    client = build_sqs_client(max_pool_connections=8, read_timeout_seconds=10)
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_SECONDS",
    "RECEIVE_READ_TIMEOUT_SECONDS",
    "SEND_READ_TIMEOUT_SECONDS",
    "UNMANAGED_ATTEMPTS",
    "build_sqs_client",
    "client_config",
    "drop_inherited_connections",
]

logger = logging.getLogger(__name__)

#: Seconds to wait for a TCP connection to SQS.
DEFAULT_CONNECT_TIMEOUT_SECONDS = 5.0
#: Seconds to wait for the answer of a call that does not long-poll.
SEND_READ_TIMEOUT_SECONDS = 10.0
#: Seconds to wait for the answer of a receive: the longest long poll (20 s) plus a margin.
RECEIVE_READ_TIMEOUT_SECONDS = 30.0
#: botocore attempts (standard mode) for calls no sqsobs code retries.
UNMANAGED_ATTEMPTS = 3


def client_config(
    *,
    max_pool_connections: int = 10,
    read_timeout_seconds: float = RECEIVE_READ_TIMEOUT_SECONDS,
    connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    attempts: int = 1,
    given: Any = None,
) -> Any:
    """The botocore ``Config`` of the policy above, with ``given`` merged on top.

    ``attempts`` is botocore's total per call: 1 (the default) where the caller retries itself,
    :data:`UNMANAGED_ATTEMPTS` where nobody does.
    """
    from botocore.config import Config

    config = Config(
        retries={"total_max_attempts": attempts, "mode": "standard"},
        max_pool_connections=max_pool_connections,
        parameter_validation=False,
        connect_timeout=connect_timeout_seconds,
        read_timeout=read_timeout_seconds,
        tcp_keepalive=True,
    )
    return config if given is None else config.merge(given)


def build_sqs_client(
    *,
    max_pool_connections: int = 10,
    read_timeout_seconds: float = RECEIVE_READ_TIMEOUT_SECONDS,
    connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    attempts: int = 1,
    **client_kwargs: Any,
) -> Any:
    """A new boto3 SQS client with the policy above; ``client_kwargs`` go to ``Session.client``
    (``endpoint_url``, ``region_name``, credentials, a ``config`` merged on top)."""
    import boto3

    config = client_config(
        max_pool_connections=max_pool_connections,
        read_timeout_seconds=read_timeout_seconds,
        connect_timeout_seconds=connect_timeout_seconds,
        attempts=attempts,
        given=client_kwargs.pop("config", None),
    )
    return boto3.session.Session().client("sqs", config=config, **client_kwargs)


def drop_inherited_connections(client: Any) -> None:
    """In a forked child, forget the pooled connections the parent's sockets back.

    Parent and child would otherwise read each other's responses on the shared sockets. Only
    the child's copies of the descriptors are closed; the parent's connections stay intact.
    """
    try:
        client._endpoint.http_session.close()
    except Exception:  # a client without botocore's usual insides: nothing we can do
        logger.debug("could not reset the connections of %r after fork", client, exc_info=True)
