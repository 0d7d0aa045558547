"""Issue 15's targets table (performance by design), checked on one run's summaries.

Every row names its contenders in :mod:`benchmarks.contenders`; a row whose contenders did not
run (``--contenders`` filtered them out, a server was skipped) reads "not measured".
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks import contenders as c
from benchmarks.report import Figures, TargetCheck, _at_least, _at_most, _check, _cpu, _rate
from benchmarks.throughput import Summary

PRODUCER, LISTENER = "1 producer", "2 listener"


def _ratio_row(
    f: Figures,
    target: str,
    scenario: str,
    top: str,
    bottom: str,
    *,
    figure: Callable[[Summary], float],
    ok: Callable[[float], bool],
) -> list[TargetCheck]:
    return [
        _check(
            f"{target} ({server})",
            f.ratio(scenario, server, top, bottom, figure),
            "{:.2f}x",
            ok,
        )
        for server in ("null", "moto")
    ]


def _calls(f: Figures, name: str) -> TargetCheck:
    summary = f.get(LISTENER, "null", name)
    calls = summary.calls_per_msg if summary else None
    return _check(
        f"issue 15: {name}: receive+delete calls/msg <= 0.25 (null)",
        calls["receive"] + calls["delete"] if calls else None,
        "{:.3f}",
        _at_most(0.25),
    )


def targets(summaries: list[Summary]) -> list[TargetCheck]:
    """Each row of issue 15's table, on the null SQS and on moto."""
    f = Figures(summaries)
    seed, raw = c.SEED_PRODUCER, c.RAW_PRODUCER
    broker = c.broker_name
    checks: list[TargetCheck] = []
    rows: list[tuple[str, str, str, str, Callable[[Summary], float], Callable[[float], bool]]]
    rows = [
        ("broker, telemetry off, CPU/msg vs dramatiq-sqs-batch <= 1.0x",
         PRODUCER, broker("off"), seed, _cpu, _at_most(1.0)),
        ("broker, telemetry on, CPU/msg vs dramatiq-sqs-batch <= 1.3x (boto3 transport)",
         PRODUCER, broker("on"), seed, _cpu, _at_most(1.3)),
        ("broker, telemetry on, CPU/msg vs dramatiq-sqs-batch <= 1.0x (lean transport)",
         PRODUCER, broker("on", "lean"), seed, _cpu, _at_most(1.0)),
        ("broker, production profile, CPU/msg vs dramatiq-sqs-batch <= 1.1x (boto3)",
         PRODUCER, broker("production"), seed, _cpu, _at_most(1.1)),
        ("broker, production profile, CPU/msg vs dramatiq-sqs-batch <= 0.8x (lean)",
         PRODUCER, broker("production", "lean"), seed, _cpu, _at_most(0.8)),
        ("broker, lean transport, telemetry on, msg/s vs the raw boto3 loop >= 1.0x",
         PRODUCER, broker("on", "lean"), raw, _rate, _at_least(1.0)),
    ]  # fmt: skip
    for mode, floor in (("batch", 1.5), ("per-message", 1.2)):
        for transport in c.TRANSPORTS:
            rows.append((
                f"{mode} listener, telemetry on, msg/s vs sqs-fargate-listener's >= {floor}x "
                f"({transport} transport)", LISTENER,
                c.sqsobs_listener_name(mode, "on", transport), c.seed_listener_name(mode),
                _rate, _at_least(floor),
            ))  # fmt: skip
    for transport in c.TRANSPORTS:
        sides = [("producer (broker)", PRODUCER, broker("production", transport),
                  broker("off", transport))]  # fmt: skip
        for mode in ("batch", "per-message"):
            sides.append((f"{mode} listener", LISTENER,
                          c.sqsobs_listener_name(mode, "production", transport),
                          c.sqsobs_listener_name(mode, "off", transport)))  # fmt: skip
        for side, scenario, top, bottom in sides:
            rows.append((
                f"{side}, production profile / telemetry off msg/s >= 0.9 ({transport})",
                scenario, top, bottom, _rate, _at_least(0.9),
            ))  # fmt: skip
    for target, scenario, top, bottom, figure, ok in rows:
        checks += _ratio_row(f, f"issue 15: {target}", scenario, top, bottom, figure=figure, ok=ok)
    for transport in c.TRANSPORTS:
        checks.append(_calls(f, c.sqsobs_listener_name("per-message", "on", transport)))
    return checks
