"""Every example runs briefly against the test server and does what it says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.test_telemetry_setup import _spans, serving_receiver

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(
    script: str,
    sqs_server: Any,
    *args: str,
    seconds: float = 4.0,
    timeout: float = 60.0,
    queue: str | None = None,
    launcher: tuple[str, ...] = (),
    **extra_env: str,
) -> str:
    """Run ``examples/<script>`` against the test server; return its output (exit 0 asserted).

    ``launcher`` goes before the interpreter (``opentelemetry-instrument``).
    """
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": sqs_server.endpoint_url,
        "SQSOBS_QUEUE": queue or f"ex-{Path(script).stem[:20]}-{uuid.uuid4().hex[:8]}",
        "EXAMPLE_SECONDS": str(seconds),
        # No collector here: no OTLP; Prometheus on any free port.
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "prometheus",
        "OTEL_EXPORTER_PROMETHEUS_PORT": "0",
        "LOG_LEVEL": "WARNING",
        **extra_env,
    }
    result = subprocess.run(
        [*launcher, sys.executable, str(EXAMPLES / script), *args],
        cwd=EXAMPLES.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return result.stdout


def test_per_message_listener(sqs_server: Any) -> None:
    out = run_example("per_message_listener.py", sqs_server, seconds=20.0)
    # 20 orders, one failing its first delivery and handled on the second.
    assert "handled 20 messages (20 distinct)" in out


def test_batch_listener(sqs_server: Any) -> None:
    out = run_example("batch_listener.py", sqs_server, seconds=20.0)
    # 30 orders, amounts 0..29 by customer i % 3; the broken body never counts.
    assert "totals per customer: {'c0': 135, 'c1': 145, 'c2': 155}" in out


def test_web_producer_posts_orders_and_flushes_them_at_shutdown(sqs_server: Any) -> None:
    out = run_example("web_producer.py", sqs_server, seconds=20.0)
    assert "posted 25 orders, 25 on the queue" in out


def test_dramatiq_app_sends_in_batches_and_the_worker_runs_them(sqs_server: Any) -> None:
    out = run_example("dramatiq_app.py", sqs_server, seconds=30.0)
    calls = int(re.search(r"sent 50 tasks in (\d+) SendMessageBatch calls", out).group(1))  # type: ignore[union-attr]
    assert 5 <= calls < 50  # batches of up to 10, not one call per task
    assert "worker ran 50 tasks" in out


def test_large_messages_go_through_s3_and_their_objects_are_deleted(s3_client: Any) -> None:
    # s3_client: the embedded server, which serves S3 on the SQS endpoint (the `local` extra).
    sqs_server = type("Server", (), {"endpoint_url": s3_client.meta.endpoint_url})()
    bucket = f"ex-payloads-{uuid.uuid4().hex[:8]}"
    out = run_example(
        "large_messages.py", sqs_server, timeout=180.0, SQSOBS_LARGE_PAYLOAD_BUCKET=bucket
    )
    for name, size in (("doc-2mib", "2,097,152"), ("doc-5mib", "5,242,880"),
                       ("doc-10mib", "10,485,760")):  # fmt: skip
        assert f"handled {name}: {size} bytes, via S3" in out, out
    assert "handled small-1: 200 bytes, in the message" in out, out
    assert "S3 objects left after the deletes: 0" in out, out
    s3_client.delete_bucket(Bucket=bucket)  # fails unless the listener emptied it


def test_traced_pair_keeps_one_trace_per_order(sqs_server: Any) -> None:
    out = run_example("traced_pair.py", sqs_server, "both", seconds=3.0)
    found = re.search(r"sent (\d+), handled (\d+), (\d+) in the producer's trace", out)
    assert found, out
    sent, handled, same = map(int, found.groups())
    assert sent >= 10 and sent == handled == same


def test_traced_pair_services_as_in_compose(sqs_server: Any) -> None:
    queue = f"ex-pair-{uuid.uuid4().hex[:8]}"
    produced = run_example("traced_pair.py", sqs_server, "produce", seconds=1.0, queue=queue)
    sent = int(re.search(r"sent (\d+) orders", produced).group(1))  # type: ignore[union-attr]
    assert sent >= 5
    consumed = run_example(
        "traced_pair.py", sqs_server, "consume", seconds=20.0, queue=queue, EXAMPLE_ORDERS=str(sent)
    )
    assert f"handled {sent} orders" in consumed


def test_the_batch_listeners_unit_tests_pass_on_the_in_memory_queue() -> None:
    """examples/test_batch_listener.py: a user's handler tests with sqsobs.testing, no server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-p", "sqsobs.testing.pytest_plugin", str(EXAMPLES / "test_batch_listener.py")],
        cwd=EXAMPLES.parent, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout, result.stdout


