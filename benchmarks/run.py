"""The one entry point: ``python -m benchmarks`` runs the suite, prints the tables, writes JSON.

Examples::

    python -m benchmarks                        # the whole suite (null SQS and moto)
    python -m benchmarks --quick                # a few hundred messages, one repetition
    python -m benchmarks --servers null --scenarios 1,3 --reps 5
    python -m benchmarks --contenders "raw;dramatiq-sqs-batch;lean transport, telemetry on"
    python -m benchmarks --scenarios 6          # client CPU per SQS call: boto3 vs lean

Results go to ``benchmarks/results/<UTC time>.json`` and ``benchmarks/results/latest.json``
(git-ignored); ``--markdown FILE`` also writes the tables as markdown.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import contenders, issue15, machine, report, sqsobs_only, transport
from benchmarks.harness import Contender
from benchmarks.null_sqs import NullSQS
from benchmarks.server_process import REPO_ROOT
from benchmarks.targets import Target, started_targets
from benchmarks.throughput import Sample, summarise

logger = logging.getLogger("benchmarks")

RESULTS = REPO_ROOT / "benchmarks" / "results"


#: Where each throughput phase should end, as a share of the time budget from the start;
#: scenarios 4 and 5 get the rest (they need about 90 s).
BUDGET_SHARES = {
    ("null", "producer"): 0.27,
    ("null", "listener"): 0.68,
    ("moto", "producer"): 0.74,
    ("moto", "listener"): 0.90,
}


@dataclass
class Settings:
    """How big the run is."""

    servers: list[str]
    scenarios: set[str]
    reps: int
    null_messages: int
    moto_messages: int
    moto_reps: int
    memory_messages: int
    budget_seconds: float = 500.0
    #: Scenarios 1 and 2 run only contenders whose name contains one of these (empty: all).
    contenders: list[str] = field(default_factory=list)
    #: Scenario 6: calls per figure and run.
    transport_calls: int = 1000


def parse_args(argv: list[str] | None) -> tuple[Settings, argparse.Namespace]:
    """Command-line options into :class:`Settings`."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--servers", default="null,moto", help="comma list of null, moto")
    parser.add_argument("--scenarios", default="1,2,3,4,5,6", help="comma list of 1-6")
    parser.add_argument("--reps", type=int, default=3, help="repetitions on the null SQS")
    parser.add_argument("--moto-reps", type=int, default=2, help="repetitions on moto")
    parser.add_argument("--messages", type=int, default=20_000, help="per run, null SQS")
    parser.add_argument("--moto-messages", type=int, default=1_500, help="per run, moto")
    parser.add_argument("--memory-messages", type=int, default=200_000, help="scenario 4")
    parser.add_argument(
        "--budget-seconds",
        type=float,
        default=500.0,
        help="time budget: repetitions that would not fit are skipped (reported)",
    )
    parser.add_argument(
        "--contenders",
        default="",
        help="';' list: scenarios 1 and 2 run only contenders whose name contains one "
        "(contender names have commas)",
    )
    parser.add_argument(
        "--transport-calls", type=int, default=1000, help="scenario 6: calls per figure"
    )
    parser.add_argument("--quick", action="store_true", help="tiny counts, one repetition")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    parser.add_argument("--output", type=Path, help="JSON file (default: results/<time>.json)")
    args = parser.parse_args(argv)
    settings = Settings(
        servers=[s.strip() for s in args.servers.split(",") if s.strip()],
        scenarios={s.strip() for s in args.scenarios.split(",") if s.strip()},
        reps=args.reps,
        null_messages=args.messages,
        moto_messages=args.moto_messages,
        moto_reps=args.moto_reps,
        memory_messages=args.memory_messages,
        budget_seconds=args.budget_seconds,
        contenders=[s.strip() for s in args.contenders.split(";") if s.strip()],
        transport_calls=args.transport_calls,
    )
    if args.quick:
        settings.reps = settings.moto_reps = 1
        settings.null_messages, settings.moto_messages = 400, 100
        settings.memory_messages = 20_000
        settings.transport_calls = 100
    return settings, args


def chosen(candidates: list[Contender], parts: list[str]) -> list[Contender]:
    """The contenders whose name contains one of ``parts`` (all of them if there are none)."""
    if not parts:
        return candidates
    return [one for one in candidates if any(part in one.name for part in parts)]


