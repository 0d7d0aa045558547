"""A producer and a consumer with one trace across both.

The producer handles "requests" (a span each) and sends an order per request through
``BatchProducer``; the trace context travels in the message attributes, so the consumer's
``process`` span is a child of the producer's ``create`` span: one trace id from the request to
the handler. docker-compose.yml runs ``produce`` and ``consume`` as two services; ``both`` runs
them in one process and checks the trace ids.

Run (no AWS needed: an embedded SQS starts unless AWS_ENDPOINT_URL is set):

    python examples/traced_pair.py both                 # Ctrl-C to stop
    EXAMPLE_SECONDS=5 python examples/traced_pair.py both
    python examples/traced_pair.py produce | consume    # as the compose services do
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import sys
import threading
import time

from _local import ensure_queue, seconds_to_run, sqs_endpoint, stop_listeners_when
from opentelemetry import trace

import sqsobs
from sqsobs import (
    BatchProducer,
    Listener,
    SqsMessage,
    run_listeners,
    sqs_listener,
)

logger = logging.getLogger("example.traced_pair")
tracer = trace.get_tracer("example.traced_pair")
QUEUE = os.environ.get("SQSOBS_QUEUE", "orders")
RATE = float(os.environ.get("EXAMPLE_RATE", "20"))  # requests per second
handled: dict[str, tuple[str, str]] = {}  # order id -> (request trace id, handler trace id)
lock = threading.Lock()


def handle(msg: SqsMessage) -> bool:
    """Process an order inside the ``process`` span, which continues the producer's trace."""
    order = msg.json
    if order["n"] % 20 == 7 and msg.receive_count == 1:
        raise RuntimeError(f"order {order['id']}: payment service timed out")  # comes back
    time.sleep(random.uniform(0.0, 0.02))  # the work
    here = f"{trace.get_current_span().get_span_context().trace_id:032x}"
    with lock:
        handled[order["id"]] = (order["trace"], here)
    logger.info("order %s handled in trace %s", order["id"], here)
    return True


def produce(url: str, seconds: float | None, stop: threading.Event) -> int:
    """One request span and one message per request, at RATE per second; return how many."""
    deadline = None if seconds is None else time.monotonic() + seconds
    sent = 0
    with BatchProducer(default_batch_interval=0.2) as producer:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            with tracer.start_as_current_span("POST /orders") as request:
                trace_id = f"{request.get_span_context().trace_id:032x}"
                order = {"id": f"o-{sent}", "n": sent, "trace": trace_id}
                producer.send(url, json.dumps(order))
            sent += 1
            time.sleep(1.0 / RATE)
    logger.info("producer sent %d orders", sent)
    return sent


def both(url: str, seconds: float | None) -> int:
    """Produce and consume in one process; exit 1 unless every order kept its trace."""
    stop = threading.Event()
    with Listener(handle, queue_url=url, mode="per_message", worker_threads=4, wait_time=1,
                  visibility_secs=2):  # fmt: skip
        try:
            sent = produce(url, None if seconds is None else seconds * 0.6, stop)
        except KeyboardInterrupt:
            stop.set()
            sent = -1
        deadline = time.monotonic() + 15.0  # failed orders come back after 2 s
        while len(handled) < sent and time.monotonic() < deadline:
            time.sleep(0.05)
    same = sum(1 for request, handler in handled.values() if request == handler)
    print(f"sent {sent}, handled {len(handled)}, {same} in the producer's trace", flush=True)
    return 0 if sent == len(handled) == same else 1


def main(mode: str) -> int:
    """``produce``, ``consume`` or ``both``."""
    sqs_endpoint()
    sqsobs.configure_telemetry(os.environ.get("OTEL_SERVICE_NAME") or f"traced-pair-{mode}")
    url = ensure_queue(QUEUE)
    seconds = seconds_to_run()
    if mode == "both":
        return both(url, seconds)
    if mode == "produce":
        sent = 0
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: close the producer, flushing
            sent = produce(url, seconds, threading.Event())
        print(f"sent {sent} orders", flush=True)
        return 0
    # A failed order comes back after 2 s (heartbeats keep slow ones invisible meanwhile).
    sqs_listener(url, mode="per_message", worker_threads=8, wait_time=2, visibility_secs=2)(handle)
    expected = int(os.environ.get("EXAMPLE_ORDERS", "0"))  # 0: run for EXAMPLE_SECONDS
    stop_listeners_when(lambda: expected > 0 and len(handled) >= expected, seconds)
    run_listeners()
    print(f"handled {len(handled)} orders", flush=True)
    return 0


if __name__ == "__main__":
    choice = sys.argv[1] if len(sys.argv) > 1 else "both"
    if choice not in {"produce", "consume", "both"}:
        sys.exit(f"usage: {sys.argv[0]} [produce|consume|both]")
    sys.exit(main(choice))
