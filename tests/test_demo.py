"""``sqsobs demo``: the README's first command, run for real in subprocesses."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from types import SimpleNamespace
from typing import Any

import pytest

from sqsobs import cli
from sqsobs.cli import _demo as demo
from sqsobs.cli._demo_options import DemoResult
from sqsobs.cli._demo_report import percentile, report
from sqsobs.cli._demo_trace import render_trace


def demo_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "OTEL_"))}
    env.update(extra)
    return env


def run(*args: str, env: dict[str, str], timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sqsobs", "demo", "--prometheus-port", "0", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_demo_against_an_endpoint(sqs_server: Any) -> None:
    result = run("--messages", "300", "--endpoint-url", sqs_server.endpoint_url, env=demo_env())
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert f"SQS at {sqs_server.endpoint_url}" in out
    assert re.search(r"in +300 sent in [\d.]+ s \([\d,]+ msg/s", out), out
    assert re.search(r"out +300 handled in [\d.]+ s \([\d,]+ msg/s", out), out
    calls = int(re.search(r"SQS calls +([\d,]+) ", out).group(1).replace(",", ""))  # type: ignore[union-attr]
    # Batching: far fewer calls than one per message per step (send, receive, delete).
    assert 0 < calls < 300
    assert "SendMessageBatch" in out and "ReceiveMessage" in out and "DeleteMessageBatch" in out
    # Messages 1-5 carry 300 KB each: at least one batch went over 1 MiB and was split.
    splits = int(re.search(r"batch splits (\d+)", out).group(1))  # type: ignore[union-attr]
    assert splits >= 1
    assert re.search(r"send -> handle +p50 [\d,]+ ms +p99 [\d,]+ ms", out), out
    # One sample trace: the request, its create, flush/send and the listener's process span.
    trace_id = re.search(r"trace ([0-9a-f]{32})", out).group(1)  # type: ignore[union-attr]
    for name in (
        "demo request",
        "create sqsobs-demo-",
        "send sqsobs-demo-",
        "process sqsobs-demo-",
    ):
        assert name in out, name
    assert re.search(r"receive sqsobs-demo-\S+: links to this trace", out), out
    assert re.search(r"delete sqsobs-demo-\S+: links to this trace", out), out
    assert trace_id != "0" * 32
    assert re.search(r"metrics +http://127\.0\.0\.1:\d+/metrics", out), out
    assert "OK: every message was handled" in out


def test_demo_starts_an_embedded_sqs_without_an_endpoint() -> None:
    pytest.importorskip("moto")
    result = run("--messages", "50", env=demo_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "starting an embedded SQS" in result.stdout
    assert "(embedded, stopped at the end)" in result.stdout
    assert "OK: every message was handled" in result.stdout


#: ``python -m sqsobs`` started as a script's ``&`` job would be: SIGINT ignored on entry.
SIGINT_IGNORED_ON_ENTRY = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "runpy.run_module('sqsobs', run_name='__main__')"
)


def test_keep_serving_keeps_the_metrics_endpoint_up(sqs_server: Any) -> None:
    # Ctrl-C (SIGINT) stops it as SIGTERM does, as for `sqsobs listen`, whatever the
    # disposition it inherited (CI started from a background job passed SIGINT ignored down).
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SIGINT_IGNORED_ON_ENTRY,
            "demo",
            "-n",
            "30",
            "--prometheus-port",
            "0",
            "--endpoint-url",
            sqs_server.endpoint_url,
            "--keep-serving",
        ],
        env=demo_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            found = re.search(r"serving Prometheus metrics at (\S+);", line)
            url = found.group(1) if found else None
        assert url, "the demo did not say where it serves its metrics"
        with urllib.request.urlopen(url, timeout=5) as answer:
            text = answer.read().decode()
        assert "messaging_client_sent_messages_total" in text
        assert "sqsobs_listener_deletes_total" in text
        os.kill(process.pid, signal.SIGINT)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_exit_code_is_1_when_a_message_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    results = iter([DemoResult(messages=3, handled=2), DemoResult(messages=3, handled=3)])
    monkeypatch.setattr(demo, "run_demo", lambda options: next(results))
    assert cli.main(["demo", "-n", "3"]) == 1
    assert cli.main(["demo", "-n", "3"]) == 0


def test_report_counts_calls_against_one_per_message() -> None:
    result = DemoResult(messages=100, sent=100, handled=100, send_seconds=2.0, handle_seconds=4.0)
    result.calls.update(SendMessageBatch=10, ReceiveMessage=12, DeleteMessageBatch=10)
    result.latencies = [0.1] * 98 + [2.0, 3.0]
    out = io.StringIO()
    report(result, out)
    text = out.getvalue()
    assert "in    100 sent in 2.0 s (50 msg/s" in text
    assert "out   100 handled in 4.0 s (25 msg/s" in text
    assert "SQS calls   32 (0.32 per message; one call per message per step would be 300)" in text
    assert "p50 100 ms   p99 2,000 ms" in text
    assert "OK: every message was handled" in text


def test_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([], 0.5) == 0.0


def span(
    name: str, trace_id: int, span_id: int, *, parent: int | None, start: int, links: Any = ()
) -> Any:
    return SimpleNamespace(
        name=name,
        context=SimpleNamespace(trace_id=trace_id, span_id=span_id),
        parent=SimpleNamespace(span_id=parent) if parent else None,
        start_time=start,
        end_time=start + 2_000_000,
        links=[SimpleNamespace(context=SimpleNamespace(trace_id=t)) for t in links],
    )


def test_render_trace_draws_parents_and_links() -> None:
    spans = [
        span("process q", 7, 4, parent=2, start=40),
        span("create q", 7, 2, parent=1, start=20),
        span("request", 7, 1, parent=None, start=10),
        span("send q", 7, 3, parent=2, start=30),
        span("receive q", 9, 5, parent=None, start=35, links=[7]),
    ]
    lines = render_trace(spans, 7)
    assert lines == [
        f"trace {7:032x}",
        "└─ request  2.0 ms",
        "   └─ create q  2.0 ms",
        "      ├─ send q  2.0 ms",
        "      └─ process q  2.0 ms",
        f"   ↳ receive q: links to this trace (own trace {9:032x})",
    ]
