"""A child process for configure_telemetry() tests (global providers can be set once a process).

Usage: ``python tests/telemetry_child.py '<json spec>'``. The spec says what to do:

- ``configure``: keyword arguments for configure_telemetry() (omit: telemetry stays off).
- ``app_logging``: a format for ``logging.basicConfig()`` run before configure_telemetry(), as
  an application that set up logging itself would.
- ``configure_twice``: call configure_telemetry() a second time and report whether the handle
  is the same object.
- ``record``: record one data point on every catalog instrument, on queue ``record``.
- ``inject_probe``: inject a span's context with baggage into empty attributes and report the
  attribute names the global propagator wrote.
- ``spans``: emit this many ``send`` spans (with a log line inside the first one).
- ``span_attributes``: emit one span named ``attributes`` carrying these attributes.
- ``count_export_logs``: count WARNING+ records of the exporter loggers before rate limiting.
- ``workload``: ``{"endpoint_url", "queue_url", "messages", "repeats"}``: send, receive and delete
  through SQS with context injection/extraction, spans and metrics per message; report the
  seconds of each repeat.
- ``library_workload``: the same through sqsobs' own BatchProducer and Listener (per-message
  handler): send ``messages`` and wait until the listener deleted them, ``repeats`` times.
- ``flush``: call force_flush(timeout_seconds=flush) before shutting down and report it.
- ``hold``: after reporting, wait for a line on stdin before shutting down.
- ``busy_seconds``: keep emitting spans and metrics for this long before shutting down.

Every report is one JSON line on stdout; logs go to stderr.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

import sqsobs
from sqsobs.telemetry import catalog
from sqsobs.telemetry._extraction import extract_context
from sqsobs.telemetry._instruments import get_instruments
from sqsobs.telemetry._propagation import inject_context
from sqsobs.telemetry._spans import (
    KINDS,
    OP_CREATE,
    OP_DELETE,
    OP_PROCESS,
    OP_RECEIVE,
    OP_SEND,
    get_tracer,
    messaging_attributes,
    metric_attributes,
    span_name,
)

_EXPORT_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.metrics._internal.export",
)


class _Counter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            self.count += 1
        return True


def report(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def record_catalog(queue: str) -> None:
    inst = get_instruments()
    extras = {
        catalog.FLUSHES.name: {"flush_reason": "size"},
        catalog.PROPAGATION_SKIPPED.name: {"propagation_reason": "no_room"},
    }
    for spec in catalog.CATALOG:
        operation = OP_SEND if catalog.ATTR_OPERATION_NAME in spec.attributes else None
        attrs = metric_attributes(spec, queue, operation=operation, **extras.get(spec.name, {}))
        if spec.kind == "counter":
            inst.counter(spec).add(3, attrs)
        elif spec.kind == "updown_counter":
            inst.updown(spec).add(2, attrs)
        elif spec.kind in ("observable_updown_counter", "observable_gauge"):
            inst.observe(spec, _READ_ALWAYS, lambda _, attrs=attrs: [(2, attrs)])
        else:
            inst.histogram(spec).record(0.3, attrs)


class _Source:
    """An owner the observable instruments read for the whole child process."""


_READ_ALWAYS = _Source()


def emit_spans(count: int, queue: str, *, log: bool = False) -> None:
    tracer = get_tracer()
    for index in range(count):
        with tracer.start_as_current_span(
            span_name(OP_SEND, queue),
            kind=KINDS[OP_SEND],
            attributes=messaging_attributes(OP_SEND, queue, batch_count=1),
        ):
            if log and index == 0:
                logging.getLogger("child").warning("inside the first span")


def _turns(spec: dict[str, Any]) -> Iterator[int]:
    """Repeat numbers: ``repeats`` of them, or one per "go" line on stdin when ``stepped``."""
    if not spec.get("stepped"):
        yield from range(int(spec["repeats"]))
        return
    turn = 0
    while sys.stdin.readline().strip() == "go":
        yield turn
        turn += 1


def workload(spec: dict[str, Any]) -> None:
    import boto3

    client = boto3.client("sqs", endpoint_url=spec["endpoint_url"], region_name="us-east-1")
    queue_url, total = spec["queue_url"], int(spec["messages"])
    queue = queue_url.rsplit("/", 1)[-1]
    inst, tracer = get_instruments(), get_tracer()
    for _ in _turns(spec):
        started = time.perf_counter()
        for first in range(0, total, 10):
            entries: list[Any] = []
            for index in range(first, min(first + 10, total)):
                with tracer.start_as_current_span(
                    span_name(OP_CREATE, queue), kind=KINDS[OP_CREATE]
                ):
                    attributes: dict[str, Any] = {}
                    inject_context(attributes, destination=queue)
                entries.append(
                    {"Id": str(index), "MessageBody": f"m{index}", "MessageAttributes": attributes}
                )
            with tracer.start_as_current_span(
                span_name(OP_SEND, queue),
                kind=KINDS[OP_SEND],
                attributes=messaging_attributes(OP_SEND, queue, batch_count=len(entries)),
            ):
                client.send_message_batch(QueueUrl=queue_url, Entries=entries)
            sent = metric_attributes(catalog.SENT_MESSAGES, queue, operation=OP_SEND)
            inst.counter(catalog.SENT_MESSAGES).add(len(entries), sent)
        received, give_up = 0, time.monotonic() + 60
        while received < total and time.monotonic() < give_up:
            with tracer.start_as_current_span(span_name(OP_RECEIVE, queue), kind=KINDS[OP_RECEIVE]):
                messages = client.receive_message(
                    QueueUrl=queue_url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=1,
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            for message in messages:
                parent = extract_context(message, destination=queue)
                with tracer.start_as_current_span(
                    span_name(OP_PROCESS, queue), context=parent, kind=KINDS[OP_PROCESS]
                ):
                    attrs = metric_attributes(catalog.PROCESS_DURATION, queue, operation=OP_PROCESS)
                    inst.histogram(catalog.PROCESS_DURATION).record(0.001, attrs)
            if messages:
                with tracer.start_as_current_span(span_name(OP_DELETE, queue)):
                    client.delete_message_batch(
                        QueueUrl=queue_url,
                        Entries=[
                            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                            for i, m in enumerate(messages)
                        ],
                    )
            received += len(messages)
        report(timing=time.perf_counter() - started, delivered=received)


def library_workload(spec: dict[str, Any]) -> None:
    import boto3

    from sqsobs.listener import Listener
    from sqsobs.producer import BatchProducer

    def client() -> Any:
        return boto3.client("sqs", endpoint_url=spec["endpoint_url"], region_name="us-east-1")

    queue_url, total = spec["queue_url"], int(spec["messages"])
    handled: list[int] = [0]
    deleted: list[int] = [0]  # entries the server confirmed deleted

    def count_deletes(parsed: dict[str, Any], **_: Any) -> None:
        deleted[0] += len(parsed.get("Successful") or [])

    def handle(message: Any) -> bool:
        handled[0] += 1
        return True

    listener_client = client()
    listener_client.meta.events.register("after-call.sqs.DeleteMessageBatch", count_deletes)
    listener = Listener(
        handle,
        queue_url=queue_url,
        mode="per_message",
        worker_threads=4,
        wait_time=1,
        idle_sleep_max=0.0,
        visibility_secs=30,
        client=listener_client,
    )
    with BatchProducer(client(), default_batch_interval=0.02) as producer, listener:
        for _ in _turns(spec):
            started, before = time.perf_counter(), deleted[0]
            futures = [producer.send(queue_url, f"m{i}") for i in range(total)]
            for future in futures:
                future.result(timeout=60)
            give_up = time.monotonic() + 60
            while deleted[0] - before < total and time.monotonic() < give_up:
                time.sleep(0.005)
            report(timing=time.perf_counter() - started, delivered=deleted[0] - before)


def main() -> None:
    spec: dict[str, Any] = json.loads(sys.argv[1])
    counter = _Counter()
    if spec.get("count_export_logs"):
        for name in _EXPORT_LOGGERS:
            logging.getLogger(name).addFilter(counter)
    if spec.get("app_logging"):
        logging.basicConfig(format=spec["app_logging"], level=logging.INFO)
    telemetry = None
    if "configure" in spec:
        telemetry = sqsobs.configure_telemetry(**spec["configure"])
        info: dict[str, Any] = {
            "prometheus_url": telemetry.prometheus_url,
            "service_name": telemetry.service_name,
            "otlp_endpoint": telemetry.otlp_endpoint,
            "otlp_protocol": telemetry.otlp_protocol,
            "sampler": (
                telemetry.tracer_provider.sampler.get_description()
                if telemetry.tracer_provider is not None
                else None
            ),
            "resource": (
                {k: str(v) for k, v in telemetry.tracer_provider.resource.attributes.items()}
                if telemetry.tracer_provider is not None
                else None
            ),
        }
        if spec.get("configure_twice"):
            info["same_handle"] = sqsobs.configure_telemetry(**spec["configure"]) is telemetry
        report(**info)
    if spec.get("inject_probe"):
        from opentelemetry import baggage
        from opentelemetry import context as otel_context

        token = otel_context.attach(baggage.set_baggage("tenant", "acme"))
        try:
            with get_tracer().start_as_current_span("probe"):
                attributes: dict[str, Any] = {}
                inject_context(attributes, destination="probe")
        finally:
            otel_context.detach(token)
        report(injected=sorted(attributes))
    if spec.get("record"):
        record_catalog(str(spec["record"]))
    if spec.get("spans"):
        emit_spans(int(spec["spans"]), "child-queue", log=True)
    if spec.get("span_attributes"):
        get_tracer().start_span("attributes", attributes=spec["span_attributes"]).end()
    if spec.get("workload"):
        workload(spec["workload"])
    if spec.get("library_workload"):
        library_workload(spec["library_workload"])
    deadline = time.monotonic() + float(spec.get("busy_seconds", 0))
    while time.monotonic() < deadline:
        emit_spans(50, "busy-queue")
        record_catalog("busy-queue")
        time.sleep(0.01)
    if spec.get("hold"):
        report(ready=True)
        sys.stdin.readline()
    if telemetry is not None and spec.get("flush"):
        started = time.monotonic()
        flushed = telemetry.force_flush(timeout_seconds=float(spec["flush"]))
        report(flushed=flushed, flush_seconds=time.monotonic() - started)
    if telemetry is not None:
        started = time.monotonic()
        first = telemetry.shutdown(timeout_seconds=float(spec.get("shutdown_timeout", 5.0)))
        first_seconds = time.monotonic() - started
        second = telemetry.shutdown()
        report(
            shutdown=first,
            shutdown_seconds=first_seconds,
            second_shutdown=second,
            second_seconds=time.monotonic() - started - first_seconds,
            raw_export_warnings=counter.count,
        )


if __name__ == "__main__":
    main()
