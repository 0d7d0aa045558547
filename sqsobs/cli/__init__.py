"""The ``sqsobs`` command: ``demo`` and ``dashboards``.

Example::

    $ sqsobs demo                                    # 10,000 messages through an embedded SQS
    $ sqsobs dashboards --output dashboards          # regenerate the Grafana JSON
    $ sqsobs dashboards --output dashboards --check  # exit 1 if the committed JSON is stale
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["build_parser", "main"]


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo", help="send messages through the producer and the listener, then report"
    )
    demo.add_argument("-n", "--messages", type=int, default=10_000, help="default: 10,000")
    demo.add_argument(
        "--endpoint-url", help="any SQS (default: AWS_ENDPOINT_URL, else an embedded SQS)"
    )
    demo.add_argument(
        "--keep-serving", action="store_true", help="keep the metrics endpoint up until Ctrl-C"
    )
    demo.add_argument("--prometheus-port", type=int, default=9464, help="0: any free port")
    demo.add_argument("--workers", type=int, default=16, help="listener worker threads")


def _add_dashboards(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    boards = commands.add_parser(
        "dashboards", help="write the Grafana dashboards generated from the metric catalog"
    )
    boards.add_argument(
        "--output", type=Path, default=Path("dashboards"), help="directory (default: dashboards)"
    )
    boards.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a file differs"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sqsobs`` command."""
    parser = argparse.ArgumentParser(prog="sqsobs", description="Observable Amazon SQS.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_demo(commands)
    _add_dashboards(commands)
    return parser


def _demo_command(args: argparse.Namespace) -> int:
    from sqsobs.cli._demo import run_demo
    from sqsobs.cli._demo_options import DemoOptions

    options = DemoOptions(
        messages=args.messages,
        endpoint_url=args.endpoint_url,
        prometheus_port=args.prometheus_port,
        keep_serving=args.keep_serving,
        worker_threads=args.workers,
    )
    return 0 if run_demo(options).ok else 1


def _dashboards_command(args: argparse.Namespace) -> int:
    from sqsobs.cli._dashboards import stale_dashboards, write_dashboards

    output: Path = args.output
    if not args.check:
        for path in write_dashboards(output):
            print(f"wrote {path}")
        return 0
    stale = stale_dashboards(output)
    for path in stale:
        print(f"stale: {path} (run: sqsobs dashboards --output {output})", file=sys.stderr)
    return 1 if stale else 0


_COMMANDS = {"demo": _demo_command, "dashboards": _dashboards_command}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    return _COMMANDS[args.command](args)
