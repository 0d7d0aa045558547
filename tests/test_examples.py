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

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(
    script: str,
    sqs_server: Any,
    *args: str,
    seconds: float = 4.0,
    timeout: float = 60.0,
    queue: str | None = None,
    **extra_env: str,
) -> str:
    """Run ``examples/<script>`` against the test server; return its output (exit 0 asserted)."""
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
        [sys.executable, str(EXAMPLES / script), *args],
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
