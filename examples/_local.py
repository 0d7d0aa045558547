"""Shared by the examples: an SQS endpoint and a queue, with no AWS account needed.

``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_SQS``) set: the examples use that SQS (ElasticMQ,
LocalStack, the docker-compose stack; leave both unset and configure credentials for real AWS by
setting ``SQSOBS_EXAMPLE_REAL_AWS=1``). Otherwise they start the demo's embedded SQS (moto's
server on loopback, ``pip install -e ".[local]"``) and stop it at exit.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3

_LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def sqs_endpoint() -> str | None:
    """The SQS endpoint every boto3 client of this process will use (None: real AWS)."""
    configured = os.environ.get("AWS_ENDPOINT_URL_SQS") or os.environ.get("AWS_ENDPOINT_URL")
    if configured or os.environ.get("SQSOBS_EXAMPLE_REAL_AWS") == "1":
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        return configured
    from sqsobs.testing import EmbeddedSQS

    server = EmbeddedSQS().start()
    atexit.register(server.stop)
    # botocore reads AWS_ENDPOINT_URL, so sqsobs' own clients find the embedded server too.
    os.environ["AWS_ENDPOINT_URL"] = server.endpoint_url
    for key, value in _LOCAL_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    print(f"embedded SQS at {server.endpoint_url}", flush=True)
    return server.endpoint_url


def sqs_client() -> Any:
    """A plain boto3 SQS client on :func:`sqs_endpoint`."""
    return boto3.client("sqs")


def ensure_queue(name: str, **attributes: str) -> str:
    """Create ``name`` if needed (CreateQueue is idempotent); return its URL."""
    url: str = sqs_client().create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url


def seconds_to_run(default: float | None = None) -> float | None:
    """The most a long-running example runs (``EXAMPLE_SECONDS``; None: until Ctrl-C)."""
    raw = os.environ.get("EXAMPLE_SECONDS")
    return float(raw) if raw else default


def stop_listeners_when(done: Callable[[], bool], seconds: float | None) -> None:
    """With a time limit, stop run_listeners() once ``done()`` is true or the time is up.

    Without one (``EXAMPLE_SECONDS`` unset) the listeners run until Ctrl-C or SIGTERM.
    """
    if seconds is None:
        return
    from sqsobs import request_shutdown

    deadline = time.monotonic() + seconds

    def watch() -> None:
        while not done() and time.monotonic() < deadline:
            time.sleep(0.05)
        request_shutdown()

    threading.Thread(target=watch, name="example-stop", daemon=True).start()
