"""Scenario 6: client CPU per SQS call, boto3 against the lean transport, on the null SQS.

The clients run side by side in one process, taking turns in blocks of 50 calls (see
:mod:`benchmarks.clients.transport_calls`), so a busy machine slows each of them alike: one
client, single-threaded, the same 10-entry ``SendMessageBatch`` (100-character bodies) and the
same ``ReceiveMessage`` (10 messages with a ``traceparent`` attribute) + ``DeleteMessageBatch``
pair. botocore picks its SigV4 signer at import (with awscrt installed every boto3 client signs
with awscrt, unless ``BOTO_DISABLE_CRT=true``), so boto3 with botocore's CRT signer runs in a
second process, next to the lean transport's awscrt signer again. The table shows medians of
the runs.

Run alone: ``python -m benchmarks.transport [--calls 2000] [--runs 5]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import statistics
import sys
from dataclasses import dataclass
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
    """One row: a client of :mod:`benchmarks.clients.transport_calls` in one of the processes."""

    name: str
    client: str
    #: "pure": the process with BOTO_DISABLE_CRT=true; "crt": botocore signs with awscrt.
    process: str = "pure"
    needs_crt: bool = False


VARIANTS = (
    Variant("boto3, parameter validation on", "boto3-validate"),
    Variant("boto3, parameter validation off (as sqsobs builds it)", "boto3"),
    Variant("lean, botocore's SigV4 signer", "lean-botocore"),
    Variant("lean, awscrt's SigV4 signer", "lean-crt", needs_crt=True),
    Variant("lean, unsigned (the floor)", "lean-unsigned"),
    Variant(
        "boto3, validation off, awscrt installed (botocore signs with CRT; second process)",
        "boto3",
        process="crt",
        needs_crt=True,
    ),
    Variant(
        "lean, awscrt's SigV4 signer (second process)", "lean-crt", process="crt", needs_crt=True
    ),
)
PROCESS_ENV = {"pure": PURE_PYTHON, "crt": {}}


def crt_installed() -> bool:
    """True when awscrt can be imported here (the ``crt`` extra)."""
    return importlib.util.find_spec("awscrt") is not None


def _variants() -> list[Variant]:
    return [v for v in VARIANTS if crt_installed() or not v.needs_crt]


def _one(null: NullSQS, process: str, clients: list[str], calls: int) -> dict[str, Any]:
    """One process measuring ``clients`` side by side: {client: {figure: µs}}."""
    send, receive = f"tsend_{process}", f"trecv_{process}"
    null.preload(receive, (calls + WARM_UP_CALLS + 50) * 10 * len(clients))
    null.preload(send, 0)
    config = {"clients": clients, "calls": calls, "queues": [send, receive]}
    config["endpoint_url"] = null.endpoint_url
    timeout = 60 + calls * len(clients) / 25
    run = run_client(Path(sys.executable), CLIENT, config, timeout, env=PROCESS_ENV[process])
    if not run.ok:
        logger.warning("scenario 6 (%s) failed: %s", process, run.log[-1500:])
        return {}
    extra: dict[str, Any] = run.result["extra"]
    return extra


def measure(null: NullSQS, calls: int, runs: int) -> dict[str, dict[str, list[float]]]:
    """µs per call of every variant, ``runs`` times: {variant: {figure: [...]}}."""
    variants = _variants()
    samples: dict[str, dict[str, list[float]]] = {
        v.name: {"send_us": [], "receive_delete_us": []} for v in variants
    }
    processes = sorted({v.process for v in variants})
    for rep in range(runs):
        for process in processes:
            logger.info("scenario 6, run %d of %d: %s process", rep + 1, runs, process)
            mine = [v for v in variants if v.process == process]
            figures = _one(null, process, [v.client for v in mine], calls)
            for variant in mine:
                for key, value in figures.get(variant.client, {}).items():
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
