"""Where configure_telemetry()'s metrics go, and that every series names its process.

One metrics path by default (OTLP, the OpenTelemetry default; Prometheus when asked for), so a
setup where both would end in one Prometheus cannot count everything twice unless the
application lists both in ``OTEL_METRICS_EXPORTER``. Each process carries its own
``service.instance.id``, on the OTLP resource and on every Prometheus series. Each case runs in a
child process (tests/telemetry_child.py), as in tests/test_telemetry_setup.py.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from prometheus_client.parser import text_string_to_metric_families

from tests.test_telemetry_setup import (
    _attributes,
    _metrics,
    _Receiver,
    _spans,
    merged,
    run_child,
    serving_receiver,
    spawn_child,
)

INSTANCE = "service.instance.id"


@pytest.fixture
def otlp_receiver() -> Iterator[_Receiver]:
    with serving_receiver() as server:
        yield server


class HeldChild:
    """A child that configured telemetry, recorded the catalog and waits to be scraped."""

    def __init__(self, configure: dict[str, Any], env: dict[str, str]) -> None:
        spec = {"configure": configure, "record": "paths-queue", "spans": 1, "hold": True}
        self.proc = spawn_child(spec, env)
        assert self.proc.stdout is not None
        self.info: dict[str, Any] = json.loads(self.proc.stdout.readline())
        assert json.loads(self.proc.stdout.readline()) == {"ready": True}

    def scrape(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.info["prometheus_url"], timeout=10) as response:
            text = response.read().decode()
        return {family.name: family for family in text_string_to_metric_families(text)}

    def finish(self) -> None:
        _, err = self.proc.communicate("\n", timeout=60)
        assert self.proc.returncode == 0, err


def http_to(receiver: _Receiver, **configure: Any) -> dict[str, Any]:
    """configure_telemetry() arguments: OTLP/HTTP to ``receiver``, metrics every 0.2 s."""
    return {
        "otlp_endpoint": f"http://127.0.0.1:{receiver.server_port}",
        "otlp_protocol": "http/protobuf",
        "metric_export_interval_seconds": 0.2,
        **configure,
    }


def test_by_default_metrics_go_to_otlp_only(otlp_receiver: _Receiver) -> None:
    reports, _ = run_child(
        {
            "configure": http_to(otlp_receiver),
            "record": "default-queue",
            "flush": 10,
        }
    )
    assert merged(reports)["prometheus_url"] is None  # no second path to the same Prometheus
    assert "messaging.client.sent.messages" in _metrics(otlp_receiver.bodies["/v1/metrics"])


def test_a_prometheus_port_alone_means_prometheus_only(otlp_receiver: _Receiver) -> None:
    reports, _ = run_child(
        {
            "configure": http_to(otlp_receiver, prometheus_port=0),
            "record": "port-queue",
            "spans": 1,
            "busy_seconds": 0.5,
            "flush": 10,
        }
    )
    assert merged(reports)["prometheus_url"].startswith("http://127.0.0.1:")
    assert _spans(otlp_receiver.bodies["/v1/traces"])  # traces still go to OTLP
    assert "/v1/metrics" not in otlp_receiver.bodies  # metrics only once: on the endpoint


def test_both_paths_when_listed_and_every_series_names_its_process(
    otlp_receiver: _Receiver,
) -> None:
    endpoint = f"http://127.0.0.1:{otlp_receiver.server_port}"
    env = {
        "OTEL_METRICS_EXPORTER": "otlp,prometheus",
        "OTEL_EXPORTER_PROMETHEUS_PORT": "0",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }
    children = {
        name: HeldChild({"service_name": name, "metric_export_interval_seconds": 0.2}, env)
        for name in ("paths-a", "paths-b")
    }
    scraped: dict[str, str] = {}
    try:
        for name, child in children.items():
            families = child.scrape()
            (info,) = families["target_info"].samples
            assert info.labels["service_name"] == name
            instance = info.labels["service_instance_id"]
            series = [
                sample
                for family in families.values()
                if family.name.startswith(("sqsobs_", "messaging_"))
                for sample in family.samples
            ]
            assert len(series) > 50
            # On every series, not only on target_info: a sum over processes stays a sum.
            assert {s.labels.get("service_instance_id") for s in series} == {instance}
            scraped[name] = instance
    finally:
        for child in children.values():
            child.finish()
    assert len(set(scraped.values())) == 2  # unique per process
    exported = {}
    for body in otlp_receiver.bodies["/v1/metrics"]:
        for resource_metrics in ExportMetricsServiceRequest.FromString(body).resource_metrics:
            attributes = _attributes(resource_metrics.resource.attributes)
            exported[attributes["service.name"]] = attributes[INSTANCE]
    assert exported == scraped  # one identity per process on both paths


def test_a_given_service_instance_id_is_kept() -> None:
    reports, _ = run_child(
        {"configure": {"prometheus_port": None, "resource_attributes": {INSTANCE: "task-7"}}},
        env={"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"},
    )
    assert merged(reports)["resource"][INSTANCE] == "task-7"


def _exemplars(bodies: list[bytes]) -> dict[tuple[str, str], list[Any]]:
    """Exemplars of every histogram point, by (metric, messaging.operation.name)."""
    found: dict[tuple[str, str], list[Any]] = {}
    for body in bodies:
        for resource_metrics in ExportMetricsServiceRequest.FromString(body).resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.WhichOneof("data") != "histogram":
                        continue
                    for point in metric.histogram.data_points:
                        operation = _attributes(point.attributes).get("messaging.operation.name")
                        key = (metric.name, str(operation))
                        found.setdefault(key, []).extend(point.exemplars)
    return found


def test_duration_histograms_carry_exemplars_that_lead_to_their_spans(
    otlp_receiver: _Receiver, sqs_server: Any, make_queue: Any
) -> None:
    run_child(
        {
            "configure": http_to(otlp_receiver, logs=False),
            "library_workload": {
                "endpoint_url": sqs_server.endpoint_url,
                "queue_url": make_queue("-exemplars"),
                "messages": 30,
                "repeats": 1,
            },
            "flush": 10,
        },
        timeout=120,
    )
    spans = {span.span_id: span for _, span in _spans(otlp_receiver.bodies.get("/v1/traces", []))}
    exemplars = _exemplars(otlp_receiver.bodies.get("/v1/metrics", []))
    expected = {
        ("messaging.process.duration", "process"): "process ",
        ("messaging.client.operation.duration", "send"): "send ",
        ("messaging.client.operation.duration", "delete"): "delete ",
    }
    for key, span_prefix in expected.items():
        assert exemplars.get(key), f"no exemplar on {key}: {sorted(exemplars)}"
        for exemplar in exemplars[key]:
            assert len(exemplar.trace_id) == 16 and any(exemplar.trace_id), key
            span = spans.get(exemplar.span_id)
            assert span is not None, f"{key}: the exemplar's span was not exported"
            assert span.trace_id == exemplar.trace_id
            assert span.name.startswith(span_prefix), (key, span.name)
