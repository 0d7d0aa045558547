"""The boto3 S3 client sqsobs builds for large payloads when it is given none.

Endpoint, region and credentials resolve as boto3 resolves them (``AWS_ENDPOINT_URL_S3`` /
``AWS_ENDPOINT_URL``, ``AWS_REGION``, profiles, roles). The policy differs from the SQS
clients' (:mod:`sqsobs._client`) in one point: botocore retries each S3 call itself (standard
mode, 3 attempts). A payload upload or download has no retry loop of sqsobs' own around it (a
failed upload fails its message's future; a failed download fails the handler run), and S3
answers bursts with ``SlowDown``, which a retry a moment later mends. The read timeout is long
enough for large objects.

Example::

    s3 = build_s3_client(max_pool_connections=8)
"""

from __future__ import annotations

from typing import Any

from sqsobs._client import client_config

__all__ = ["S3_ATTEMPTS", "build_s3_client"]

#: Attempts per S3 call (botocore's standard retry mode).
S3_ATTEMPTS = 3
#: Seconds a read may wait for data: a large object on a slow link must not time out.
_READ_TIMEOUT_SECONDS = 60.0


def build_s3_client(*, max_pool_connections: int = 10, **client_kwargs: Any) -> Any:
    """A new boto3 S3 client with the policy above; ``client_kwargs`` go to ``Session.client``."""
    import boto3
    from botocore.config import Config

    retries = Config(
        retries={"total_max_attempts": S3_ATTEMPTS, "mode": "standard"}, parameter_validation=True
    )
    given = client_kwargs.pop("config", None)
    config = client_config(
        max_pool_connections=max_pool_connections,
        read_timeout_seconds=_READ_TIMEOUT_SECONDS,
        given=retries if given is None else retries.merge(given),
    )
    return boto3.session.Session().client("s3", config=config, **client_kwargs)
