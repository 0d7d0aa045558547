"""Testing kit: an in-memory SQS for unit tests, a real SQS-compatible server, pytest fixtures.

- :class:`FakeSQS`: an in-memory SQS that is also a boto3 SQS client, so
  ``BatchProducer(client=sqs)`` and ``Listener(handler, queue_url=url, client=sqs)`` run as
  they are, with no server and no network.
- :class:`FakeSQSQueue` and :class:`RunResult`: one queue of it, with sqs-fargate-listener's
  ``FakeSQSQueue`` API (``send()``, ``run_handler()``, ``deleted_count``, ``pending_count``
  ...).
- :class:`EmbeddedSQS`: moto's SQS server (with its known concurrency and speed faults fixed)
  in a child process on a free port, stopped by its PID. Install the ``local`` extra.
- :mod:`sqsobs.testing.pytest_plugin`: the fixtures ``fake_sqs``, ``fake_sqs_queue``,
  ``embedded_sqs`` and ``embedded_sqs_client`` (pytest loads it when sqsobs is installed).

Example::

    from sqsobs.testing import FakeSQSQueue

    queue = FakeSQSQueue()
    queue.send({"order_id": "123"})
    assert queue.run_handler(handle, mode="per_message").processed == 1
"""

from __future__ import annotations

from sqsobs.testing._fake_client import FakeSQS
from sqsobs.testing._fake_queue import DEFAULT_QUEUE_URL, FakeSQSQueue, RunResult
from sqsobs.testing._server import EmbeddedSQS, ServerProcess, free_port, wait_until_serving

__all__ = [
    "DEFAULT_QUEUE_URL",
    "EmbeddedSQS",
    "FakeSQS",
    "FakeSQSQueue",
    "RunResult",
    "ServerProcess",
    "free_port",
    "wait_until_serving",
]
