"""A consumer in another language joins the producer's trace: a Node app with the OpenTelemetry
JS SDK and its AWS SDK instrumentation (``tests/node_consumer``) receives what BatchProducer
sent, through W3C ``traceparent`` and, when the user's 10 attributes leave no room, through
``AWSTraceHeader`` read by ``@opentelemetry/propagator-aws-xray``.

Needs Node 20+ and npm; the app's packages are installed with ``npm ci`` in
``tests/node_consumer`` (done here when missing). Without node or npm the test is skipped, and
fails when CI is set.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sqsobs import BatchProducer
from sqsobs.telemetry._spans import get_tracer
from tests.conftest import SqsServer
from tests.helpers import require_binary

APP = Path(__file__).resolve().parent / "node_consumer"


@pytest.fixture(scope="module")
def node_app() -> Path:
    """The Node app with its packages installed, or a skip saying what is missing."""
    require_binary("node")
    npm = require_binary("npm")
    if not (APP / "node_modules").is_dir():
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=APP,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if installed.returncode != 0:
            failed = f"`npm ci` in tests/node_consumer failed: {installed.stderr[-400:]}"
            if os.environ.get("CI"):
                pytest.fail(failed)
            pytest.skip(failed)
    return APP


def user_attributes(count: int) -> dict[str, Any]:
    return {f"user{i}": {"DataType": "String", "StringValue": f"v{i}"} for i in range(count)}


Consumer = Callable[[str, int], list[dict[str, Any]]]


@pytest.fixture
def node_consumer(node_app: Path, sqs_server: SqsServer) -> Consumer:
    """Run the Node consumer on a queue until it handled ``count`` messages; its spans."""

    def run(queue_url: str, count: int) -> list[dict[str, Any]]:
        result = subprocess.run(
            ["node", str(node_app / "consumer.js"), queue_url, str(count)],
            env={**os.environ, "AWS_ENDPOINT_URL": sqs_server.endpoint_url},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]

    return run


@pytest.mark.parametrize("carrier", ["traceparent", "AWSTraceHeader"])
def test_a_node_consumer_lands_in_the_producers_trace(
    node_consumer: Consumer, make_client: Any, queue_url: str, otel: Any, carrier: str
) -> None:
    # The documented setup: BatchProducer's defaults; 10 user attributes leave no room for
    # traceparent, so only AWSTraceHeader carries the context.
    attributes = user_attributes(10) if carrier == "AWSTraceHeader" else None
    with (
        BatchProducer(make_client(), flush_at_exit=False) as producer,
        get_tracer().start_as_current_span("request") as request,
    ):
        futures = [producer.send(queue_url, f"m{i}", attributes=attributes) for i in range(3)]
    assert all(future.result(10) for future in futures)
    trace_id = f"{request.get_span_context().trace_id:032x}"
    queue_name = queue_url.rsplit("/", 1)[-1]
    creates = {
        f"{span.context.span_id:016x}"
        for span in otel.spans()
        if span.name == f"create {queue_name}"
    }
    assert len(creates) == 3

    spans = node_consumer(queue_url, 3)
    processes = [span for span in spans if span["name"] == f"process {queue_name}"]
    assert len(processes) == 3
    assert {span["traceId"] for span in processes} == {trace_id}
    assert {span["parentSpanId"] for span in processes} == creates
    # The JS instrumentation's own receive span links each message's context it finds in the
    # message attributes (it does not read AWSTraceHeader).
    receives = [span for span in spans if span["name"] == f"{queue_name} receive"]
    assert receives
    linked = {link["spanId"] for span in receives for link in span["links"]}
    assert linked == (creates if carrier == "traceparent" else set())
