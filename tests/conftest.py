"""The test harness: a real SQS-compatible server over HTTP on loopback.

By default a patched moto server (:class:`sqsobs.testing.EmbeddedSQS`) runs as its own process
for the whole session and is stopped by its PID at the end. Set ``SQSOBS_TEST_SQS_ENDPOINT`` to
run the same tests against another server (ElasticMQ, LocalStack); ``sqs_server.kind`` says which
one it is (:mod:`tests.servers`, with every documented deviation a test adapts to).
Integration tests never mock boto3.

The modules in :data:`SECOND_SERVER_MODULES` carry the ``second_server`` marker: CI runs them a
second time against LocalStack (``pytest -m second_server``, see ``.ci/run``).

``SQSOBS_TEST_TRANSPORT=lean`` runs the suite on the lean transport: every client the fixtures
build is wrapped (``sqsobs._transport.LeanSQSClient``) and ``SQSOBS_TRANSPORT=lean`` makes every
client the library builds or is given lean too (child processes inherit it).
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config

from sqsobs._transport import TRANSPORTS, with_transport
from sqsobs.testing import EmbeddedSQS
from tests.servers import MOTO, detect_kind

#: tests.watchdog: where a run that hangs hangs, when .ci/bounded.py asks (it sets the directory).
pytest_plugins = ["tests.watchdog"]

# Dummy credentials: the test servers accept any, and no real AWS account must ever be reached.
for _key, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[_key] = _value
os.environ.pop("AWS_PROFILE", None)

REGION = "us-east-1"

#: What CI runs against its second server: producer, listener, prefetch, FIFO, bad input, the
#: README's and the seeds' examples, the server conformance checks, FakeSQS's agreement with a
#: real server, trace context (SNS too) and large payloads (LocalStack's S3).
SECOND_SERVER_MODULES = frozenset(
    {
        "test_server_conformance.py",
        "test_harness.py",
        "test_producer.py",
        "test_producer_lifecycle.py",
        "test_docs_examples.py",
        "test_listener.py",
        "test_listener_behaviour.py",
        "test_listener_lifecycle.py",
        "test_bad_input_producer.py",
        "test_bad_input_consumer.py",
        "test_seed_producer.py",
        "test_seed_listener.py",
        "test_listener_prefetch.py",
        "test_testing_agreement.py",
        "test_trace_context.py",
        "test_large_payloads.py",
        "test_large_payloads_interop.py",
    }
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "second_server: CI runs it again against LocalStack (tests/conftest.py)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in SECOND_SERVER_MODULES:
            item.add_marker(pytest.mark.second_server)


#: The transport of the clients the fixtures build (and, for "lean", of the library's too).
TRANSPORT = os.environ.get("SQSOBS_TEST_TRANSPORT", "boto3")
if TRANSPORT not in TRANSPORTS:
    raise RuntimeError(f"SQSOBS_TEST_TRANSPORT must be one of {TRANSPORTS}, got {TRANSPORT!r}")
if TRANSPORT == "lean":
    os.environ["SQSOBS_TRANSPORT"] = "lean"


@dataclass
class SqsServer:
    """The server the suite talks to. ``pid`` is None for an external endpoint.

    ``kind`` is ``moto``, ``localstack`` or ``other`` (:func:`tests.servers.detect_kind`).
    """

    endpoint_url: str
    pid: int | None
    kind: str


_servers_used: list[SqsServer] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for server in _servers_used:
        terminalreporter.write_line(f"SQS server: {server.kind} at {server.endpoint_url}")


@pytest.fixture(scope="session")
def sqs_server() -> Iterator[SqsServer]:
    """Start (or point at) the SQS server for the whole session."""
    external = os.environ.get("SQSOBS_TEST_SQS_ENDPOINT")
    if external:
        _servers_used.append(SqsServer(external, None, detect_kind(external)))
        yield _servers_used[-1]
        return
    server = EmbeddedSQS().start()
    try:
        _servers_used.append(SqsServer(server.endpoint_url, server.pid, MOTO))
        yield _servers_used[-1]
    finally:
        server.stop()


ClientFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def make_client(sqs_server: SqsServer) -> ClientFactory:
    """Build a new, independent boto3 SQS client bound to the test server (maybe lean)."""

    def factory(*, endpoint_url: str | None = None, **config: Any) -> Any:
        """``endpoint_url`` overrides the server (a fault proxy); the rest is botocore Config."""
        # No botocore retries: the code under test sees (and must handle) every fault itself.
        settings = {"retries": {"total_max_attempts": 1}, "max_pool_connections": 20}
        settings.update(config)
        client = boto3.session.Session().client(
            "sqs",
            endpoint_url=endpoint_url or sqs_server.endpoint_url,
            region_name=REGION,
            config=Config(**settings),
        )
        return with_transport(client, TRANSPORT)

    return factory


@pytest.fixture(scope="session")
def sqs_client(make_client: ClientFactory) -> Any:
    """One shared boto3 SQS client for the session."""
    return make_client()


@pytest.fixture
def queue_name(request: pytest.FixtureRequest) -> str:
    """A queue name unique to this test (and this run)."""
    stem = re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name)[:50]
    return f"t-{stem}-{uuid.uuid4().hex[:8]}"


QueueFactory = Callable[..., str]


@pytest.fixture
def make_queue(sqs_client: Any, queue_name: str) -> Iterator[QueueFactory]:
    """Create queues for this test: ``make_queue(suffix="", fifo=False, **attributes) -> url``."""
    created: list[str] = []

    def factory(suffix: str = "", *, fifo: bool = False, **attributes: Any) -> str:
        name = f"{queue_name}{suffix}"[:75] + (".fifo" if fifo else "")
        attrs = {key: str(value) for key, value in attributes.items()}
        if fifo:
            attrs["FifoQueue"] = "true"
        url: str = sqs_client.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        created.append(url)
        return url

    yield factory
    for url in created:
        # Cleanup must not mask the test's own result.
        with contextlib.suppress(Exception):
            sqs_client.delete_queue(QueueUrl=url)


@pytest.fixture
def queue_url(make_queue: QueueFactory) -> str:
    """A fresh standard queue for this test."""
    return make_queue()


class OtelCapture:
    """In-memory OpenTelemetry SDK for the whole test session (global providers, set once)."""

    def __init__(self) -> None:
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        trace.set_tracer_provider(self.tracer_provider)
        metrics.set_meter_provider(self.meter_provider)
        if trace.get_tracer_provider() is not self.tracer_provider:
            raise RuntimeError("a global TracerProvider was set before the test capture")

    def spans(self) -> list[Any]:
        """Finished spans since the last clear()."""
        return list(self.exporter.get_finished_spans())

    def clear(self) -> None:
        """Forget finished spans (metrics are cumulative: filter them by queue name)."""
        self.exporter.clear()

    def points(self, name: str, **attributes: Any) -> list[Any]:
        """Data points of metric ``name`` whose attributes include ``attributes``.

        Keys with dots go in a dict: ``points("x", **{"messaging.destination.name": q})``.
        """
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        for resource_metrics in data.resource_metrics if data else []:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        if all(point.attributes.get(k) == v for k, v in attributes.items()):
                            found.append(point)
        return found

    def total(self, name: str, **attributes: Any) -> float:
        """Sum of counter values (or histogram counts) of matching points."""
        return sum(
            getattr(p, "value", None) or getattr(p, "count", 0)
            for p in self.points(name, **attributes)
        )


_otel_capture: OtelCapture | None = None


@pytest.fixture
def otel() -> OtelCapture:
    """The session's in-memory OpenTelemetry SDK, with finished spans cleared for this test.

    Global providers can be set only once per process, so configure_telemetry() itself is
    tested in subprocesses.
    """
    global _otel_capture  # noqa: PLW0603 - one SDK per process, by OpenTelemetry's design
    if _otel_capture is None:
        _otel_capture = OtelCapture()
    _otel_capture.clear()
    return _otel_capture


# --- S3 (large messages): moto serves it on the SQS endpoint --------------------------------
@pytest.fixture(scope="session")
def s3_client(sqs_server: SqsServer) -> Any:
    """A boto3 S3 client on the test server (moto serves S3 on the SQS endpoint)."""
    if sqs_server.kind not in ("moto", "localstack"):
        pytest.skip("the S3 tests need a server that serves S3 on its endpoint (moto, LocalStack)")
    return boto3.session.Session().client(
        "s3", endpoint_url=sqs_server.endpoint_url, region_name=REGION
    )


@pytest.fixture
def s3_bucket(s3_client: Any) -> Iterator[str]:
    """A fresh bucket, emptied and removed afterwards."""
    name = f"sqsobs-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    yield name
    for item in s3_client.list_objects_v2(Bucket=name).get("Contents", []):
        s3_client.delete_object(Bucket=name, Key=item["Key"])
    s3_client.delete_bucket(Bucket=name)
