"""The demo's message flow: N messages through a BatchProducer into a Listener, measured.

A fresh queue per run; messages 1-5 of every thousand carry 300 KB so that their batch passes
SQS's 1 MiB limit and is split. The first message goes out alone inside a ``demo request``
span: its trace (create, flush, send, receive, process, delete) is the report's sample.

Example::

    result = DemoResult(messages=1000)
    run_flow(DemoOptions(messages=1000), result, SpanRecorder(), sys.stdout)
    result.handled          # 1000
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any, TextIO

from opentelemetry import trace

from sqsobs.cli._demo_options import DemoOptions, DemoResult
from sqsobs.cli._demo_trace import SpanRecorder, render_trace

__all__ = ["LARGE_EVERY", "LARGE_PAYLOAD_BYTES", "STALL_SECONDS", "run_flow"]

logger = logging.getLogger(__name__)

#: Messages 1-5 of every thousand carry 300 KB: their batch passes 1 MiB and is split.
LARGE_EVERY = 1000
LARGE_PAYLOAD_BYTES = 300_000
#: Give up when no message was handled for this long.
STALL_SECONDS = 30.0


def _count_calls(client: Any, calls: Counter[str], lock: threading.Lock) -> None:
    def count(model: Any, **_: Any) -> None:
        with lock:
            calls[model.name] += 1

    client.meta.events.register("before-call.sqs", count)


def _body(run_id: str, index: int) -> str:
    pad = "x" * LARGE_PAYLOAD_BYTES if 1 <= index % LARGE_EVERY <= 5 else ""
    return json.dumps({"run": run_id, "i": index, "t": time.time(), "pad": pad})


class _Progress:
    """A one-line progress bar on a terminal (silent elsewhere unless forced)."""

    def __init__(self, total: int, out: TextIO, enabled: bool | None) -> None:
        self.total = total
        self.out = out
        self.enabled = out.isatty() if enabled is None else enabled
        self.sent = 0
        self.handled = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqsobs-demo-progress", daemon=True)

    def __enter__(self) -> _Progress:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.enabled:
            self._stop.set()
            self._thread.join()
            self.out.write("\n")

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._draw()
        self._draw()

    def _draw(self) -> None:
        width = 30
        done = int(width * self.handled / max(1, self.total))
        bar = "#" * done + "." * (width - done)
        total = f"{self.total:,}"
        self.out.write(f"\r  [{bar}] sent {self.sent:,}/{total}  handled {self.handled:,}/{total}")
        self.out.flush()


def run_flow(options: DemoOptions, result: DemoResult, recorder: SpanRecorder, out: TextIO) -> None:
    """Send ``options.messages`` and handle them; record the measurements in ``result``."""
    from sqsobs._client import build_sqs_client
    from sqsobs.listener import Listener, SqsMessage
    from sqsobs.producer import BatchProducer

    lock = threading.Lock()
    run_id = uuid.uuid4().hex[:8]
    admin = build_sqs_client()
    url: str = admin.create_queue(QueueName=f"sqsobs-demo-{run_id}")["QueueUrl"]
    handled: set[int] = set()
    progress = _Progress(options.messages, out, options.progress)

    def handle(message: SqsMessage) -> bool:
        data = message.json
        now = time.time()
        with lock:
            if data["i"] not in handled:
                handled.add(data["i"])
                result.latencies.append(now - data["t"])
                progress.handled = len(handled)
        return True

    listener_client = build_sqs_client(
        max_pool_connections=options.worker_threads + 4, read_timeout_seconds=40
    )
    producer_client = build_sqs_client(max_pool_connections=8)
    for client in (listener_client, producer_client):
        _count_calls(client, result.calls, lock)
    listener = Listener(
        handle,
        queue_url=url,
        mode="per_message",
        worker_threads=options.worker_threads,
        wait_time=1,
        client=listener_client,
        name="sqsobs-demo",
    ).start()
    producer = BatchProducer(producer_client, buffer_full_timeout_seconds=60.0)
    started = time.monotonic()
    try:
        with progress:
            _produce(producer, url, run_id, recorder, progress)
            result.send_seconds = time.monotonic() - started
            stats = producer.get_metrics()["metrics"]
            result.sent = sum(stats["messages_sent"].values())
            result.splits = sum(stats["batch_split_count"].values())
            result.retries = sum(stats["messages_retried"].values())
            result.failed = sum(stats["messages_failed"].values())
            _wait_handled(lambda: len(handled), options.messages)
        result.handle_seconds = time.monotonic() - started
    finally:
        producer.close(timeout=10.0)
        listener.stop(timeout_seconds=10.0)
        admin.delete_queue(QueueUrl=url)
    result.handled = len(handled)
    if recorder.trace_id:
        result.trace_lines = render_trace(list(recorder.spans), recorder.trace_id)


def _produce(
    producer: Any, url: str, run_id: str, recorder: SpanRecorder, progress: _Progress
) -> None:
    total = progress.total
    tracer = trace.get_tracer("sqsobs.demo")
    with tracer.start_as_current_span("demo request") as root:
        recorder.trace_id = root.get_span_context().trace_id
        producer.send(url, _body(run_id, 0))
    # The sample message goes out alone, so its flush and send spans join its trace.
    producer.flush(timeout=30.0)
    progress.sent = 1
    for index in range(1, total):
        producer.send(url, _body(run_id, index))
        progress.sent = index + 1
    producer.flush(timeout=120.0)


def _wait_handled(count: Callable[[], int], total: int) -> None:
    last, last_change = -1, time.monotonic()
    while True:
        now_count = count()
        if now_count >= total:
            return
        if now_count != last:
            last, last_change = now_count, time.monotonic()
        elif time.monotonic() - last_change > STALL_SECONDS:
            logger.warning("no message handled for %s s; giving up", STALL_SECONDS)
            return
        time.sleep(0.05)
