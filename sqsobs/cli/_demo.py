"""``sqsobs demo``: N messages through the batching producer and the listener, then a report.

With no endpoint configured it starts an embedded SQS (moto's server on loopback, the ``local``
extra) and stops it at the end; ``--endpoint-url`` (or ``AWS_ENDPOINT_URL``) points it at any
SQS instead. The report shows messages/s in and out, SQS calls made against one call per message,
batch splits, retries, send-to-handle latency, one sample trace and the Prometheus endpoint.
The exit code is 0 only if every message was handled.

Example::

    $ sqsobs demo --messages 2000
    >>> from sqsobs.cli._demo import DemoOptions, run_demo
    >>> run_demo(DemoOptions(messages=200)).ok  # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO, cast

from opentelemetry import trace

__all__ = ["DemoOptions", "DemoResult", "SpanRecorder", "percentile", "render_trace", "run_demo"]

logger = logging.getLogger(__name__)

#: Messages 1-5 of every thousand carry 300 KB: their batch passes 1 MiB and is split.
LARGE_EVERY = 1000
LARGE_PAYLOAD_BYTES = 300_000
#: Give up when no message was handled for this long.
STALL_SECONDS = 30.0
_NAIVE_CALLS_PER_MESSAGE = 3  # SendMessage, ReceiveMessage, DeleteMessage


@dataclass(frozen=True)
class DemoOptions:
    """What the demo does (the command line's options)."""

    messages: int = 10_000
    endpoint_url: str | None = None
    prometheus_port: int = 9464
    keep_serving: bool = False
    worker_threads: int = 16
    progress: bool | None = None  # None: only on a terminal


@dataclass
class DemoResult:
    """The demo's measurements; ``ok`` when every message was handled."""

    messages: int
    sent: int = 0
    handled: int = 0
    send_seconds: float = 0.0
    handle_seconds: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    splits: int = 0
    retries: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    trace_lines: list[str] = field(default_factory=list)
    metrics_url: str | None = None
    endpoint: str = ""

    @property
    def ok(self) -> bool:
        """True if every message was handled."""
        return self.handled == self.messages


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by nearest rank; 0.0 when there are none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


class SpanRecorder:
    """Keeps the finished spans of one trace, and the spans that link to it.

    Added to the SDK TracerProvider as a span processor (duck-typed: only
    :mod:`sqsobs.telemetry._setup` imports the SDK).
    """

    def __init__(self) -> None:
        self.trace_id = 0
        self.spans: list[Any] = []
        self._lock = threading.Lock()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        """Nothing to do when a span starts."""

    _on_ending = on_start  # newer SDKs call it while a span ends: nothing to do either

    def on_end(self, span: Any) -> None:
        """Keep ``span`` if it belongs to, or links to, the sample trace."""
        wanted = self.trace_id
        if not wanted:
            return
        linked = any(link.context.trace_id == wanted for link in span.links)
        if span.context.trace_id == wanted or linked:
            with self._lock:
                self.spans.append(span)

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered: always done."""
        return True


def render_trace(spans: list[Any], trace_id: int) -> list[str]:
    """The spans of ``trace_id`` as a tree by parent, then the spans that link into it."""
    own = sorted((s for s in spans if s.context.trace_id == trace_id), key=lambda s: s.start_time)
    ids = {s.context.span_id for s in own}
    children: dict[int, list[Any]] = {}
    roots = []
    for span in own:
        parent = span.parent.span_id if span.parent is not None else 0
        if parent in ids:
            children.setdefault(parent, []).append(span)
        else:
            roots.append(span)
    lines = [f"trace {trace_id:032x}"]

    def walk(span: Any, prefix: str, last: bool) -> None:
        ms = (span.end_time - span.start_time) / 1e6
        lines.append(f"{prefix}{'└─ ' if last else '├─ '}{span.name}  {ms:.1f} ms")
        kids = children.get(span.context.span_id, [])
        for i, kid in enumerate(kids):
            walk(kid, prefix + ("   " if last else "│  "), i == len(kids) - 1)

    for i, root in enumerate(roots):
        walk(root, "", i == len(roots) - 1)
    linked = sorted(
        (s for s in spans if s.context.trace_id != trace_id), key=lambda s: s.start_time
    )
    lines += [
        f"   ↳ {s.name}: links to this trace (own trace {s.context.trace_id:032x})" for s in linked
    ]
    return lines


def _count_calls(client: Any, calls: Counter[str], lock: threading.Lock) -> None:
    def count(model: Any, **_: Any) -> None:
        with lock:
            calls[model.name] += 1

    client.meta.events.register("before-call.sqs", count)


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextmanager
def _sqs_endpoint(options: DemoOptions, out: TextIO) -> Iterator[str]:
    """The endpoint to use: the configured one, or an embedded SQS for the demo's duration."""
    configured = (
        options.endpoint_url
        or os.environ.get("AWS_ENDPOINT_URL_SQS")
        or os.environ.get("AWS_ENDPOINT_URL")
    )
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    if configured:
        os.environ["AWS_ENDPOINT_URL_SQS"] = configured
        yield configured
        return
    try:
        from sqsobs.testing import EmbeddedSQS

        __import__("moto")
    except ImportError:
        raise SystemExit(
            'the embedded SQS needs moto: pip install -e ".[local]" (or pass --endpoint-url)'
        ) from None
    # The embedded server accepts any credentials; never reach a real account by accident.
    os.environ.update(AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo")
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    print("starting an embedded SQS (moto's server) on loopback ...", file=out, flush=True)
    with EmbeddedSQS() as server:
        os.environ["AWS_ENDPOINT_URL_SQS"] = server.endpoint_url
        yield f"{server.endpoint_url} (embedded, stopped at the end)"


def _telemetry(options: DemoOptions) -> Any:
    from sqsobs._logs import configure_logging
    from sqsobs.telemetry import configure_telemetry

    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        # No collector configured: metrics on the Prometheus endpoint only, no OTLP retries.
        os.environ.setdefault("OTEL_TRACES_EXPORTER", "none")
        os.environ.setdefault("OTEL_METRICS_EXPORTER", "none")
    configure_logging(level=None if os.environ.get("LOG_LEVEL") else "WARNING")
    port = options.prometheus_port
    if port and not _free(port):
        port = 0  # taken (another demo?): any free port, shown in the report
    return configure_telemetry("sqsobs-demo", prometheus_port=port, logs=False)


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


def _run(options: DemoOptions, result: DemoResult, recorder: SpanRecorder, out: TextIO) -> None:
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
        handle, queue_url=url, mode="per_message", worker_threads=options.worker_threads,
        wait_time=1, client=listener_client, name="sqsobs-demo",
    ).start()  # fmt: skip
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
    tracer = trace.get_tracer("sqsobs.cli._demo")
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


def _wait_handled(count: Any, total: int) -> None:
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


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} msg/s" if seconds > 0 else "-"


