"""The one place the producer builds its boto3 SQS client.

Endpoint, region and credentials resolve as boto3 resolves them (``AWS_ENDPOINT_URL_SQS`` /
``AWS_ENDPOINT_URL``, ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, profiles, instance roles).
botocore's own retries are off because the producer retries per entry, with spans and metrics;
botocore's parameter validation is off because every message was validated before buffering.

Example::

    client = build_sqs_client(max_pool_connections=8)
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_sqs_client"]


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
