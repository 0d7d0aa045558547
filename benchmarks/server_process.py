"""A benchmark server in its own process, started on a free loopback port and stopped by its PID."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

from sqsobs.testing import ServerProcess as BaseServerProcess

REPO_ROOT = Path(__file__).resolve().parent.parent


class ServerProcess(BaseServerProcess):
    """A benchmark server: ``python -m <module>`` run from the repository root."""

    def popen_options(self) -> dict[str, Any]:
        """Run from the repository root, so ``benchmarks`` imports in the child."""
        return {"cwd": REPO_ROOT, "env": dict(os.environ, PYTHONPATH=str(REPO_ROOT))}

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
