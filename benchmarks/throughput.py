"""Scenarios 1 and 2: every contender against the same server, interleaved, several repetitions."""

from __future__ import annotations

import logging
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import Contender, run_client
from benchmarks.targets import Target
from benchmarks.venvs import seed_python

logger = logging.getLogger(__name__)

SEND_CALLS = ("SendMessageBatch", "SendMessage")
#: The production profile samples 1 trace in 10 (benchmarks.clients.sqsobs_setup): so do the
#: producers of the messages its listeners receive.
PRODUCTION_SAMPLED_EVERY = 10
CALL_KINDS = {
    "send": SEND_CALLS,
    "receive": ("ReceiveMessage",),
    "delete": ("DeleteMessageBatch", "DeleteMessage"),
    "visibility": ("ChangeMessageVisibilityBatch", "ChangeMessageVisibility"),
}


@dataclass
class Sample:
    """One client run of one contender."""

    scenario: str
    server: str
    contender: str
    rep: int
    messages: int
    ok: bool
    problem: str = ""
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    process_cpu_seconds: float = 0.0
    peak_rss_kib: int = 0
    arrived: int = 0
    left: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def msgs_per_second(self) -> float:
        """Messages over the measured phase's wall time."""
        return self.messages / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def process_cpu_us_per_msg(self) -> float:
        """The whole client process's CPU (start-up and imports too), microseconds per message."""
        return self.process_cpu_seconds * 1e6 / self.messages if self.messages else 0.0

    @property
    def cpu_us_per_msg(self) -> float:
        """Client user+sys CPU over the measured phase, microseconds per message."""
        return self.cpu_seconds * 1e6 / self.messages if self.messages else 0.0

    def calls_per_msg(self, kind: str) -> float:
        """SQS calls of one kind (send, receive, delete, visibility) per message."""
        total = sum(self.calls.get(op, 0) for op in CALL_KINDS[kind])
        return total / self.messages if self.messages else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the derived figures."""
        data = asdict(self)
        data["msgs_per_second"] = self.msgs_per_second
        data["cpu_us_per_msg"] = self.cpu_us_per_msg
        data["calls_per_msg"] = {kind: self.calls_per_msg(kind) for kind in CALL_KINDS}
        return data


@dataclass
class Summary:
    """Medians over one contender's repetitions on one server."""

    scenario: str
    server: str
    contender: str
    runs: int
    failed_runs: int
    messages: int
    msgs_per_second: float
    cpu_us_per_msg: float
    process_cpu_us_per_msg: float
    peak_rss_mib: float
    calls_per_msg: dict[str, float]
    all_delivered: bool
    #: Spans that reached the OTLP sink per message (None: telemetry off / nothing exported).
    spans_per_msg: float | None = None
    #: Runs whose OpenTelemetry SDK logged "Queue full, dropping Span" (spans lost in-process).
    runs_dropping_spans: int = 0


def summarise(samples: list[Sample]) -> list[Summary]:
    """Median figures per (scenario, server, contender), in first-seen order."""
    groups: dict[tuple[str, str, str], list[Sample]] = {}
    for sample in samples:
        groups.setdefault((sample.scenario, sample.server, sample.contender), []).append(sample)
    summaries = []
    for (scenario, server, contender), group in groups.items():
        good = [s for s in group if s.ok] or group
        summaries.append(
            Summary(
                scenario=scenario,
                server=server,
                contender=contender,
                runs=len(group),
                failed_runs=sum(not s.ok for s in group),
                messages=group[0].messages,
                msgs_per_second=statistics.median(s.msgs_per_second for s in good),
                cpu_us_per_msg=statistics.median(s.cpu_us_per_msg for s in good),
                process_cpu_us_per_msg=statistics.median(s.process_cpu_us_per_msg for s in good),
                peak_rss_mib=statistics.median(s.peak_rss_kib for s in good) / 1024,
                calls_per_msg={
                    kind: statistics.median(s.calls_per_msg(kind) for s in good)
                    for kind in CALL_KINDS
                },
                all_delivered=all(s.ok for s in group),
                spans_per_msg=_spans_per_msg(good),
                runs_dropping_spans=sum(
                    any("Queue full" in note for note in s.extra.get("log_notes", []))
                    for s in group
                ),
            )
        )
    return summaries


def _spans_per_msg(samples: list[Sample]) -> float | None:
    values = [
        s.extra["otlp"]["spans"] / s.messages
        for s in samples
        if "otlp" in s.extra and s.messages and s.extra["otlp"]["spans"] >= 0
    ]
    return statistics.median(values) if values else None


