"""Run a command (the test suite) against a LocalStack SQS started here, then stop LocalStack.

LocalStack runs in host mode (no Docker) from its own virtual environment, on a free loopback
port, with its files in a temporary directory. The command gets ``SQSOBS_TEST_SQS_ENDPOINT``; its
exit status is this script's. A LocalStack that does not serve SQS within ``--start-timeout``
seconds fails with its log printed; LocalStack is stopped (its whole process group, by the PID
started here) however the command ends, on SIGTERM/SIGINT too.

Example::

    python -m tests.run_on_localstack --python /path/to/localstack-venv/bin/python -- \\
        pytest -p no:cacheprovider
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

import boto3
from botocore.config import Config

#: LocalStack's settings for a loopback SQS: path-style queue URLs, nothing else started, no
#: calls out (certificate download, analytics) and no DNS server.
LOCALSTACK_ENV = {
    "OVERRIDE_IN_DOCKER": "0",
    "SQS_ENDPOINT_STRATEGY": "path",
    "SERVICES": "sqs,s3,sns",
    "EAGER_SERVICE_LOADING": "1",
    "SKIP_SSL_CERT_DOWNLOAD": "1",
    "DISABLE_EVENTS": "1",
    "DNS_ADDRESS": "0",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serves_sqs(endpoint_url: str) -> bool:
    """True once a ListQueues call succeeds."""
    client = boto3.session.Session().client(
        "sqs",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 1}),
    )
    try:
        client.list_queues()
    except Exception:
        return False
    return True


class LocalStack:
    """One LocalStack process group on loopback."""

    def __init__(self, python: str, workdir: Path, pid_file: Path | None = None) -> None:
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "localstack.log"
        self.pid_path = pid_file or workdir / "localstack.pid"
        env = {
            **os.environ,
            **LOCALSTACK_ENV,
            "GATEWAY_LISTEN": f"127.0.0.1:{self.port}",
            "LOCALSTACK_HOST": f"127.0.0.1:{self.port}",
            "FILESYSTEM_ROOT": str(workdir / "fs"),
        }
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [python, "-m", "localstack.runtime.main"],
                env=env, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.pid_path.write_text(str(self.process.pid))

    def wait_ready(self, timeout_seconds: float) -> float:
        """Seconds until SQS answered; raises RuntimeError (log attached) if it never does."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_seconds:
            if self.process.poll() is not None:
                raise RuntimeError(f"LocalStack exited ({self.process.returncode})\n{self.log()}")
            if serves_sqs(self.endpoint_url):
                return time.monotonic() - started
            time.sleep(0.5)
        raise RuntimeError(f"LocalStack served no SQS within {timeout_seconds} s\n{self.log()}")

    def log(self) -> str:
        """LocalStack's output so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout_seconds: float = 20.0) -> None:
        """SIGTERM to the group, SIGKILL if it is still there after ``timeout_seconds``."""
        for sig, wait in ((signal.SIGTERM, timeout_seconds), (signal.SIGKILL, 5.0)):
            if self.process.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(wait)
        # Children left behind by a parent that exited first share its group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.pid_path.write_text("")  # nothing left for anyone to kill by this PID


@contextlib.contextmanager
def running_localstack(
    python: str, start_timeout_seconds: float, pid_file: Path | None = None
) -> Iterator[LocalStack]:
    """LocalStack serving SQS for the duration of the block; stopped at its end, always."""
    with tempfile.TemporaryDirectory(prefix="sqsobs-localstack-") as tmp:
        server = LocalStack(python, Path(tmp), pid_file)
        try:
            seconds = server.wait_ready(start_timeout_seconds)
            print(
                f"LocalStack serves SQS at {server.endpoint_url} after {seconds:.1f} s", flush=True
            )
            yield server
        finally:
            # Silent: the command's own closing lines (pytest's counts) stay the last output.
            server.stop()


#: Lines of LocalStack's log printed after a failed run.
_LOG_TAIL_LINES = 80


def _raise_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", required=True, help="python of LocalStack's own venv")
    parser.add_argument("--start-timeout", type=float, default=120.0, help="seconds")
    parser.add_argument(
        "--pid-file", type=Path, help="write LocalStack's PID (its process group) here"
    )
    parser.add_argument("command", nargs="+", help="what to run, after --")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_on_signal)
    signal.signal(signal.SIGINT, _raise_on_signal)
    try:
        with running_localstack(args.python, args.start_timeout, args.pid_file) as server:
            env = {**os.environ, "SQSOBS_TEST_SQS_ENDPOINT": server.endpoint_url}
            code = subprocess.call(args.command, env=env)
            if code != 0:  # what LocalStack said may explain the failures
                tail = server.log().splitlines()[-_LOG_TAIL_LINES:]
                print("LocalStack's log, last lines:", *tail, sep="\n", file=sys.stderr)
            return code
    except RuntimeError as error:
        print(f"LocalStack did not start: {error}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
