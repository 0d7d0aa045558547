"""The one place sqsobs builds a boto3 SQS client, with one documented policy.

Endpoint, region and credentials resolve as boto3 resolves them (``AWS_ENDPOINT_URL_SQS`` /
``AWS_ENDPOINT_URL``, ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, profiles, container and instance
roles). The policy, for every client sqsobs builds:

- botocore's own retries are off (one attempt per call): every sqsobs caller retries itself,
  with backoff, spans and metrics (producer entries, poll errors, deletes, heartbeats), and a
  second retry loop underneath would multiply attempts and hide them;
- botocore's parameter validation is off: messages are validated before they are buffered;
- timeouts are short and explicit: ``connect_timeout_seconds`` (default 5) and
  ``read_timeout_seconds`` (set by the caller: longer than a long poll for receives, shorter
  than the deadlines it must meet for everything else);
- TCP keep-alive on, and a connection pool sized by the caller.

A ``config`` passed by the caller is merged on top and wins on every option it sets.

Example::

    client = build_sqs_client(max_pool_connections=8, read_timeout_seconds=30)
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_SECONDS",
    "build_sqs_client",
    "client_config",
    "drop_inherited_connections",
]

logger = logging.getLogger(__name__)

#: Seconds to wait for a TCP connection to SQS.
DEFAULT_CONNECT_TIMEOUT_SECONDS = 5.0


def client_config(
    *,
    max_pool_connections: int = 10,
    read_timeout_seconds: float = 30.0,
    connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    given: Any = None,
) -> Any:
    """The botocore ``Config`` of the policy above, with ``given`` merged on top."""
    from botocore.config import Config

    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
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
    read_timeout_seconds: float = 30.0,
    connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    **client_kwargs: Any,
) -> Any:
    """A new boto3 SQS client with the policy above; ``client_kwargs`` go to ``Session.client``."""
    import boto3

    config = client_config(
        max_pool_connections=max_pool_connections,
        read_timeout_seconds=read_timeout_seconds,
        connect_timeout_seconds=connect_timeout_seconds,
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
