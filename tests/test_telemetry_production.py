"""The production profile: ``configure_telemetry(trace_sample_ratio=0.1)`` with metrics on.

One process (configure_telemetry() sets global providers, so a child) sends messages through
a ``BatchProducer`` and handles them with a per-message ``Listener``, exporting to a loopback
OTLP receiver: about one message in ten is traced, end to end (the listener follows the
producer's decision), and every message is still counted.
"""

from __future__ import annotations

from typing import Any

from sqsobs.telemetry.catalog import CONSUMED_MESSAGES, SENT_MESSAGES
from tests.test_telemetry_setup import _metrics, _spans, merged, run_child, serving_receiver

MESSAGES = 300


def _total(metric: Any, queue: str) -> float:
    total = 0.0
    for point in metric.sum.data_points:
        attributes = {kv.key: kv.value.string_value for kv in point.attributes}
        if attributes.get("messaging.destination.name") == queue and "error.type" not in attributes:
            total += point.as_int or point.as_double
    return total


def test_production_profile_traces_one_message_in_ten_and_counts_every_one(
    sqs_server: Any, make_queue: Any
) -> None:
    queue_url = make_queue()
    queue = queue_url.rsplit("/", 1)[-1]
    with serving_receiver() as receiver:
        reports, stderr = run_child(
            {
                "configure": {
                    "service_name": "production-profile",
                    "otlp_endpoint": f"http://127.0.0.1:{receiver.server_port}",
                    "otlp_protocol": "http/protobuf",
                    "prometheus_port": None,
                    "trace_sample_ratio": 0.1,
                    "metric_export_interval_seconds": 0.5,
                },
                "library_workload": {
                    "endpoint_url": sqs_server.endpoint_url,
                    "queue_url": queue_url,
                    "messages": MESSAGES,
                    "repeats": 1,
                },
                "flush": 10,
            },
            timeout=120,
        )
        traces = _spans(receiver.bodies.get("/v1/traces", []))
        metrics = _metrics(receiver.bodies.get("/v1/metrics", []))
    result = merged(reports)
    assert result["sampler"].startswith("ParentBased"), result["sampler"]
    assert "TraceIdRatioBased{0.1}" in result["sampler"]
    assert result["delivered"] == MESSAGES, stderr
    spans = [span for _, span in traces]
    creates = {s.span_id for s in spans if s.name == f"create {queue}"}
    processes = [s for s in spans if s.name == f"process {queue}"]
    # Each message is its own root: about 30 of 300 are traced (binomial, sd ~5).
    assert 8 <= len(creates) <= 75, len(creates)
    # Parent-based: a message is processed in a recorded span exactly when it was created in one.
    assert sorted(s.parent_span_id for s in processes) == sorted(creates)
    # Metrics are not sampled: every message sent and received is counted.
    assert _total(metrics[SENT_MESSAGES.name], queue) == MESSAGES
    assert _total(metrics[CONSUMED_MESSAGES.name], queue) == MESSAGES
