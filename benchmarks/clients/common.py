"""What every contender client shares: its config, the measured phase, the result file."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

#: Body size of the producer scenarios' "small messages", in characters.
SMALL_BODY_CHARS = 100


@dataclass
class Phase:
    """Wall time and this process's user+sys CPU over the measured phase (all threads)."""

    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0


@dataclass
class Run:
    """One client run: its config (from argv) and what it reports back."""

    config: dict[str, Any]
    phase: Phase = field(default_factory=Phase)
    processed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    api_calls: Counter[str] = field(default_factory=Counter)

    @property
    def messages(self) -> int:
        """How many messages this run must send or process."""
        return int(self.config["messages"])

    @property
    def queues(self) -> list[str]:
        """Queue names, created by the harness before the run."""
        return list(self.config["queues"])

    def client_kwargs(self) -> dict[str, Any]:
        """Endpoint and region for boto3.client()/resource()."""
        return {"endpoint_url": self.config["endpoint_url"], "region_name": "us-east-1"}

    @contextmanager
    def measure(self) -> Iterator[None]:
        """Measure the block as the run's phase."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        yield
        self.phase.wall_seconds = time.perf_counter() - start
        end = resource.getrusage(resource.RUSAGE_SELF)
        self.phase.cpu_seconds = (end.ru_utime - usage.ru_utime) + (end.ru_stime - usage.ru_stime)

    def count_api_calls(self) -> None:
        """Count SQS calls by operation in this process (moto cannot count them for us).

        botocore's calls, and the lean transport's (``transport: lean`` runs only: the seed
        packages' environments do not have sqsobs' dependencies).
        """
        from botocore.client import BaseClient

        _count(BaseClient, "_make_api_call", self.api_calls)  # a private botocore method
        if self.config.get("transport") == "lean":
            from sqsobs._transport import LeanSQSClient

            _count(LeanSQSClient, "_call", self.api_calls)

    def finish(self) -> None:
        """Write the result file the harness reads."""
        result = {
            "wall_seconds": self.phase.wall_seconds,
            "cpu_seconds": self.phase.cpu_seconds,
            "processed": self.processed,
            "client_calls": dict(self.api_calls),
            "extra": self.extra,
        }
        with open(self.config["result_path"], "w", encoding="utf-8") as out:
            json.dump(result, out)


def _count(cls: Any, method: str, calls: Counter[str]) -> None:
    """Patch ``cls.method(self, operation_name, params)`` to count calls by operation."""
    original = getattr(cls, method)

    def counted(client: Any, operation_name: str, params: Any) -> Any:
        calls[operation_name] += 1
        return original(client, operation_name, params)

    setattr(cls, method, counted)


def start_run() -> Run:
    """Read the config (JSON in argv[1]) and set up what all clients need."""
    config = json.loads(sys.argv[1])
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    run = Run(config=config)
    if config.get("count_api_calls"):
        run.count_api_calls()
    return run


def small_body(index: int) -> str:
    """A small message body, distinct per index."""
    head = f'{{"i":{index},"p":"'
    return head + "x" * (SMALL_BODY_CHARS - len(head) - 2) + '"}'


def wait_until(predicate: Any, timeout_seconds: float, interval_seconds: float = 0.005) -> bool:
    """Poll ``predicate`` until true or the timeout passes."""
    deadline = time.monotonic() + timeout_seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval_seconds)
    return True
