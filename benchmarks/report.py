"""Tables (markdown, printed and pasted into the README) and the issue's targets, checked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks import contenders as c
from benchmarks.throughput import Summary


@dataclass
class TargetCheck:
    """One target of the issue with its measured value."""

    target: str
    measured: str
    met: bool | None  # None: could not be measured in this run


class Figures:
    """Look-ups over one run's summaries."""

    def __init__(self, summaries: list[Summary]) -> None:
        self.by_key = {(s.scenario, s.server, s.contender): s for s in summaries}

    def get(self, scenario: str, server: str, contender: str) -> Summary | None:
        """The summary, or None if that contender did not run there."""
        return self.by_key.get((scenario, server, contender))

    def ratio(
        self, scenario: str, server: str, top: str, bottom: str, figure: Callable[[Summary], float]
    ) -> float | None:
        """figure(top) / figure(bottom), or None if either is missing."""
        a, b = self.get(scenario, server, top), self.get(scenario, server, bottom)
        if a is None or b is None or not figure(b):
            return None
        return figure(a) / figure(b)


def _rate(s: Summary) -> float:
    return s.msgs_per_second


def _cpu(s: Summary) -> float:
    return s.cpu_us_per_msg


def producer_table(summaries: list[Summary]) -> str:
    """Scenario 1 as a markdown table."""
    lines = [
        "| server | contender | messages | msg/s | SQS calls/msg | client CPU µs/msg (process) "
        "| peak RSS MiB | spans/msg | all delivered |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in summaries:
        if s.scenario != "1 producer":
            continue
        lines.append(
            f"| {s.server} | {s.contender} | {s.messages:,} | {s.msgs_per_second:,.0f} "
            f"| {s.calls_per_msg['send']:.3f} | {_cpu_cell(s)} | {s.peak_rss_mib:.0f} "
            f"| {_spans(s)} | {_delivered(s)} |"
        )
    return "\n".join(lines)


def listener_table(summaries: list[Summary]) -> str:
    """Scenario 2 as a markdown table (calls split by kind)."""
    lines = [
        "| server | contender | messages | msg/s | receive/msg | delete/msg | visibility/msg "
        "| client CPU µs/msg (process) | peak RSS MiB | spans/msg | all processed |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in summaries:
        if s.scenario != "2 listener":
            continue
        calls = s.calls_per_msg
        lines.append(
            f"| {s.server} | {s.contender} | {s.messages:,} | {s.msgs_per_second:,.0f} "
            f"| {calls['receive']:.3f} | {calls['delete']:.3f} | {calls['visibility']:.3f} "
            f"| {_cpu_cell(s)} | {s.peak_rss_mib:.0f} | {_spans(s)} | {_delivered(s)} |"
        )
    return "\n".join(lines)


def _cpu_cell(s: Summary) -> str:
    """Measured-phase CPU per message, and in brackets the whole process's (start-up too)."""
    return f"{s.cpu_us_per_msg:,.0f} ({s.process_cpu_us_per_msg:,.0f})"


def _spans(s: Summary) -> str:
    if s.spans_per_msg is None:
        return ""
    dropped = (
        f" (SDK dropped spans in {s.runs_dropping_spans} runs)" if s.runs_dropping_spans else ""
    )
    return f"{s.spans_per_msg:.2f}{dropped}"


def _delivered(s: Summary) -> str:
    if s.all_delivered:
        return f"yes ({s.runs} runs)"
    return f"**no**: {s.failed_runs} of {s.runs} runs failed"


def telemetry_table(summaries: list[Summary]) -> str:
    """Scenario 3: telemetry fully on vs off, as ratios."""
    figures = Figures(summaries)
    pairs = [("1 producer", "producer", c.SQSOBS_PRODUCER_ON, c.SQSOBS_PRODUCER_OFF)]
    for mode in ("batch", "per-message"):
        on, off = c.sqsobs_listener_name(mode, "on"), c.sqsobs_listener_name(mode, "off")
        pairs.append(("2 listener", f"listener, {mode}", on, off))
    lines = [
        "| server | side | throughput on/off | CPU per message on/off |",
        "| --- | --- | ---: | ---: |",
    ]
    servers = sorted({s.server for s in summaries})
    for server in servers:
        for scenario, side, on, off in pairs:
            rate = figures.ratio(scenario, server, on, off, _rate)
            cpu = figures.ratio(scenario, server, on, off, _cpu)
            if rate is not None and cpu is not None:
                lines.append(f"| {server} | {side} | {rate:.2f} | {cpu:.2f} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def _check(target: str, value: float | None, fmt: str, ok: Callable[[float], bool]) -> TargetCheck:
    if value is None:
        return TargetCheck(target, "not measured in this run", None)
    return TargetCheck(target, fmt.format(value), ok(value))


def throughput_targets(summaries: list[Summary]) -> list[TargetCheck]:
    """The issue's targets for scenarios 1-3, both listener modes."""
    f = Figures(summaries)
    p, li = "1 producer", "2 listener"
    checks = []
    for server in ("null", "moto"):
        producer = f.get(p, server, c.SQSOBS_PRODUCER_ON)
        checks.append(
            _check(
                f"producer SQS calls/msg <= 0.105 ({server})",
                producer.calls_per_msg["send"] if producer else None,
                "{:.4f}",
                _at_most(0.105),
            )
        )
    on, off, raw, seed = (
        c.SQSOBS_PRODUCER_ON,
        c.SQSOBS_PRODUCER_OFF,
        c.RAW_PRODUCER,
        c.SEED_PRODUCER,
    )
    checks += [
        _ratio_check(f, "producer (on) msg/s >= 80 % of the raw loop's", p, on, raw, floor=0.8),
        _ratio_check(f, "producer (on) msg/s >= 1.5x dramatiq-sqs-batch's", p, on, seed, floor=1.5),
        _ratio_check(f, "producer telemetry on/off msg/s >= 0.85", p, on, off, floor=0.85),
    ]
    for mode in ("batch", "per-message"):
        on = c.sqsobs_listener_name(mode, "on")
        off = c.sqsobs_listener_name(mode, "off")
        seed = c.seed_listener_name(mode)
        listener = f.get(li, "null", on)
        calls = listener.calls_per_msg if listener else None
        checks += [
            _check(
                f"listener ({mode}, on) receive+delete calls/msg <= 0.25 at batch size 10 (null)",
                calls["receive"] + calls["delete"] if calls else None,
                "{:.3f}",
                _at_most(0.25),
            ),
            _ratio_check(
                f,
                f"listener ({mode}, on) msg/s >= 1.5x sqs-fargate-listener's",
                li,
                on,
                seed,
                floor=1.5,
            ),
            _ratio_check(
                f,
                f"listener ({mode}, on) msg/s >= 80 % of the raw loop's",
                li,
                on,
                c.RAW_LISTENER,
                floor=0.8,
            ),
            _ratio_check(
                f, f"listener ({mode}) telemetry on/off msg/s >= 0.85", li, on, off, floor=0.85
            ),
        ]
    for server in ("null", "moto"):
        for scenario, on, seed, what in (
            (
                p,
                c.SQSOBS_PRODUCER_ON,
                c.SEED_PRODUCER,
                "producer (on) CPU/msg <= dramatiq-sqs-batch's",
            ),
            (
                li,
                c.sqsobs_listener_name("batch", "on"),
                c.seed_listener_name("batch"),
                "listener (batch, on) CPU/msg <= sqs-fargate-listener's",
            ),
        ):
            checks.append(
                _check(
                    f"{what} ({server}), ratio",
                    f.ratio(scenario, server, on, seed, _cpu),
                    "{:.2f}",
                    _at_most(1.0),
                )
            )
    return checks


def _ratio_check(
    f: Figures, target: str, scenario: str, top: str, bottom: str, *, floor: float
) -> TargetCheck:
    """A msg/s ratio on the null SQS held to ``floor``."""
    return _check(
        f"{target} (null)",
        f.ratio(scenario, "null", top, bottom, _rate),
        "{:.2f}",
        _at_least(floor),
    )


def _at_most(ceiling: float) -> Callable[[float], bool]:
    def met(value: float) -> bool:
        return value <= ceiling

    return met


def _at_least(floor: float) -> Callable[[float], bool]:
    def met(value: float) -> bool:
        return value >= floor

    return met


def targets_table(checks: list[TargetCheck]) -> str:
    """Targets as a markdown table."""
    lines = ["| target | measured | met |", "| --- | ---: | --- |"]
    for check in checks:
        met = {True: "yes", False: "**no**", None: "n/a"}[check.met]
        lines.append(f"| {check.target} | {check.measured} | {met} |")
    return "\n".join(lines)
