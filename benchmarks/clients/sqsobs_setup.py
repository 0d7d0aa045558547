"""sqsobs in a client process: its telemetry profile, its transport and its broker.

``config["telemetry"]``: "on" is what an application gets from
:func:`sqsobs.configure_telemetry` with every span sampled and metrics exported every second,
sent over OTLP/HTTP to the null SQS process (which accepts and counts OTLP), so the run pays the
real cost of building and exporting telemetry. "production" is the same with parent-based 10 %
trace sampling (issue 15's production profile). "off" configures no SDK: the OpenTelemetry
API's no-op providers.

``config["transport"]``: "boto3" (default) or "lean", the ``transport`` setting of the producer,
the broker and the listener.

``SQSOBS_BENCH_OTLP_ENCODER=in-place`` (an experiment): the OTLP/HTTP span exporter encodes with
:func:`benchmarks.otlp_encoding.encode_in_place` (the same bytes) instead of its own encoder.
"""

from __future__ import annotations

from typing import Any

from benchmarks.clients.common import Run

#: Trace sampling ratio of each telemetry profile that configures the SDK.
SAMPLE_RATIOS = {"on": 1.0, "production": 0.1}


def transport(run: Run) -> str:
    """The run's ``transport`` setting."""
    return str(run.config.get("transport", "boto3"))


def configure(run: Run) -> Any:
    """Configure telemetry as the run's config says; return the handle (None when off)."""
    ratio = SAMPLE_RATIOS.get(run.config.get("telemetry", "off"))
    if ratio is None:
        return None
    import os

    import sqsobs

    # A span queue that never overflows: "fully on" must export (and pay for) every span. With
    # the SDK's default 2,048 a fast producer drops spans and its figures look better than they are.
    os.environ.setdefault("OTEL_BSP_MAX_QUEUE_SIZE", "262144")
    if os.environ.get("SQSOBS_BENCH_OTLP_ENCODER") == "in-place":
        # An experiment (benchmarks/otlp_encoding.py): the same bytes, built in place.
        import opentelemetry.exporter.otlp.proto.http.trace_exporter as http_exporter

        from benchmarks.otlp_encoding import encode_in_place

        http_exporter.encode_spans = encode_in_place  # type: ignore[assignment]
    return sqsobs.configure_telemetry(
        "sqsobs-bench",
        otlp_endpoint=run.config["otlp_endpoint"],
        otlp_protocol="http/protobuf",
        prometheus_port=None,
        trace_sample_ratio=ratio,
        metric_export_interval_seconds=1.0,
    )


def flush(telemetry: Any) -> None:
    """Export what is still buffered (part of the measured phase: it is the run's own cost)."""
    if telemetry is not None:
        telemetry.force_flush(timeout_seconds=30.0)


def sqs_client(run: Run, pool: int = 10) -> Any:
    """A boto3 SQS client for the run's endpoint, configured as sqsobs' own clients are."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=pool)
    return boto3.session.Session().client("sqs", config=config, **run.client_kwargs())


def make_sqsobs_broker(run: Run) -> tuple[Any, Any]:
    """sqsobs' BatchSQSBroker with telemetry as configured, and what delivers its buffers."""
    telemetry = configure(run)
    from sqsobs.dramatiq import BatchSQSBroker

    broker = BatchSQSBroker(**run.client_kwargs(), transport=transport(run))

    def deliver() -> None:
        broker.close()
        flush(telemetry)

    return broker, deliver
