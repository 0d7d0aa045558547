"""Scenarios 4 (memory under a stalled server) and 5 (time in buffer), sqsobs alone, null SQS.

Each returns a section: a title, a markdown table, the raw data and the issue's targets checked.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.harness import ClientRun, run_client
from benchmarks.null_sqs import NullSQS
from benchmarks.report import TargetCheck
from benchmarks.targets import NullTarget

CLIENT = "benchmarks.clients.sqsobs_producer"
#: Scenario 4's reading of "bounded": offering far more messages than the buffer holds must
#: not grow the process beyond this multiple of its RSS while the server was stalled.
RSS_GROWTH_LIMIT = 1.5


def _run(null: NullSQS, config: dict[str, Any], messages: int) -> tuple[ClientRun, str]:
    target = NullTarget(null)
    queue = target.new_queues(1, config["role"][0])[0]
    target.begin()
    config = dict(config, endpoint_url=null.endpoint_url, queues=[queue], messages=messages)
    try:
        client = run_client(Path(sys.executable), CLIENT, config, 60 + messages / 200)
    finally:
        null.stall(False)  # whatever happened to the client, the server must not stay stalled
    return client, queue


def memory_section(
    null: NullSQS, messages: int, otlp: str, producer_options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Scenario 4: 200,000 messages offered while the server is stalled.

    ``producer_options`` go to ``BatchProducer`` (the suite uses its defaults).
    """
    config: dict[str, Any] = {"role": "memory", "telemetry": "on", "otlp_endpoint": otlp}
    config["producer_options"] = producer_options or {}
    client, queue = _run(null, config, messages)
    extra = client.result.get("extra", {})
    arrived = null.stats()["sent_per_queue"].get(queue, 0)
    buffer = int(extra.get("max_buffer_size_per_queue", 0))
    in_flight = int(extra.get("max_concurrent_sends", 0)) * 10
    accepted = int(extra.get("accepted_while_stalled", -1))
    stalled_rss = extra.get("rss_while_stalled_kib", 0) / 1024
    peak_rss = client.peak_rss_kib / 1024
    data = {
        "ok": client.ok,
        "messages": messages,
        "arrived": arrived,
        "max_buffer_size_per_queue": buffer,
        "in_flight_bound": in_flight,
        "accepted_while_stalled": accepted,
        "send_blocked_while_stalled": extra.get("send_blocked_while_stalled"),
        "rss_before_mib": extra.get("rss_before_kib", 0) / 1024,
        "rss_while_stalled_mib": stalled_rss,
        "peak_rss_mib": peak_rss,
        "seconds": client.result.get("wall_seconds", 0.0),
        "send_errors": extra.get("send_error_count"),
        "failed_futures": extra.get("failed_futures"),
        "log": "" if client.ok else client.log[-1500:],
    }
    markdown = "\n".join(
        [
            "| offered | max_buffer_size_per_queue | accepted while stalled | send() blocked "
            "| RSS before / stalled / peak MiB | delivered after the stall | seconds |",
            "| ---: | ---: | ---: | --- | ---: | ---: | ---: |",
            f"| {messages:,} | {buffer:,} | {accepted:,} "
            f"| {'yes' if data['send_blocked_while_stalled'] else 'no'} "
            f"| {data['rss_before_mib']:.0f} / {stalled_rss:.0f} / {peak_rss:.0f} "
            f"| {arrived:,} | {data['seconds']:.1f} |",
        ]
    )
    targets = [
        TargetCheck(
            "memory: accepted while stalled <= max_buffer_size_per_queue + in-flight batches",
            f"{accepted:,} <= {buffer + in_flight:,}",
            client.ok and 0 <= accepted <= buffer + in_flight,
        ),
        TargetCheck(
            "memory: send() applies backpressure (blocks) while the server is stalled",
            "blocked" if data["send_blocked_while_stalled"] else "did not block",
            bool(data["send_blocked_while_stalled"]),
        ),
        TargetCheck(
            f"memory: peak RSS <= {RSS_GROWTH_LIMIT}x RSS while stalled, all delivered",
            f"{peak_rss:.0f} / {stalled_rss:.0f} MiB, {arrived:,} of {messages:,}",
            client.ok and peak_rss <= RSS_GROWTH_LIMIT * stalled_rss and arrived == messages,
        ),
    ]
    return {
        "title": "Scenario 4: memory, messages offered while the server is stalled",
        "markdown": markdown,
        "data": data,
        "targets": [asdict(t) for t in targets],
    }


def _percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50_ms": cuts[49] * 1e3, "p99_ms": cuts[98] * 1e3, "max_ms": max(values) * 1e3}


#: Scenario 5's patterns: name -> (label, seconds between messages, target applies).
PATTERNS = {
    "trickle": ("trickle, 1 msg / 50 ms", 0.05, True),
    "load": ("steady load, 1 msg / ms", 0.001, True),
    "burst": ("burst, as fast as send() takes them", 0.0, False),
}


def latency_section(null: NullSQS, counts: dict[str, int], otlp: str) -> dict[str, Any]:
    """Scenario 5: time from send() to arrival, for each pattern in ``counts`` (name -> messages).

    Under a trickle and a steady load a message waits at most ``batch_interval`` (the target);
    a burst beyond what the producer can send queues behind the buffer's backlog instead (then
    ``send()`` blocks): reported, not a target.
    """
    rows: dict[str, dict[str, Any]] = {}
    for pattern, messages in counts.items():
        config: dict[str, Any] = {"role": "latency", "telemetry": "on", "otlp_endpoint": otlp}
        config["interval_seconds"] = PATTERNS[pattern][1]
        client, _ = _run(null, config, messages)
        latencies = null.stats()["latencies_seconds"]
        extra = client.result.get("extra", {})
        rows[pattern] = {
            "ok": client.ok and len(latencies) == messages,
            "messages": messages,
            "arrived": len(latencies),
            "batch_interval_seconds": extra.get("batch_interval_seconds", float("nan")),
            "idle_timeout_seconds": extra.get("idle_timeout_seconds", float("nan")),
            **_percentiles(latencies),
            "log": "" if client.ok else client.log[-1500:],
        }
    lines = [
        "| pattern | messages | p50 ms | p99 ms | max ms | batch_interval / idle_timeout s |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    targets = []
    for pattern, row in rows.items():
        label, _, is_target = PATTERNS[pattern]
        lines.append(
            f"| {label} | {row['arrived']:,} of {row['messages']:,} | {row['p50_ms']:.0f} "
            f"| {row['p99_ms']:.0f} | {row['max_ms']:.0f} "
            f"| {row['batch_interval_seconds']} / {row['idle_timeout_seconds']} |"
        )
        if is_target:
            limit_ms = row["batch_interval_seconds"] * 1e3
            targets.append(
                TargetCheck(
                    f"latency ({label}): p99 time to arrival <= batch_interval, all arrived",
                    f"p99 {row['p99_ms']:.0f} ms vs {limit_ms:.0f} ms",
                    row["ok"] and row["p99_ms"] <= limit_ms,
                )
            )
    return {
        "title": "Scenario 5: time from send() to arrival at the server (telemetry on)",
        "markdown": "\n".join(lines),
        "data": rows,
        "targets": [asdict(t) for t in targets],
    }
