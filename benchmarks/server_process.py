"""A benchmark server in its own process, started on a free loopback port and stopped by its PID."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from sqsobs.embedded_sqs import free_port, wait_until_serving

REPO_ROOT = Path(__file__).resolve().parent.parent
_S = TypeVar("_S", bound="ServerProcess")


class ServerProcess:
    """Base: ``python -m <module> --host H --port P`` as a child process."""

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

    def start(self: _S, timeout_seconds: float = 30.0) -> _S:
        """Start the server and wait until it answers HTTP."""
        cmd = [sys.executable, "-m", self.module, "--host", self.host, "--port", str(self.port)]
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        self.process = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
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

    def cpu_seconds(self) -> float:
        """User+sys CPU the server process has used so far (from /proc; 0.0 if unknown)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, RuntimeError):
            return 0.0
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def control(self, command: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST a control command to ``/_null/<command>`` and return its JSON answer."""
        request = urllib.request.Request(
            f"{self.endpoint_url}/_null/{command}",
            data=json.dumps(args or {}).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
