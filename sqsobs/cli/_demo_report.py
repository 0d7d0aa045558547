"""The demo's report: rates in and out, SQS calls against one per message, latency, trace.

Example::

    result = DemoResult(messages=100, sent=100, handled=100, send_seconds=2.0)
    report(result, sys.stdout)
"""

from __future__ import annotations

import math
from typing import TextIO

from sqsobs.cli._demo_options import DemoResult

__all__ = ["percentile", "report"]

_NAIVE_CALLS_PER_MESSAGE = 3  # SendMessage, ReceiveMessage, DeleteMessage


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by nearest rank; 0.0 when there are none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} msg/s" if seconds > 0 else "-"


def report(result: DemoResult, out: TextIO) -> None:
    """Print the demo's report."""
    total_calls = sum(result.calls.values())
    naive = _NAIVE_CALLS_PER_MESSAGE * result.messages
    by_call = " · ".join(f"{name} {n:,}" for name, n in sorted(result.calls.items()))
    p50, p99 = percentile(result.latencies, 0.5), percentile(result.latencies, 0.99)
    lines = [
        "",
        f"sqsobs demo: {result.messages:,} messages, SQS at {result.endpoint}",
        f"  in    {result.sent:,} sent in {result.send_seconds:.1f} s"
        f" ({_rate(result.sent, result.send_seconds)}, BatchProducer)",
        f"  out   {result.handled:,} handled in {result.handle_seconds:.1f} s"
        f" ({_rate(result.handled, result.handle_seconds)}, Listener)",
        f"  SQS calls   {total_calls:,} ({total_calls / max(1, result.messages):.2f} per message;"
        f" one call per message per step would be {naive:,})",
        f"              {by_call}",
        f"  batch splits {result.splits:,}   retries {result.retries:,}   failed {result.failed:,}",
        f"  send -> handle   p50 {p50 * 1000:,.0f} ms   p99 {p99 * 1000:,.0f} ms",
        "  sample trace (create -> send -> receive -> process -> delete):",
        *(f"    {line}" for line in result.trace_lines or ["(tracing is off)"]),
        f"  metrics     {result.metrics_url or 'not served (port busy or telemetry off)'}",
        "  result      "
        + ("OK: every message was handled" if result.ok else "FAILED: messages missing"),
    ]
    out.write("\n".join(lines) + "\n")
    out.flush()
