"""A producer + listener process for the telemetry-backend-down test: one round per "go".

Usage: ``python -m tests.soak_telemetry '<json spec>'``, endpoint in ``AWS_ENDPOINT_URL_SQS``.
Spec keys: ``queue_url``, ``messages`` (per round), ``telemetry`` (keyword arguments for
configure_telemetry; omit for telemetry off). For each ``go`` line on stdin it sends the messages
with BatchProducer, waits until the Listener handled them all, and prints one JSON line: the
round's seconds (wall and this process's CPU), send-to-handle latency p50/p99 (ms), RSS (KiB)
and the span processor's queue length. ``burst N`` records N spans at once (the queue must stay
bounded) and reports RSS and queue length after. ``stop`` shuts telemetry down (bounded) and
prints its shutdown seconds.
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from typing import Any

from sqsobs import BatchProducer, Listener
from sqsobs.types import SqsMessage
from tests.soak_common import rss_kib


def span_queue_length() -> int:
    """Spans waiting in the SDK's batch span processor (-1 when telemetry is off)."""
    from opentelemetry import trace

    provider: Any = trace.get_tracer_provider()
    processors = getattr(getattr(provider, "_active_span_processor", None), "_span_processors", ())
    for processor in processors:
        inner = getattr(processor, "_batch_processor", processor)
        queue = getattr(inner, "_queue", None)
        if queue is not None:
            return len(queue)
    return -1


def burst(count: int) -> None:
    """Record ``count`` spans as fast as possible, then report memory and the queue."""
    from sqsobs.telemetry._spans import get_tracer

    tracer = get_tracer()
    before = rss_kib()
    for _ in range(count):
        tracer.start_span("burst", attributes={"sqsobs.burst": True}).end()
    print(json.dumps({"rss_before_kib": before, "rss_kib": rss_kib(),
                      "span_queue": span_queue_length()}), flush=True)  # fmt: skip


def main() -> None:
    spec: dict[str, Any] = json.loads(sys.argv[1])
    handle_ = None
    if spec.get("telemetry") is not None:
        from sqsobs import configure_telemetry

        handle_ = configure_telemetry("soak-telemetry", logs=False, **spec["telemetry"])
    url, total = spec["queue_url"], int(spec["messages"])
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    lock = threading.Lock()
    done = threading.Condition(lock)

    def handle(message: SqsMessage) -> bool:
        with lock:
            latencies.append(time.monotonic() - sent_at[message.body])
            done.notify_all()
        return True

    listener = Listener(
        handle, queue_url=url, mode="per_message", worker_threads=4, wait_time=1,
        idle_sleep_max=0.0, visibility_secs=30,
    )  # fmt: skip
    with BatchProducer(default_batch_interval=0.01, flush_at_exit=False) as producer, listener:
        for round_number, line in enumerate(sys.stdin):
            if line.startswith("burst"):
                burst(int(line.split()[1]))
                continue
            if line.strip() != "go":
                break
            with lock:
                latencies.clear()
            started = time.perf_counter()
            cpu = time.process_time()
            for index in range(total):
                body = f"{round_number}-{index}"
                with lock:
                    sent_at[body] = time.monotonic()
                producer.send(url, body)
            with lock:
                done.wait_for(lambda: len(latencies) >= total, timeout=60)
                ordered = sorted(latencies)
            seconds = time.perf_counter() - started
            print(json.dumps({
                "seconds": seconds, "cpu_seconds": time.process_time() - cpu,
                "handled": len(ordered),
                "p50_ms": 1000 * statistics.median(ordered),
                "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))],
                "rss_kib": rss_kib(), "span_queue": span_queue_length(),
            }), flush=True)  # fmt: skip
    started = time.perf_counter()
    if handle_ is not None:
        handle_.shutdown(timeout_seconds=2.0)
    print(json.dumps({"shutdown_seconds": time.perf_counter() - started}), flush=True)


if __name__ == "__main__":
    main()
