"""dramatiq with BatchSQSBroker: actors sent in SendMessageBatch calls, a worker in the trace.

``BatchSQSBroker`` is dramatiq-sqs's ``SQSBroker`` whose enqueue goes through sqsobs'
``BatchProducer``: one call per 10 messages instead of one per message, the trace context in the
message attributes, and the worker's ``process`` span in the sender's trace.

Run (no AWS needed: an embedded SQS starts unless AWS_ENDPOINT_URL is set):

    python examples/dramatiq_app.py            # send 50 tasks, run a worker until they are done
    python examples/dramatiq_app.py send       # only send (another process runs the worker)
    python examples/dramatiq_app.py worker     # only work (Ctrl-C stops)

With the CLI instead: ``dramatiq examples.dramatiq_app`` runs the worker the usual way.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from _local import seconds_to_run, sqs_endpoint

sqs_endpoint()  # before the broker exists: its boto3 resource reads AWS_ENDPOINT_URL

import dramatiq  # noqa: E402 - after the endpoint is known
from opentelemetry import trace  # noqa: E402

import sqsobs  # noqa: E402
from sqsobs.dramatiq import BatchSQSBroker  # noqa: E402

TASKS = 50
NAMESPACE = os.environ.get("SQSOBS_QUEUE", "sqsobs-example")
broker = BatchSQSBroker(namespace=NAMESPACE, default_batch_interval=0.2)
dramatiq.set_broker(broker)
done: set[int] = set()
lock = threading.Lock()


@dramatiq.actor(queue_name="thumbnails", max_retries=3)
def make_thumbnail(image_id: int) -> None:
    """The task: pretend to resize an image (runs inside the worker's process span)."""
    time.sleep(0.005)
    with lock:
        done.add(image_id)


def send(count: int = TASKS) -> None:
    """Enqueue ``count`` tasks inside one request span, then flush the broker's buffers."""
    calls: list[str] = []
    broker.producer.client.meta.events.register(
        "before-call.sqs.SendMessageBatch", lambda **_: calls.append("call")
    )
    with trace.get_tracer("example.dramatiq").start_as_current_span("POST /images"):
        for image_id in range(count):
            make_thumbnail.send(image_id)
    broker.producer.flush(timeout=30)
    print(f"sent {count} tasks in {len(calls)} SendMessageBatch calls", flush=True)


def work(until_done: int | None) -> None:
    """Run a dramatiq worker until ``until_done`` tasks ran, EXAMPLE_SECONDS pass, or Ctrl-C."""
    worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=100)
    worker.start()
    limit = seconds_to_run()
    deadline = None if limit is None else time.monotonic() + limit
    try:
        while until_done is None or len(done) < until_done:
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(0.05)
    except KeyboardInterrupt:
        pass
    finally:
        worker.stop(timeout=5000)
    print(f"worker ran {len(done)} tasks", flush=True)


def main(mode: str) -> int:
    """``both`` (default), ``send`` or ``worker``."""
    sqsobs.configure_telemetry(f"dramatiq-example-{mode}")
    try:
        if mode in {"both", "send"}:
            send()
        if mode in {"both", "worker"}:
            work(TASKS if mode == "both" else None)
    finally:
        broker.close()
    return 0 if mode != "both" or len(done) == TASKS else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "both"))
