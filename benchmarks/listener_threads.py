"""What a listener's threads cost besides the calls themselves (CPU µs, side by side in one run).

Run ``python -m benchmarks.listener_threads`` (``--messages N``, ``--rounds R``). Three tables:

- **job handoff**: a :class:`~sqsobs.listener._workers.WorkerPool` of 4 workers fed by 2 pollers,
  no-op jobs: process CPU per job handed from a poller to a worker (per-message mode hands one job
  per message, batch mode one per batch);
- **concurrent boto3 calls**: ``receive_message`` + ``delete_message_batch`` against the null SQS,
  made in turn by one thread, or receive in one thread and delete in another (as a listener's
  poller and acker do), or in two threads that take a lock around each call (two threads, but
  never two calls at once): process CPU per message, the rounds alternating;
- **SDK instruments**: one ``Histogram.record`` and one ``Counter.add`` with the three attributes a
  listener's metrics carry, on the OpenTelemetry SDK with an in-memory reader: CPU per call.

Medians of the rounds; ratios within one run hold better than absolute figures on a shared machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import resource
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from benchmarks.null_sqs import NullSQS

ATTRIBUTES = {
    "messaging.system": "aws_sqs",
    "messaging.destination.name": "bench-q",
    "messaging.operation.name": "receive",
}


def process_cpu() -> float:
    """User + system CPU seconds of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def job_handoff(jobs: int) -> float:
    """CPU µs per job a poller hands to a worker of a 4-worker pool."""
    from sqsobs.listener._workers import Job, WorkerPool

    done = threading.Event()
    count = [0]

    def run(messages: Any, receive: Any) -> None:
        count[0] += 1
        if count[0] >= jobs:
            done.set()

    stopping = [False]
    pool = WorkerPool(4, stopping=lambda: stopping[0])
    pool.start("bench")

    def poll() -> None:
        while not done.is_set():
            slots = pool.reserve(1)
            if slots == 0:
                return
            pool.received(slots, [Job(run, [object()], None)])  # type: ignore[list-item]

    started = process_cpu()
    pollers = [threading.Thread(target=poll) for _ in range(2)]
    for poller in pollers:
        poller.start()
    done.wait()
    spent = process_cpu() - started
    stopping[0] = True
    pool.wake()
    for poller in pollers:
        poller.join()
    pool.join(time.monotonic() + 5)
    return spent / count[0] * 1e6


def concurrent_calls(
    server: NullSQS, messages: int, threaded: bool, *, one_call_at_a_time: bool = False
) -> float:
    """CPU µs per message received and deleted, in one thread or in two (``one_call_at_a_time``:
    the two threads take a lock around each call)."""
    import boto3

    client = boto3.client(
        "sqs",
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    url = client.create_queue(QueueName="threads")["QueueUrl"]
    server.preload("threads", messages)
    # Held around each call in the locked case; otherwise never contended.
    call_lock = threading.Lock() if one_call_at_a_time else contextlib.nullcontext()

    def receive() -> list[dict[str, Any]]:
        with call_lock:
            answer = client.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
            )
        return list(answer.get("Messages", []))

    def delete(batch: list[dict[str, Any]]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        with call_lock:
            client.delete_message_batch(QueueUrl=url, Entries=entries)

    handed: queue.Queue[list[dict[str, Any]] | None] = queue.Queue()

    def acker() -> None:
        while (batch := handed.get()) is not None:
            delete(batch)

    ack_thread = threading.Thread(target=acker) if threaded else None
    started, seen = process_cpu(), 0
    if ack_thread is not None:
        ack_thread.start()
    while seen < messages:
        batch = receive()
        seen += len(batch)
        handed.put(batch) if ack_thread is not None else delete(batch)
    if ack_thread is not None:
        handed.put(None)
        ack_thread.join()
    return (process_cpu() - started) / seen * 1e6


def instrument_calls(calls: int) -> dict[str, float]:
    """CPU µs per ``Histogram.record`` and per ``Counter.add`` on the SDK."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    meter = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("bench")
    histogram = meter.create_histogram("bench.age", unit="s")
    counter = meter.create_counter("bench.count", unit="{message}")
    timed: dict[str, Callable[[], None]] = {
        "Histogram.record": lambda: histogram.record(1.5, ATTRIBUTES),
        "Counter.add": lambda: counter.add(1, ATTRIBUTES),
    }
    result = {}
    for name, call in timed.items():
        started = time.thread_time()
        for _ in range(calls):
            call()
        result[name] = (time.thread_time() - started) / calls * 1e6
    return result


def table(title: str, rows: dict[str, list[float]]) -> str:
    """A Markdown table: each row's rounds and their median."""
    lines = [f"**{title}**", "", "| case | rounds (µs) | median µs |", "| --- | --- | ---: |"]
    for name, values in rows.items():
        rounds = ", ".join(f"{v:.1f}" for v in values)
        lines.append(f"| {name} | {rounds} | {statistics.median(values):.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Run the three measurements and print their tables."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.listener_threads")
    parser.add_argument("--messages", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault("BOTO_DISABLE_CRT", "true")  # botocore's own signer, as the benchmarks
    handoff = [job_handoff(args.messages * 5) for _ in range(args.rounds)]
    print(table("job handoff (4 workers, 2 pollers), CPU per job", {"WorkerPool": handoff}))
    cases = {
        "one thread, in turn": (False, False),
        "two threads, receive and delete apart": (True, False),
        "two threads, one call at a time (a lock)": (True, True),
    }
    calls: dict[str, list[float]] = {name: [] for name in cases}
    with NullSQS() as server:
        for _ in range(args.rounds):
            for name, (threaded, locked) in cases.items():
                calls[name].append(
                    concurrent_calls(server, args.messages, threaded, one_call_at_a_time=locked)
                )
    print(table("receive + delete_message_batch, CPU per message", calls))
    one, two, serial = calls.values()
    for label, rounds in (("two threads", two), ("two threads, one call at a time", serial)):
        ratios = [t / s for s, t in zip(one, rounds, strict=True)]
        print(f"{label} / one thread: median {statistics.median(ratios):.2f}x")
    print()
    sdk: dict[str, list[float]] = {"Histogram.record": [], "Counter.add": []}
    for _ in range(args.rounds):
        for name, value in instrument_calls(args.messages * 3).items():
            sdk[name].append(value)
    print(table("OpenTelemetry SDK instruments, 3 attributes, CPU per call", sdk))


if __name__ == "__main__":
    main()
