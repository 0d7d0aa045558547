"""Scenario 6: client CPU per SQS call, boto3 against the lean transport, on the null SQS.

Each variant runs in its own process (botocore picks its signer at import: with awscrt
installed every boto3 client signs with awscrt, unless ``BOTO_DISABLE_CRT=true``), single
threaded, one client, the same 10-entry ``SendMessageBatch`` (100-character bodies) and the
same ``ReceiveMessage`` (10 messages with a ``traceparent`` attribute) + ``DeleteMessageBatch``
pair. Runs are interleaved (the order rotates) and the table shows medians.

Run alone: ``python -m benchmarks.transport [--calls 2000] [--runs 5]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import run_client
from benchmarks.null_sqs import NullSQS
from benchmarks.report import TargetCheck

logger = logging.getLogger(__name__)

CLIENT = "benchmarks.clients.transport_calls"
WARM_UP_CALLS = 50
PURE_PYTHON = {"BOTO_DISABLE_CRT": "true"}


@dataclass(frozen=True)
class Variant:
    """One row: a client of :mod:`benchmarks.clients.transport_calls` and its environment."""

    name: str
    client: str
    env: dict[str, str] = field(default_factory=dict)
    needs_crt: bool = False


VARIANTS = (
    Variant("boto3, parameter validation on", "boto3-validate", PURE_PYTHON),
    Variant("boto3, parameter validation off (as sqsobs builds it)", "boto3", PURE_PYTHON),
    Variant(
        "boto3, validation off, awscrt installed (botocore signs with CRT)",
        "boto3",
        needs_crt=True,
    ),
    Variant("lean, botocore's SigV4 signer", "lean-botocore", PURE_PYTHON),
    Variant("lean, awscrt's SigV4 signer", "lean-crt", needs_crt=True),
    Variant("lean, unsigned (the floor)", "lean-unsigned", PURE_PYTHON),
)


def crt_installed() -> bool:
    """True when awscrt can be imported here (the ``crt`` extra)."""
    return importlib.util.find_spec("awscrt") is not None


def _one(null: NullSQS, variant: Variant, calls: int) -> dict[str, float] | None:
    send, receive = f"tsend_{variant.client}", f"trecv_{variant.client}"
    null.preload(receive, (calls + WARM_UP_CALLS) * 10)
    null.preload(send, 0)
    config = {"client": variant.client, "calls": calls, "queues": [send, receive]}
    config["endpoint_url"] = null.endpoint_url
    run = run_client(Path(sys.executable), CLIENT, config, 60 + calls / 50, env=variant.env)
    if not run.ok:
        logger.warning("%s failed: %s", variant.name, run.log[-1500:])
        return None
    extra: dict[str, float] = run.result["extra"]
    return extra


def measure(null: NullSQS, calls: int, runs: int) -> dict[str, dict[str, list[float]]]:
    """µs per call of every variant, ``runs`` times, interleaved: {variant: {figure: [...]}}."""
    variants = [v for v in VARIANTS if crt_installed() or not v.needs_crt]
    samples: dict[str, dict[str, list[float]]] = {
        v.name: {"send_us": [], "receive_delete_us": []} for v in variants
    }
    for rep in range(runs):
        shift = rep % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            logger.info("scenario 6, run %d: %s", rep + 1, variant.name)
            figures = _one(null, variant, calls)
            for key, value in (figures or {}).items():
                samples[variant.name][key].append(value)
    return samples


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def table(samples: dict[str, dict[str, list[float]]]) -> str:
    """The markdown table: medians, ranges, and each against boto3 with validation on."""
    base = samples.get(VARIANTS[0].name, {})
    base_send = _median(base.get("send_us", []))
    base_pair = _median(base.get("receive_delete_us", []))
    lines = [
        "| client | SendMessageBatch (10 entries), µs CPU | vs boto3 | ReceiveMessage + "
        "DeleteMessageBatch (10 messages), µs CPU | vs boto3 | runs |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, figures in samples.items():
        send, pair = _median(figures["send_us"]), _median(figures["receive_delete_us"])
        lines.append(
            f"| {name} | {_cell(send, figures['send_us'])} | {_ratio(send, base_send)} "
            f"| {_cell(pair, figures['receive_delete_us'])} | {_ratio(pair, base_pair)} "
            f"| {len(figures['send_us'])} |"
        )
    return "\n".join(lines)


def _cell(median: float | None, values: list[float]) -> str:
    if median is None:
        return "failed"
    return f"{median:,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def _ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:.2f}x" if value and base else ""


def section(null: NullSQS, calls: int, runs: int) -> dict[str, Any]:
    """Scenario 6 as a section of ``python -m benchmarks``."""
    samples = measure(null, calls, runs)
    lean = _median(samples.get("lean, botocore's SigV4 signer", {}).get("send_us", []))
    boto = _median(samples.get(VARIANTS[1].name, {}).get("send_us", []))
    ratio = lean / boto if lean and boto else None
    check = TargetCheck(
        "lean transport: SendMessageBatch CPU <= boto3's (validation off), botocore signer",
        "not measured in this run" if ratio is None else f"{ratio:.2f}",
        None if ratio is None else ratio <= 1.0,
    )
    return {
        "title": f"Scenario 6: client CPU per SQS call, boto3 vs the lean transport ({calls:,} "
        f"calls, medians of {runs} runs, ranges in brackets)",
        "markdown": table(samples),
        "data": samples,
        "targets": [vars(check)],
    }


def main(argv: list[str] | None = None) -> None:
    """Run scenario 6 alone and print its table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transport")
    parser.add_argument("--calls", type=int, default=2000, help="calls per run and figure")
    parser.add_argument("--runs", type=int, default=5, help="interleaved runs per variant")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    with NullSQS() as null:
        result = section(null, args.calls, args.runs)
    print(f"**{result['title']}**\n\n{result['markdown']}")


if __name__ == "__main__":
    main()
