"""How listener throughput grows with processes: 1, 2 and 4 listener processes on one queue.

Each run pre-loads the null SQS (``benchmarks/null_sqs.py``, its own process) with the
messages, starts the listener processes (``benchmarks/clients/sqsobs_scaling.py``), lets them
go at once and stops the clock when the server has counted every delete. msg/s is the messages
over that time; client CPU per message is the processes' user+sys CPU over the run, summed, and
client cores that CPU over the wall time (one process holding its GIL all the time is 1.0); the
server's share shows how much of the machine the null SQS itself took. One process is bound
by its GIL (the pollers, workers, heartbeat and acker share it); more processes add cores until
the machine has none left: on this 2-core machine the server and the clients share two cores.

Run: ``python -m benchmarks.scaling`` (about 3 minutes; ``--quick`` for a smoke run). The table
is printed as markdown and the figures written to ``benchmarks/results/scaling-latest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks import machine
from benchmarks.null_sqs import NullSQS
from benchmarks.server_process import REPO_ROOT
from benchmarks.targets import NullTarget

CLIENT = "benchmarks.clients.sqsobs_scaling"
RESULTS = REPO_ROOT / "benchmarks" / "results"
PROCESS_COUNTS = (1, 2, 4)
#: Messages per run, per mode (per-message runs are slower: half as many).
MESSAGES = {"batch": 20_000, "per_message": 10_000}


@dataclass
class Run:
    """One run: ``processes`` listeners draining ``messages``."""

    mode: str
    processes: int
    messages: int
    seconds: float
    client_cpu_seconds: float
    server_cpu_seconds: float
    handled: list[int]

    @property
    def msg_per_s(self) -> float:
        return self.messages / self.seconds

    @property
    def cpu_us_per_msg(self) -> float:
        return self.client_cpu_seconds / self.messages * 1e6


def _deleted(null: NullSQS) -> int:
    stats = null.stats()
    batched = stats["entries"].get("DeleteMessageBatch", 0)
    return int(batched + stats["calls"].get("DeleteMessage", 0))


def _line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    text = process.stdout.readline()
    if not text:
        raise RuntimeError(f"a listener process exited early ({process.wait(10)})")
    return text.strip()


def run_once(null: NullSQS, mode: str, processes: int, messages: int) -> Run:
    """Drain ``messages`` with ``processes`` listener processes; time it at the server."""
    target = NullTarget(null)
    queue = target.new_queues(1, "scale")[0]
    null.preload(queue, messages)
    config = {"endpoint_url": null.endpoint_url, "queue": queue, "mode": mode}
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONUNBUFFERED="1")
    children = [
        subprocess.Popen(
            [sys.executable, "-m", CLIENT, json.dumps(config)],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    try:
        for child in children:
            assert _line(child) == "ready"
        null.reset()
        server_before = null.cpu_seconds()
        started = time.perf_counter()
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        deadline = time.monotonic() + 60 + messages / 200
        while _deleted(null) < messages:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{_deleted(null)} of {messages} deleted")
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        server = null.cpu_seconds() - server_before
        results = []
        for child in children:
            assert child.stdin is not None
            child.stdin.write("stop\n")
            child.stdin.flush()
        for child in children:
            results.append(json.loads(_line(child)))
            child.wait(30)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(10)
    return Run(
        mode,
        processes,
        messages,
        seconds,
        sum(r["cpu_seconds"] for r in results),
        server,
        [r["succeeded"] for r in results],
    )


def summarise(runs: list[Run]) -> list[dict[str, Any]]:
    """Medians per (mode, processes), with the speed-up over one process."""
    rows = []
    for mode in dict.fromkeys(r.mode for r in runs):
        base = None
        for count in sorted({r.processes for r in runs if r.mode == mode}):
            group = [r for r in runs if r.mode == mode and r.processes == count]
            rate = statistics.median(r.msg_per_s for r in group)
            base = base or rate
            rows.append(
                {
                    "mode": mode,
                    "processes": count,
                    "messages": group[0].messages,
                    "runs": len(group),
                    "msg_per_s": rate,
                    "speedup": rate / base,
                    "cpu_us_per_msg": statistics.median(r.cpu_us_per_msg for r in group),
                    "client_cores": statistics.median(
                        r.client_cpu_seconds / r.seconds for r in group
                    ),
                    "server_cpu_share": statistics.median(
                        r.server_cpu_seconds / r.seconds for r in group
                    ),
                    "all_handled": all(sum(r.handled) >= r.messages for r in group),
                }
            )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The scaling table."""
    lines = [
        "| mode | processes | messages | msg/s | vs 1 process | client CPU µs/msg "
        "| client CPU (cores) | null SQS CPU (cores) | all handled |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['mode'].replace('_', '-')} | {row['processes']} | {row['messages']:,} "
            f"| {row['msg_per_s']:,.0f} | {row['speedup']:.2f}x | {row['cpu_us_per_msg']:,.0f} "
            f"| {row['client_cores']:.2f} | {row['server_cpu_share']:.2f} "
            f"| {'yes' if row['all_handled'] else 'no'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run every mode and process count ``--rounds`` times, interleaved; print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", default="batch,per_message")
    parser.add_argument("--processes", default=",".join(map(str, PROCESS_COUNTS)))
    parser.add_argument("--quick", action="store_true", help="500 messages, one round")
    args = parser.parse_args(argv)
    modes = args.modes.split(",")
    counts = [int(n) for n in args.processes.split(",")]
    rounds = 1 if args.quick else args.rounds
    info = machine.describe()
    runs: list[Run] = []
    with NullSQS() as null:
        for round_index in range(rounds):
            # The order rotates every round: no process count always runs first.
            order = counts[round_index % len(counts) :] + counts[: round_index % len(counts)]
            for mode in modes:
                for count in order:
                    messages = 500 if args.quick else MESSAGES[mode]
                    runs.append(run_once(null, mode, count, messages))
                    print(f"{mode} x{count}: {runs[-1].msg_per_s:,.0f} msg/s", file=sys.stderr)
    rows = summarise(runs)
    print(f"Machine: {machine.one_line(info)}\n")
    print(markdown(rows))
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"machine": info, "rows": rows, "runs": [asdict(r) for r in runs]}
    (RESULTS / "scaling-latest.json").write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