def test_examples_need_no_endpoint_when_moto_is_installed() -> None:
    pytest.importorskip("moto")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.update(EXAMPLE_SECONDS="20", OTEL_SDK_DISABLED="true", LOG_LEVEL="WARNING")
    env["SQSOBS_QUEUE"] = f"ex-embedded-{uuid.uuid4().hex[:8]}"
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "batch_listener.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "embedded SQS at http://127.0.0.1:" in result.stdout
    assert "'c0': 135" in result.stdout


#: The SQS calls sqsobs traces itself: under the OTel agent they get no second (botocore) span.
OWN_CALLS = ("SendMessageBatch", "ReceiveMessage", "DeleteMessageBatch",
             "ChangeMessageVisibilityBatch")  # fmt: skip


def test_traced_pair_under_the_opentelemetry_agent(sqs_server: Any) -> None:
    """``opentelemetry-instrument`` (zero-code setup, ADOT) with botocore instrumented.

    configure_telemetry() uses the agent's providers instead of failing; each SQS call sqsobs
    makes has one client span, sqsobs' own (the agent's ``SQS.*`` span is suppressed under it);
    calls sqsobs does not trace (the example's CreateQueue) keep the agent's span.
    """
    pytest.importorskip("opentelemetry.instrumentation.botocore")
    agent = Path(sys.executable).with_name("opentelemetry-instrument")
    assert agent.is_file(), "the dev extra installs opentelemetry-distro"
    queue = f"ex-agent-{uuid.uuid4().hex[:8]}"
    with serving_receiver() as receiver:
        out = run_example(
            "traced_pair.py",
            sqs_server,
            "both",
            seconds=3.0,
            queue=queue,
            launcher=(str(agent),),
            OTEL_SERVICE_NAME="agent-pair",
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_METRICS_EXPORTER="none",
            OTEL_LOGS_EXPORTER="none",
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{receiver.server_port}",
            OTEL_BSP_SCHEDULE_DELAY="100",
            LOG_LEVEL="INFO",
        )
        spans = [span for _, span in _spans(receiver.bodies.get("/v1/traces", []))]
    found = re.search(r"sent (\d+), handled (\d+), (\d+) in the producer's trace", out)
    assert found, out
    sent, handled, same = map(int, found.groups())
    assert sent >= 10 and sent == handled == same
    names = {span.name for span in spans}
    assert "SQS.CreateQueue" in names, names  # the agent's botocore instrumentation is on
    assert not {f"SQS.{call}" for call in OWN_CALLS} & names, names
    for operation in ("create", "send", "receive", "process", "delete"):
        assert f"{operation} {queue}" in names, (operation, names)
    by_id = {span.span_id: span for span in spans}
    processed = [s for s in spans if s.name == f"process {queue}"]
    parents = {by_id[s.parent_span_id].name for s in processed if s.parent_span_id in by_id}
    assert parents == {f"create {queue}"}  # one trace from the producer to the handler
    # Children of sqsobs' client spans: none (no second span for the same call).
    clients = {s.span_id for s in spans if s.name.split(" ")[0] in ("send", "receive", "delete")}
    assert not [s.name for s in spans if s.parent_span_id in clients]