def run_throughput(settings: Settings, targets: list[Target], otlp: str) -> list[Sample]:
    """Scenarios 1 and 2 (3 is derived from them) on every server."""
    scenarios = []
    if settings.scenarios & {"1", "3"}:
        scenarios.append(contenders.producer_scenario())
    if settings.scenarios & {"2", "3"}:
        scenarios.append(contenders.listener_scenario())
    if settings.contenders:
        for scenario in scenarios:
            scenario.contenders = chosen(scenario.contenders, settings.contenders)
    samples: list[Sample] = []
    started = time.monotonic()
    for target in targets:
        messages = settings.null_messages if target.name == "null" else settings.moto_messages
        reps = settings.reps if target.name == "null" else settings.moto_reps
        for scenario in (s for s in scenarios if s.contenders):
            # Deadlines from the cumulative shares: time a phase saves goes to the next ones.
            share = BUDGET_SHARES[(target.name, scenario.role)]
            deadline = started + share * settings.budget_seconds
            samples += scenario.run(target, messages, reps, {"otlp_endpoint": otlp}, deadline)
    return samples


def render(result: dict[str, Any]) -> str:
    """All tables of a run as markdown."""
    summaries = summarise([Sample(**_sample_fields(s)) for s in result["samples"]])
    seconds = result["seconds"]
    parts = [f"Machine: {machine.one_line(result['machine'])}. Total time {seconds:.0f} s."]
    for title, table in (
        ("Scenario 1: producer, 4 queues, small messages", report.producer_table(summaries)),
        ("Scenario 2: listener, pre-loaded queue, no-op handler", report.listener_table(summaries)),
        ("Scenario 3: telemetry fully on vs off", report.telemetry_table(summaries)),
    ):
        if table.count("\n") > 1:
            parts.append(f"**{title}**\n\n{table}")
    for extra in result.get("sections", []):
        parts.append(f"**{extra['title']}**\n\n{extra['markdown']}")
    checks = [report.TargetCheck(**c) for c in result["targets"]]
    parts.append("**Targets**\n\n" + report.targets_table(checks))
    return "\n\n".join(parts) + "\n"


def _sample_fields(data: dict[str, Any]) -> dict[str, Any]:
    names = set(Sample.__dataclass_fields__)
    return {k: v for k, v in data.items() if k in names}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the suite; print and save the results; return them."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    settings, args = parse_args(argv)
    started = time.monotonic()
    info = machine.describe()
    sections: list[dict[str, Any]] = []
    with started_targets(settings.servers) as (null, targets):
        samples = run_throughput(settings, targets, null.endpoint_url)
        sections += run_sqsobs_only(settings, null)
        if "6" in settings.scenarios:
            logger.info("scenario 6: client CPU per SQS call, boto3 vs the lean transport")
            sections.append(transport.section(null, settings.transport_calls, settings.reps))
    summaries = summarise(samples)
    checks = report.throughput_targets(summaries) + issue15.targets(summaries)
    for section in sections:
        checks += [report.TargetCheck(**c) for c in section.pop("targets", [])]
    result = {
        "machine": info,
        "settings": asdict(settings) | {"scenarios": sorted(settings.scenarios)},
        "seconds": time.monotonic() - started,
        "samples": [s.as_dict() for s in samples],
        "summaries": [asdict(s) for s in summaries],
        "sections": sections,
        "targets": [asdict(c) for c in checks],
    }
    text = render(result)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    output = args.output or RESULTS / f"{stamp}.json"
    for path in {output, RESULTS / "latest.json"}:
        path.write_text(json.dumps(result, indent=1))
    if args.markdown:
        args.markdown.write_text(text)
    logger.info("results: %s", output)
    return result


def run_sqsobs_only(settings: Settings, null: NullSQS) -> list[dict[str, Any]]:
    """Scenarios 4 and 5 measure sqsobs alone (memory bound, latency) on the null SQS."""
    if not contenders.sqsobs_ready()["producer"]:
        logger.warning("scenarios 4 and 5 skipped: sqsobs.producer is not in this checkout")
        return []
    sections = []
    otlp = null.endpoint_url
    if "4" in settings.scenarios:
        logger.info("scenario 4: %d messages offered to a stalled server", settings.memory_messages)
        sections.append(sqsobs_only.memory_section(null, settings.memory_messages, otlp))
    if "5" in settings.scenarios:
        logger.info("scenario 5: latency, trickle, steady load and burst")
        small = settings.null_messages < 1000
        counts = {
            "trickle": 20 if small else 100,
            "load": 200 if small else 5_000,
            "burst": settings.null_messages,
        }
        sections.append(sqsobs_only.latency_section(null, counts, otlp))
    return sections
