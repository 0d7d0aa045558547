"""Profile sqsobs' hot paths with py-spy (every thread, sampled from outside the process).

Run ``python -m benchmarks.profile`` (py-spy comes with the ``bench`` extra). Each sqsobs
contender runs once against the null SQS under ``py-spy record``; the raw stacks go to
``benchmarks/results/profiles/`` and a summary is printed: where the active samples went by
package, and the sqsobs functions with the most samples (inclusive).
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import sys
from collections import Counter
from pathlib import Path

from benchmarks import contenders as c
from benchmarks.null_sqs import NullSQS
from benchmarks.server_process import REPO_ROOT
from benchmarks.targets import NullTarget
from benchmarks.throughput import Throughput

logger = logging.getLogger("benchmarks.profile")

PROFILES = REPO_ROOT / "benchmarks" / "results" / "profiles"
FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*?)(?::(?P<line>\d+))?\)$")
PACKAGES = (
    "sqsobs",
    "botocore",
    "boto3",
    "urllib3",
    "opentelemetry",
    "dramatiq_sqs",
    "dramatiq",
    "google",
    "benchmarks",
)


def package_of(path: str) -> str:
    """The package of a frame's file (full paths: py-spy runs with --full-filenames)."""
    root = f"{REPO_ROOT}/"
    if path.startswith(root):
        relative = path[len(root) :]
    else:
        relative = path.rsplit("site-packages/", maxsplit=1)[-1]
    top = relative.split("/", 1)[0].removesuffix(".py")
    return top if top in PACKAGES else "stdlib and other"


def parse(raw: str) -> list[tuple[list[tuple[str, str]], int]]:
    """py-spy's raw (collapsed) stacks: [(frames root first as (function, path), samples)]."""
    stacks = []
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for part in stack.split(";"):
            match = FRAME.match(part.strip())
            if match:
                frames.append((match["function"], match["path"]))
        stacks.append((frames, int(count)))
    return stacks


def summarise(raw: str, top: int = 12) -> str:
    """Samples by package (self time) and the top sqsobs and OpenTelemetry functions (inclusive)."""
    stacks = parse(raw)
    total = sum(count for _, count in stacks) or 1
    by_package: Counter[str] = Counter()
    inclusive: dict[str, Counter[str]] = {"sqsobs": Counter(), "opentelemetry": Counter()}
    for frames, count in stacks:
        if frames:
            by_package[package_of(frames[-1][1])] += count
        seen = set()
        for function, path in frames:
            package = package_of(path)
            key = f"{path.rsplit(package + '/', 1)[-1]}:{function}"
            if package in inclusive and key not in seen:
                seen.add(key)
                inclusive[package][key] += count
    lines = [f"{total} samples holding the GIL; self time by package:"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in by_package.most_common()]
    for package, counter in inclusive.items():
        lines.append(f"{package} functions, inclusive:")
        lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in counter.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Profile the sqsobs contenders once each and print the summaries."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--only", default="", help="profile contenders whose name has this")
    parser.add_argument("--markdown", type=Path, help="also write the summaries to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
    PROFILES.mkdir(parents=True, exist_ok=True)
    scenarios: list[Throughput] = [c.producer_scenario(), c.listener_scenario()]
    reports: list[str] = []
    with NullSQS() as null:
        target = NullTarget(null)
        for scenario in scenarios:
            for contender in scenario.contenders:
                if not contender.name.startswith("sqsobs") or args.only not in contender.name:
                    continue
                slug = re.sub(r"[^a-z0-9]+", "-", contender.name.lower()).strip("-")
                out = PROFILES / f"{slug}.txt"
                # --gil: only samples of the thread holding the GIL, i.e. Python CPU time.
                prefix = [
                    py_spy,
                    "record",
                    "--gil",
                    "--full-filenames",
                    "-r",
                    str(args.rate),
                    "-f",
                    "raw",
                ]
                prefix += ["-o", str(out)]
                prefix.append("--")
                extra = {"otlp_endpoint": null.endpoint_url}
                sample = scenario.run_one(target, contender, args.messages, 0, extra, prefix=prefix)
                status = "ok" if sample.ok else f"FAILED {sample.problem[:300]}"
                text = f"{contender.name}: {status}, {sample.msgs_per_second:,.0f} msg/s "
                text += "(under py-spy)\n"
                if out.exists():
                    text += summarise(out.read_text()) + "\n"
                print(f"\n== {text}")
                reports.append(text)
    if args.markdown:
        args.markdown.write_text("".join(f"```\n{text}```\n\n" for text in reports))


if __name__ == "__main__":
    main()
