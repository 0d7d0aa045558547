"""A Flask app that sends to SQS through one BatchProducer, closed by a shutdown hook.

Each request handler calls ``producer.send()``, which only buffers (microseconds); the producer's
own threads send SendMessageBatch calls. The producer is created once per process and closed at
exit, so nothing buffered is lost on shutdown: ``atexit`` covers a normal exit and Ctrl-C, and
SIGTERM (what containers and process managers send) is turned into a normal exit first. Under
gunicorn, close it in the ``worker_exit`` server hook instead.

Run (no AWS needed: an embedded SQS starts unless AWS_ENDPOINT_URL is set):

    python examples/web_producer.py            # serves http://127.0.0.1:8000
    curl -X POST localhost:8000/orders -H 'content-type: application/json' -d '{"sku": "a1"}'
    EXAMPLE_SECONDS=3 python examples/web_producer.py   # serve, post a few orders, shut down
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import sys
import threading
import urllib.request
from typing import Any

from _local import ensure_queue, seconds_to_run, sqs_client, sqs_endpoint
from flask import Flask, request
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from werkzeug.serving import make_server

import sqsobs
from sqsobs import BatchProducer

QUEUE = os.environ.get("SQSOBS_QUEUE", "orders-web")
PORT = int(os.environ.get("EXAMPLE_PORT", "8000"))
tracer = trace.get_tracer("example.web")
app = Flask(__name__)
producer: BatchProducer | None = None
queue_url = ""


def start_producer() -> BatchProducer:
    """One producer per process, closed (flushing its buffers) when the process exits."""
    created = BatchProducer(default_batch_interval=0.1)
    atexit.register(created.close)
    # SIGTERM's default kills the process without running atexit: exit normally instead.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    return created


@app.post("/orders")
def post_order() -> tuple[dict[str, Any], int]:
    """Queue the order; 202 as soon as it is buffered (the send happens in the background)."""
    assert producer is not None
    with tracer.start_as_current_span("POST /orders", kind=SpanKind.SERVER):
        producer.send(queue_url, json.dumps(request.get_json(force=True)))
    return {"queued": True}, 202


def exercise(port: int, count: int) -> None:
    """Post ``count`` orders to the running app, as a client would."""
    for n in range(count):
        call = urllib.request.Request(
            f"http://127.0.0.1:{port}/orders",
            data=json.dumps({"sku": f"sku-{n}"}).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(call, timeout=10) as answer:
            assert answer.status == 202


def main() -> None:
    """Serve; with EXAMPLE_SECONDS, post a few orders, shut down and count what arrived."""
    global producer, queue_url  # noqa: PLW0603 - the app's process-wide objects
    sqs_endpoint()
    sqsobs.configure_telemetry("web-producer")
    queue_url = ensure_queue(QUEUE)
    producer = start_producer()
    server = make_server("127.0.0.1", 0 if seconds_to_run() else PORT, app, threaded=True)
    if seconds_to_run() is None:
        print(f"serving on http://127.0.0.1:{server.server_port}", flush=True)
        server.serve_forever()
        return
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log for the self-test
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    exercise(server.server_port, 25)
    server.shutdown()
    producer.close()  # what the shutdown hook does at exit: flush, then stop
    arrived = sqs_client().get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    print(f"posted 25 orders, {arrived} on the queue", flush=True)


if __name__ == "__main__":
    main()