def report(result: DemoResult, out: TextIO) -> None:
    """Print the demo's report."""
    total_calls = sum(result.calls.values())
    naive = _NAIVE_CALLS_PER_MESSAGE * result.messages
    by_call = " · ".join(f"{name} {n:,}" for name, n in sorted(result.calls.items()))
    p50, p99 = percentile(result.latencies, 0.5), percentile(result.latencies, 0.99)
    lines = [
        "",
        f"sqsobs demo: {result.messages:,} messages, SQS at {result.endpoint}",
        f"  in    {result.sent:,} sent in {result.send_seconds:.1f} s"
        f" ({_rate(result.sent, result.send_seconds)}, BatchProducer)",
        f"  out   {result.handled:,} handled in {result.handle_seconds:.1f} s"
        f" ({_rate(result.handled, result.handle_seconds)}, Listener)",
        f"  SQS calls   {total_calls:,} ({total_calls / max(1, result.messages):.2f} per message;"
        f" one call per message per step would be {naive:,})",
        f"              {by_call}",
        f"  batch splits {result.splits:,}   retries {result.retries:,}   failed {result.failed:,}",
        f"  send -> handle   p50 {p50 * 1000:,.0f} ms   p99 {p99 * 1000:,.0f} ms",
        "  sample trace (create -> send -> receive -> process -> delete):",
        *(f"    {line}" for line in result.trace_lines or ["(tracing is off)"]),
        f"  metrics     {result.metrics_url or 'not served (port busy or telemetry off)'}",
        "  result      "
        + ("OK: every message was handled" if result.ok else "FAILED: messages missing"),
    ]
    out.write("\n".join(lines) + "\n")
    out.flush()


def _serve_until_signal(url: str, out: TextIO) -> None:
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    out.write(f"serving Prometheus metrics at {url}; Ctrl-C to stop\n")
    out.flush()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_demo(options: DemoOptions, out: TextIO = sys.stdout) -> DemoResult:
    """Run the demo, print its report to ``out``, return the measurements."""
    if options.messages < 1:
        from sqsobs.errors import ConfigError

        raise ConfigError("messages", f"must be at least 1, got {options.messages}")
    result = DemoResult(messages=options.messages)
    with _sqs_endpoint(options, out) as endpoint:
        result.endpoint = endpoint
        telemetry = _telemetry(options)
        result.metrics_url = telemetry.prometheus_url
        recorder = SpanRecorder()
        if telemetry.tracer_provider is not None:
            cast(Any, telemetry.tracer_provider).add_span_processor(recorder)
        _run(options, result, recorder, out)
        report(result, out)
        if options.keep_serving and result.metrics_url:
            _serve_until_signal(result.metrics_url, out)
    return result
