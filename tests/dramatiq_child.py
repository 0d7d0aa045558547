"""A dramatiq worker process for tests/test_delivery_dramatiq.py (issue 11, item 5).

Usage: ``python tests/dramatiq_child.py MODE NAMESPACE`` with the endpoint in
``AWS_ENDPOINT_URL_SQS``. A ``BatchSQSBroker`` (batch interval 60 s: a worker-side enqueue
would wait in the buffer) runs a ``dramatiq.Worker`` on queue ``flaky``, whose actor ``flaky``
fails while its message has not been retried yet (Retries: 100 ms backoff).

- ``send``: enqueue one ``flaky`` message, flush, exit;
- ``first``: run the worker; when the original message is deleted (acked), print ``at_delete
  {json}`` with the queue's counts as the server sees them at that moment, then ``acked``, and
  SIGKILL this process right after the ack, as an OOM killer or a ``docker kill`` would;
- ``second``: run the worker until the actor succeeded once (at most 30 s).

Lines on stdout: ``ran retries=N`` for each actor call, and the lines above.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from typing import Any

import boto3
import dramatiq
from dramatiq.middleware import CurrentMessage

from sqsobs.dramatiq import BatchSQSBroker

done = threading.Event()


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def server_counts(queue_url: str) -> dict[str, int]:
    client = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL_SQS"])
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    names.append("ApproximateNumberOfMessagesDelayed")
    attributes = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)
    return {name: int(value) for name, value in attributes["Attributes"].items()}


class KillAfterAck(dramatiq.Middleware):
    """SIGKILL right after the first ack: whatever is still only in memory is lost."""

    def after_ack(self, broker: Any, message: Any) -> None:
        say("acked")
        os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    mode, namespace = sys.argv[1], sys.argv[2]
    broker = BatchSQSBroker(
        namespace=namespace,
        default_batch_interval=60,
        default_idle_timeout=0,
        # A message the killed worker had received comes back after 3 s, not 12 h.
        visibility_timeout=3,
    )
    broker.add_middleware(CurrentMessage())
    dramatiq.set_broker(broker)

    @dramatiq.actor(queue_name="flaky", max_retries=3, min_backoff=100, max_backoff=200)
    def flaky() -> None:
        message = CurrentMessage.get_current_message()
        assert message is not None
        retries = message.options.get("retries", 0)
        say(f"ran retries={retries}")
        if retries == 0:
            raise RuntimeError("fails until retried")
        done.set()

    if mode == "send":
        flaky.send()
        broker.close()
        return
    broker._ensure_queue("flaky")
    queue_url = broker.queues["flaky"].url
    if mode == "first":
        broker.add_middleware(KillAfterAck())
        broker.sqs.meta.client.meta.events.register(
            "before-call.sqs.DeleteMessage",
            lambda **_: say(f"at_delete {json.dumps(server_counts(queue_url))}"),
        )
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    done.wait(30)
    time.sleep(0.5)  # the ack of the successful run
    worker.stop(timeout=5000)
    broker.close()


if __name__ == "__main__":
    main()
