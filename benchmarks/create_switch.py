"""The producer's ``create``-span switch measured: ``python -m benchmarks.create_switch``.

``BatchProducer`` alone (scenario 1's client: 4 queues, small messages, null SQS) with
``create_spans`` on and off, under telemetry fully on and the production profile, and with
telemetry off for reference; the contenders take turns, the order rotating every round, and
the table shows medians. ``SQSOBS_CREATE_SPANS=false`` is the same switch from the environment.

Example::

    python -m benchmarks.create_switch --messages 10000 --reps 5
"""

from __future__ import annotations

import argparse
import logging

from benchmarks.contenders import SQSOBS_PRODUCER
from benchmarks.harness import Contender
from benchmarks.targets import started_targets
from benchmarks.throughput import Summary, Throughput, summarise

__all__ = ["contenders", "main", "table"]

NAME = "sqsobs BatchProducer"


def contenders() -> list[Contender]:
    """Telemetry off; on and production profile, each with create spans on and off."""
    found = [Contender(f"{NAME}, telemetry off", SQSOBS_PRODUCER, {"telemetry": "off"})]
    for telemetry, label in (("on", "telemetry on"), ("production", "production profile")):
        for create in (True, False):
            config = {"telemetry": telemetry, "producer_options": {"create_spans": create}}
            name = f"{NAME}, {label}, create spans {'on' if create else 'off'}"
            found.append(Contender(name, SQSOBS_PRODUCER, config))
    return found


def table(summaries: list[Summary]) -> str:
    """Medians as markdown: CPU µs/msg (process), msg/s, spans/msg."""
    lines = [
        "| contender | messages | runs | client CPU µs/msg (process) | msg/s | spans/msg |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in summaries:
        spans = "" if s.spans_per_msg is None else f"{s.spans_per_msg:.2f}"
        lines.append(
            f"| {s.contender} | {s.messages:,} | {s.runs - s.failed_runs} of {s.runs} "
            f"| {s.cpu_us_per_msg:,.0f} ({s.process_cpu_us_per_msg:,.0f}) "
            f"| {s.msgs_per_second:,.0f} | {spans} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    """Run the contenders against the null SQS; print and return the table."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="per run")
    parser.add_argument("--reps", type=int, default=3, help="rounds")
    args = parser.parse_args(argv)
    scenario = Throughput("1 producer, create switch", "producer", 4, contenders())
    with started_targets(["null"]) as (null, targets):
        samples = scenario.run(
            targets[0], args.messages, args.reps, {"otlp_endpoint": null.endpoint_url}
        )
    text = table(summarise(samples))
    print(text)
    return text


if __name__ == "__main__":
    main()
