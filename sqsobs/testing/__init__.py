"""Testing helpers: a real SQS-compatible server on loopback for tests, demos and benchmarks.

:class:`EmbeddedSQS` starts moto's SQS server (with its known concurrency and speed faults
fixed) in a child process on a free port and stops it by its PID. Install the ``local`` extra.

Example::

    from sqsobs.testing import EmbeddedSQS

    with EmbeddedSQS() as server:
        client = boto3.client("sqs", endpoint_url=server.endpoint_url, region_name="us-east-1")
"""

from __future__ import annotations

from sqsobs.testing._server import EmbeddedSQS, ServerProcess, free_port, wait_until_serving

__all__ = ["EmbeddedSQS", "ServerProcess", "free_port", "wait_until_serving"]
