"""Shared by the fault tests, the bad-input tests and the soak (not a test module).

- :class:`Ledger`: every message carries a unique body; the ledger compares what the producer
  was told (futures), what the server stored (drained or received) and what handlers did, and
  names every gap (lost, duplicates, redeliveries, failed-but-delivered).
- :func:`spawn` / :class:`ListenerLog`: run ``tests/soak_*.py`` as processes and read the
  listener's per-message log as it grows; :func:`rss_kib` for their memory.
- :func:`kill_and_restart`: SIGKILL an :class:`EmbeddedSQS` and start it again on its port.
- :func:`threads_alive`, :data:`FAST`: listener helpers.

Example::

    ledger = Ledger(sent=bodies)
    ledger.accepted(body, message_id)       # future resolved to a MessageId
    ledger.failed(body, error)               # future failed with a reason
    ledger.stored(received_messages)         # what the server held
    assert ledger.report()["lost"] == 0
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqsobs.testing import EmbeddedSQS

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Ledger:
    """Sent bodies and what became of each."""

    sent: list[str]
    ids: dict[str, str] = field(default_factory=dict)  # body -> MessageId its future got
    errors: dict[str, str] = field(default_factory=dict)  # body -> why its future failed
    copies: dict[str, set[str]] = field(default_factory=dict)  # body -> MessageIds stored
    receives: Counter[str] = field(default_factory=Counter)  # MessageId -> times received
    handled: Counter[str] = field(default_factory=Counter)  # body -> successful handler runs

    def accepted(self, body: str, message_id: str) -> None:
        """The future of ``body`` resolved to ``message_id``."""
        self.ids[body] = message_id

    def failed(self, body: str, error: BaseException) -> None:
        """The future of ``body`` failed; keep the reason it gave."""
        self.errors[body] = f"{type(error).__name__}: {error}"

    def stored(self, messages: Iterable[dict[str, Any]]) -> None:
        """Messages (as boto3 returns them) received from the server: drained or consumed."""
        for message in messages:
            self.copies.setdefault(message["Body"], set()).add(message["MessageId"])
            self.receives[message["MessageId"]] += 1

    def report(self) -> dict[str, Any]:
        """The numbers: sent, accepted, failed, delivered, handled, duplicates, lost, strays.

        ``duplicates`` are extra copies SQS stored (a send retried after SQS had stored it);
        ``redeliveries`` extra receives of one stored copy (visibility ran out, a crash).
        """
        sent = set(self.sent)
        lost = sorted(b for b in self.ids if b not in self.copies)
        wrong_id = sorted(
            b for b, mid in self.ids.items() if b in self.copies and mid not in self.copies[b]
        )
        return {
            "sent": len(self.sent),
            "accepted": len(self.ids),
            "failed": len(self.errors),
            "unresolved": len(sent - set(self.ids) - set(self.errors)),
            "delivered": len(set(self.copies) & sent),
            "handled": sum(1 for b in sent if self.handled[b]),
            "duplicates": sum(len(ids) - 1 for ids in self.copies.values()),
            "redeliveries": sum(count - 1 for count in self.receives.values()),
            "failed_but_delivered": sum(1 for b in self.errors if b in self.copies),
            "lost": len(lost),
            "lost_examples": lost[:5],
            "wrong_message_id": len(wrong_id),
            "strays": len(set(self.copies) - sent),
        }


def rss_kib() -> int:
    """Resident set size of this process now, in KiB (from /proc; peak RSS as a fallback)."""
    try:
        with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def spawn(module: str, spec: dict[str, Any], endpoint: str, stderr: IO[str]) -> Any:
    """Start ``tests/<module>.py`` as its own process, pointed at ``endpoint``."""
    env = {**os.environ, "AWS_ENDPOINT_URL_SQS": endpoint, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", f"tests.{module}", json.dumps(spec)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
    )  # fmt: skip


class ListenerLog:
    """Reads the listener's ``recv``/``done`` lines as they are written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.received: list[dict[str, str]] = []
        self.done: Counter[str] = Counter()

    def read(self) -> None:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as log:
            log.seek(self.offset)
            chunk = log.read()
        complete = chunk[: chunk.rfind("\n") + 1]
        self.offset += len(complete.encode())
        for line in complete.splitlines():
            event, message_id, body = line.split(" ", 2)
            if event == "recv":
                self.received.append({"MessageId": message_id, "Body": body})
            else:
                self.done[body] += 1


#: Listener settings for tests: short long polls, no idle sleep to speak of.
FAST: dict[str, Any] = {"wait_time": 1, "idle_sleep_max": 0.05}


def kill_and_restart(server: EmbeddedSQS, down_seconds: float) -> None:
    """SIGKILL the server (its state is gone), stay down a while, start anew on the same port."""
    assert server.process is not None
    os.kill(server.pid, signal.SIGKILL)
    server.process.wait(10)
    server.process = None
    time.sleep(down_seconds)
    server.start()


def threads_alive(listener: Any) -> bool:
    """Every worker thread and at least one poller of ``listener`` still runs."""
    names = [t.name for t in threading.enumerate() if t.is_alive()]
    prefix = f"sqsobs-{listener.telemetry.queue}-"
    workers = sum(1 for n in names if n.startswith(prefix + "worker-"))
    pollers = sum(1 for n in names if n.startswith(prefix + "poller"))
    return workers == listener.settings.worker_threads and pollers >= 1
