"""Where the batch listener's telemetry time goes, part by part (CPU µs per message).

Run ``python -m benchmarks.listener_telemetry_parts on`` (or ``off``; ``--batches N``). Each part
runs the listener's own telemetry code (:class:`~sqsobs.listener._telemetry.ListenerTelemetry`)
on 10 messages shaped as the null SQS sends them, timed with ``time.thread_time()`` in the
calling thread; the span processor's and the metric reader's threads are read with
``pthread_getcpuclockid`` after a flush, and the OTLP encoding inside the span processor is
timed on its own. "on" is the benchmark's profile (every span sampled, OTLP/HTTP to the null
SQS, metrics every second); "off" configures no SDK. No SQS call is made: the parts are the
telemetry, not the client.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from benchmarks.null_sqs import NullSQS, _make_pool

T = TypeVar("T")
QUEUE = "bench-q"


def thread_cpu_seconds(name_part: str) -> float:
    """CPU time of the live threads whose name contains ``name_part``."""
    total = 0.0
    for thread in threading.enumerate():
        if name_part in thread.name and thread.ident is not None:
            total += time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return total


class Parts:
    """CPU seconds per named part, in the calling thread."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def run(self, name: str, fn: Callable[[], T]) -> T:
        started = time.thread_time()
        out = fn()
        self.seconds[name] = self.seconds.get(name, 0.0) + time.thread_time() - started
        return out


def time_encoding(parts: Parts) -> None:
    """Time the OTLP/HTTP span exporter's encoding (it runs in the span processor's thread)."""
    import opentelemetry.exporter.otlp.proto.http.trace_exporter as exporter_module

    original = exporter_module.encode_spans
    lock = threading.Lock()

    def encode(spans: Sequence[Any]) -> Any:
        started = time.thread_time()
        out = original(spans)
        with lock:
            elapsed = time.thread_time() - started
            parts.seconds["exporter: encode_spans"] = (
                parts.seconds.get("exporter: encode_spans", 0.0) + elapsed
            )
        return out

    exporter_module.encode_spans = encode  # type: ignore[assignment]


def raw_messages() -> list[dict[str, Any]]:
    """10 received messages as the null SQS answers them (a sampled traceparent each)."""
    sent_ms = str(int(time.time() * 1000))
    raws = []
    for index, message in enumerate(_make_pool(sampled=True)[:10]):
        raw = dict(message, MessageId=f"id-{index}", ReceiptHandle=f"rh-{index}" * 10)
        raw["Attributes"] = {"SentTimestamp": sent_ms, "ApproximateReceiveCount": "1"}
        raws.append(raw)
    return raws


def one_batch(parts: Parts, tel: Any, raws: list[dict[str, Any]]) -> None:
    """The telemetry of one received, processed and deleted batch of 10, part by part."""
    from sqsobs.listener._calls import BatchOutcome
    from sqsobs.listener._message import SqsMessage
    from sqsobs.listener._telemetry import _creations, creation_context
    from sqsobs.telemetry import OP_DELETE, OP_RECEIVE, add_message_links, extract_context
    from sqsobs.telemetry.catalog import (
        CONSUMED_MESSAGES,
        MESSAGE_AGE,
        OPERATION_DURATION,
        POLL_DURATION,
        RECEIVE_COUNT,
    )

    messages = parts.run(
        "extract_context + SqsMessage (both modes)",
        lambda: [
            SqsMessage.from_boto(r, received_at=1.0, context=extract_context(r, destination=QUEUE))
            for r in raws
        ],
    )
    started_ns = time.time_ns()

    # ListenerTelemetry.received(), step by step (its code, in its order).
    def batch_metrics() -> None:
        inst = tel._inst
        inst.histogram(OPERATION_DURATION).record(0.001, tel.attrs(OPERATION_DURATION, OP_RECEIVE))
        inst.histogram(POLL_DURATION).record(0.001, tel._queue_attrs)
        inst.counter(CONSUMED_MESSAGES).add(10, tel.attrs(CONSUMED_MESSAGES, OP_RECEIVE))

    def message_metrics() -> None:
        now = time.time()
        age = tel._inst.histogram(MESSAGE_AGE)
        count = tel._inst.histogram(RECEIVE_COUNT)
        for message in messages:
            sent = message.attributes.get("SentTimestamp")
            age.record(max(0.0, now - int(str(sent)) / 1000.0), tel._queue_attrs)
            count.record(message.receive_count, tel._queue_attrs)

    parts.run("receive: 3 batch metric points", batch_metrics)
    parts.run("receive: 20 per-message histogram points", message_metrics)
    span = parts.run("receive: span start", lambda: tel._receive_span(10, started_ns, "req-r"))
    parts.run("receive: 10 links", lambda: add_message_links(span, _creations(messages)))
    parts.run("receive: span end", span.end)
    receive = span.get_span_context()

    def process() -> None:
        with tel.process_span(messages, receive, batch=True):
            pass
        tel.processed(0.0001, None)

    def delete() -> None:
        links = [(creation_context(m), m.message_id) for m in messages]
        with tel.call_span(OP_DELETE, 10, iter(links)) as delete_span:
            tel.call_result(delete_span, OP_DELETE, BatchOutcome(request_id="req-d"))
        tel.deletes(10)

    parts.run("process: span (11 links) + duration point", process)
    parts.run("delete: span (10 links) + duration point + counter", delete)


def main(argv: list[str] | None = None) -> None:
    """Print the parts in µs per message, as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.listener_telemetry_parts")
    parser.add_argument("telemetry", choices=("on", "off"))
    parser.add_argument("--batches", type=int, default=1000)
    args = parser.parse_args(argv)
    os.environ.setdefault("OTEL_BSP_MAX_QUEUE_SIZE", "262144")
    parts = Parts()
    with NullSQS() as null:
        handle = None
        if args.telemetry == "on":
            import sqsobs

            time_encoding(parts)
            handle = sqsobs.configure_telemetry(
                "sqsobs-bench",
                otlp_endpoint=null.endpoint_url,
                otlp_protocol="http/protobuf",
                prometheus_port=None,
                trace_sample_ratio=1.0,
                metric_export_interval_seconds=1.0,
            )
        from sqsobs.listener._telemetry import ListenerTelemetry

        tel = ListenerTelemetry(QUEUE, f"{null.endpoint_url}/123456789012/{QUEUE}")
        raws = raw_messages()
        spans_before = thread_cpu_seconds("OtelBatch")
        readers_before = thread_cpu_seconds("OtelPeriodicExportingMetricReader")
        for _ in range(args.batches):
            one_batch(parts, tel, raws)
        if handle is not None:
            parts.run("force_flush (calling thread)", lambda: handle.force_flush(60.0))
        parts.seconds["span processor thread (all)"] = (
            thread_cpu_seconds("OtelBatch") - spans_before
        )
        parts.seconds["metric reader thread"] = (
            thread_cpu_seconds("OtelPeriodicExportingMetricReader") - readers_before
        )
        messages = args.batches * 10
        report = {name: round(s / messages * 1e6, 1) for name, s in parts.seconds.items()}
        report["otlp spans received"] = null.stats()["otlp_spans"]
        print(json.dumps(report, indent=1))
        if handle is not None:
            handle.shutdown()


if __name__ == "__main__":
    main()
