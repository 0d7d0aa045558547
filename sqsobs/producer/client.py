"""The one place the producer builds its boto3 SQS client.

Endpoint, region and credentials resolve as boto3 resolves them (``AWS_ENDPOINT_URL_SQS`` /
``AWS_ENDPOINT_URL``, ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, profiles, instance roles).
botocore's own retries are off because the producer retries per entry, with spans and metrics;
botocore's parameter validation is off because every message was validated before buffering.

Example::

    client = build_sqs_client(max_pool_connections=8)
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["build_sqs_client", "drop_inherited_connections"]

logger = logging.getLogger(__name__)


def build_sqs_client(*, max_pool_connections: int = 10, **client_kwargs: Any) -> Any:
    """A new boto3 SQS client for the producer; ``client_kwargs`` go to ``Session.client``."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=max_pool_connections,
        parameter_validation=False,
        connect_timeout=5,
        read_timeout=30,
        tcp_keepalive=True,
    )
    if "config" in client_kwargs:
        config = config.merge(client_kwargs.pop("config"))
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