@dataclass
class Throughput:
    """A producer (role "producer") or listener (role "listener") scenario."""

    scenario: str
    role: str
    queues: int
    contenders: list[Contender]

    def run(
        self,
        target: Target,
        messages: int,
        reps: int,
        extra: dict[str, Any],
        deadline: float = float("inf"),
    ) -> list[Sample]:
        """All contenders, ``reps`` rounds, the order rotated each round.

        Every contender runs at least once; a further round starts only if it is expected to
        end before ``deadline`` (time.monotonic()), so the whole suite keeps its time budget.
        """
        samples = []
        round_seconds = 0.0
        for rep in range(reps):
            if rep and time.monotonic() + round_seconds > deadline:
                logger.warning(
                    "%s %s: %d of %d rounds (time budget)", self.scenario, target.name, rep, reps
                )
                break
            started = time.monotonic()
            shift = rep % len(self.contenders)
            for contender in self.contenders[shift:] + self.contenders[:shift]:
                count = max(10, int(messages * contender.share))
                sample = self.run_one(target, contender, count, rep, extra)
                logger.info(
                    "%s %s %-45s rep %d: %s %.0f msg/s %.0f us/msg",
                    self.scenario,
                    target.name,
                    contender.name,
                    rep,
                    "ok" if sample.ok else f"FAILED {sample.problem}",
                    sample.msgs_per_second,
                    sample.cpu_us_per_msg,
                )
                samples.append(sample)
            round_seconds = time.monotonic() - started
        return samples

    def run_one(
        self,
        target: Target,
        contender: Contender,
        messages: int,
        rep: int,
        extra: dict[str, Any],
        *,
        prefix: Sequence[str] = (),
    ) -> Sample:
        """One client process: fresh queues, (pre-load), run, read what the server saw."""
        sample = Sample(self.scenario, target.name, contender.name, rep, messages, ok=False)
        try:
            python = seed_python(contender.seed) if contender.seed else Path(sys.executable)
        except RuntimeError as exc:
            sample.problem = f"environment: {exc}"[:500]
            return sample
        queues = target.new_queues(self.queues, self.role[0])
        loaded = 0
        if self.role == "listener":
            # Under the production profile the messages come from producers that sample 1 in
            # 10 traces too: the listener's spans then follow its parent-based sampler.
            production = contender.config.get("telemetry") == "production"
            target.preload(queues[0], messages, PRODUCTION_SAMPLED_EVERY if production else 1)
            loaded = messages
        config = dict(extra, **contender.config)
        config.update(
            role=self.role,
            endpoint_url=target.endpoint_url,
            queues=queues,
            messages=messages,
            count_api_calls=target.counts_in_client,
        )
        target.begin()
        timeout = 60 + messages / 100
        client = run_client(python, contender.module, config, timeout, prefix, env=_env(config))
        outcome = target.outcome(queues, client.result.get("client_calls", {}), self.role, loaded)
        exported = target.exported()
        target.drop(queues)
        sample.wall_seconds = client.result.get("wall_seconds", 0.0)
        sample.cpu_seconds = client.result.get("cpu_seconds", 0.0)
        sample.process_cpu_seconds = client.process_cpu_seconds
        sample.peak_rss_kib = client.peak_rss_kib
        sample.arrived, sample.left, sample.calls = outcome.arrived, outcome.left, outcome.calls
        sample.extra = client.result.get("extra", {})
        if client.notes:
            sample.extra["log_notes"] = client.notes
        if exported["requests"]:
            sample.extra["otlp"] = exported
        sample.problem = _problem(client.ok, client.log, messages, outcome.arrived, outcome.left)
        sample.ok = not sample.problem
        return sample


#: botocore signs with awscrt whenever it is installed (the ``crt`` extra, in ``bench``): every
#: contender but the lean transport keeps botocore's pure-Python signer, as in the first round
#: and in the seed packages' environments; the lean transport signs with awscrt when it can.
PURE_PYTHON_SIGNER = {"BOTO_DISABLE_CRT": "true"}


def _env(config: dict[str, Any]) -> dict[str, str]:
    return {} if config.get("transport") == "lean" else dict(PURE_PYTHON_SIGNER)


def _problem(client_ok: bool, log: str, messages: int, arrived: int, left: int) -> str:
    if not client_ok:
        return f"client failed: {log[-600:]}"
    if arrived != messages or left:
        return f"{arrived} of {messages} delivered/processed, {left} left"
    return ""
