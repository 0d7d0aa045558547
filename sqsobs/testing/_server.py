"""A server in a child process on a free loopback port, stopped by its PID: :class:`EmbeddedSQS`.

:class:`ServerProcess` runs ``python -m <module> --host H --port P``, waits until it answers
HTTP and stops it with SIGTERM (then SIGKILL). :class:`EmbeddedSQS` is moto's SQS server with
the fixes of :mod:`sqsobs.testing._moto`; the test suite, ``sqsobs demo`` and the benchmarks use
it (install the ``local`` extra).

Example::

    with EmbeddedSQS() as server:
        client = boto3.client("sqs", endpoint_url=server.endpoint_url, region_name="us-east-1")
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["EmbeddedSQS", "ServerProcess", "free_port", "wait_until_serving"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago.

    Example::

        port = free_port()
        os.environ["OTEL_EXPORTER_PROMETHEUS_PORT"] = str(port)
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_serving(url: str, timeout_seconds: float, process: subprocess.Popen[Any]) -> None:
    """Poll ``url`` until it answers any HTTP response; fail if the process dies first."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server process exited early with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1.0):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it serves
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout_seconds} s")


_S = TypeVar("_S", bound="ServerProcess")


class ServerProcess:
    """``python -m <module> --host H --port P`` as a child process on a free loopback port.

    Waits until ``health_path`` answers HTTP; stopped by its PID. Subclasses set ``module``.

    Example::

        class Collector(ServerProcess):
            module = "tests.fake_collector"     # python -m tests.fake_collector --host H --port P
            health_path = "/health"

        with Collector() as collector:
            os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.endpoint_url
    """

    module = ""
    health_path = "/"

    def __init__(self, *, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        """The HTTP endpoint to give boto3 as ``endpoint_url``."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        """The server process's PID."""
        if self.process is None:
            raise RuntimeError("server not started")
        return self.process.pid

    def popen_options(self) -> dict[str, Any]:
        """Extra ``subprocess.Popen`` options (``cwd``, ``env``) for the child."""
        return {}

    @property
    def running(self) -> bool:
        """True while the server process this object started is alive."""
        return self.process is not None and self.process.poll() is None

    def start(self: _S, timeout_seconds: float = 30.0) -> _S:
        """Start the server and wait until it answers HTTP; on a running server, do nothing.

        So ``with EmbeddedSQS().start() as server:`` runs one server, as ``with EmbeddedSQS()``
        does (``__enter__`` calls ``start()``). A server that was stopped starts anew.
        """
        if self.running:
            return self
        cmd = [sys.executable, "-m", self.module, "--host", self.host, "--port", str(self.port)]
        self.process = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **self.popen_options()
        )
        try:
            wait_until_serving(self.endpoint_url + self.health_path, timeout_seconds, self.process)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout_seconds: float = 10.0) -> None:
        """Stop the server by its PID (SIGTERM, then SIGKILL). Idempotent."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout_seconds)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout_seconds)

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class EmbeddedSQS(ServerProcess):
    """moto's SQS server, with its concurrency and speed faults fixed, in a child process.

    Example::

        with EmbeddedSQS() as server:
            client = boto3.client("sqs", endpoint_url=server.endpoint_url, region_name="us-east-1")
            url = client.create_queue(QueueName="orders")["QueueUrl"]
    """

    module = "sqsobs.testing._moto"
    health_path = "/moto-api/"
