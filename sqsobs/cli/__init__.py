"""The ``sqsobs`` command: ``listen``, ``demo`` and ``dashboards``.

Example::

    $ sqsobs --version
    $ sqsobs listen orders.handlers                  # run the app's @sqs_listener handlers
    $ sqsobs listen --telemetry orders orders.app:setup
    $ sqsobs demo                                    # 3,000 messages through an embedded SQS
    $ sqsobs dashboards --output dashboards          # regenerate the Grafana JSON
    $ sqsobs dashboards --output dashboards --check  # exit 1 if the committed JSON is stale
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sqsobs._version import __version__

__all__ = ["build_parser", "main"]

#: Exit code of ``sqsobs listen`` when the application cannot be loaded (argparse's too).
EXIT_USAGE = 2

_LISTEN_HELP = """\
Import each APP, then run every listener it registered until SIGTERM or SIGINT,
drain (in-flight handlers finish, their messages are deleted, received but
unstarted messages are released) and exit 0. A second signal exits at once.

APP is MODULE or MODULE:FUNCTION. Importing MODULE runs its @sqs_listener
decorators; FUNCTION, a callable taking no arguments, is called after the import
(for an application that registers or configures its listeners in a function).
The current directory comes first on sys.path, as with `python -m`. Listener
settings come from the decorators and the environment (QUEUE_URL, WORKER_THREADS,
...), as with run_listeners().

exit codes:
  0  drained after SIGTERM or SIGINT
  1  a listener could not start (a missing queue, denied access, a bad setting)
  2  an APP could not be imported, FUNCTION is missing, not callable or failed,
     or no listener is registered

examples:
  sqsobs listen orders.handlers
  sqsobs listen --telemetry orders-worker --shutdown-timeout 20 orders.app:setup
"""


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def _add_listen(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listen = commands.add_parser(
        "listen",
        help="run the listeners an application registers (MODULE or MODULE:FUNCTION)",
        description=_LISTEN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listen.add_argument("apps", nargs="+", metavar="APP", help="MODULE or MODULE:FUNCTION")
    listen.add_argument(
        "--shutdown-timeout",
        type=_seconds,
        metavar="SECONDS",
        help="how long a drain may take in all (default: the largest shutdown_timeout_seconds "
        "of the listeners, SHUTDOWN_TIMEOUT or 30)",
    )
    listen.add_argument(
        "--telemetry",
        metavar="SERVICE_NAME",
        help="call configure_telemetry(SERVICE_NAME) after the import: traces and metrics with "
        "no code, exporters set by the OTEL_* variables (default: OTLP to localhost and "
        "Prometheus on :9464). Leave it out if the app configures OpenTelemetry itself",
    )


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo", help="send messages through the producer and the listener, then report"
    )
    demo.add_argument("-n", "--messages", type=int, default=3_000, help="default: 3,000")
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
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_listen(commands)
    _add_demo(commands)
    _add_dashboards(commands)
    return parser


def _listen_command(args: argparse.Namespace) -> int:
    from sqsobs.cli._listen import AppError, listen
    from sqsobs.errors import SqsObsError

    try:
        return listen(
            args.apps,
            shutdown_timeout_seconds=args.shutdown_timeout,
            telemetry_service=args.telemetry,
        )
    except AppError as error:
        if error.__cause__ is not None:
            # The application's own code failed: its traceback says where.
            import traceback

            traceback.print_exception(error.__cause__, file=sys.stderr)
        print(f"sqsobs listen: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except SqsObsError as error:
        print(f"sqsobs listen: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


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


_COMMANDS = {"listen": _listen_command, "demo": _demo_command, "dashboards": _dashboards_command}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (what the ``sqsobs`` script exits with).

    Example::

        sys.exit(main(["listen", "orders.handlers"]))    # same as: sqsobs listen orders.handlers
    """
    args = build_parser().parse_args(argv)
    return _COMMANDS[args.command](args)
