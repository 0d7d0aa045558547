"""Soak: a producer process and a listener process over the fault proxy, random faults throughout.

The short form (1,500 messages) runs in the default ``pytest`` run; the long form on demand::

    SQSOBS_SOAK_MESSAGES=100000 pytest -m soak -s tests/test_soak.py

At the end it prints sent, accepted, delivered, failed, handled, duplicates, redeliveries, lost
(must be 0) and both processes' RSS after warm-up and at the end (growth must stay within
``RSS_GROWTH_BOUND_KIB``).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SqsServer
from tests.faultproxy import Fault, FaultProxy
from tests.helpers import drain_queue, wait_for
from tests.soak_common import Ledger, ListenerLog, spawn

MESSAGES = int(os.environ.get("SQSOBS_SOAK_MESSAGES", "1500"))
#: Producer pace (messages/s) in the long form: about what the listener keeps up with against
#: moto, so the queue stays short (a queue of 80,000 makes every moto receive slow).
RATE = float(os.environ.get("SQSOBS_SOAK_RATE", "0" if MESSAGES <= 5000 else "100"))
#: Seconds each phase (producing, then handling the rest) may take.
PHASE_SECONDS = 60 + MESSAGES / 50 + (MESSAGES / RATE if RATE else 0)
pytestmark = [pytest.mark.soak, pytest.mark.timeout(int(2 * PHASE_SECONDS + 120))]
#: The longest each process's RSS may grow between warm-up and the end, whatever N is.
RSS_GROWTH_BOUND_KIB = 40 * 1024
HOT_CALLS = {
    "SendMessageBatch", "ReceiveMessage", "DeleteMessageBatch", "ChangeMessageVisibilityBatch"
}  # fmt: skip
FAULTS: list[tuple[Any, float]] = [
    ("throttle", 0.03),
    ("error500", 0.02),
    ("error503", 0.02),
    ("reset_request", 0.02),
    ("reset_response", 0.02),
]


def read_outcomes(path: Path, ledger: Ledger) -> int:
    """Feed the producer's per-message outcomes into ``ledger``; return the rejected count."""
    rejected = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        kind, body, detail = line.split(" ", 2)
        if kind == "ok":
            ledger.accepted(body, detail)
        elif kind == "fail":
            ledger.failed(body, RuntimeError(detail))
        else:
            rejected += 1
    return rejected


def test_soak_producer_and_listener_processes_over_the_faulty_proxy(
    sqs_server: SqsServer, sqs_client: Any, make_queue: Any, tmp_path: Path
) -> None:
    url = make_queue(VisibilityTimeout=5)
    bodies = [f"soak-{i:07d}" for i in range(MESSAGES)]
    ledger = Ledger(sent=bodies)
    log = ListenerLog(tmp_path / "listener.log")
    outcomes = tmp_path / "producer.out"
    warmup = max(200, MESSAGES // 10)
    timeout = PHASE_SECONDS
    started = time.monotonic()
    with (
        FaultProxy(sqs_server.endpoint_url, seed=MESSAGES) as proxy,
        (tmp_path / "listener.err").open("w") as listener_err,
        (tmp_path / "producer.err").open("w") as producer_err,
    ):
        for kind, probability in FAULTS:
            proxy.add(Fault(kind, operations=HOT_CALLS, probability=probability))
        proxy.add(Fault("latency", operations=HOT_CALLS, probability=0.03, seconds=0.05))
        listener = spawn(
            "soak_listener",
            {"queue_url": url, "log": str(log.path), "worker_threads": 8, "visibility_secs": 5,
             "warmup": warmup},
            proxy.endpoint_url, listener_err,
        )  # fmt: skip
        producer = spawn(
            "soak_producer",
            {"queue_url": url, "messages": MESSAGES, "prefix": "soak", "out": str(outcomes),
             "threads": 4, "warmup": warmup, "rate": RATE,
             "producer": {"max_retry_attempts": 10, "retry_backoff_base_seconds": 0.05,
                          "retry_backoff_max_seconds": 2.0, "default_batch_interval": 0.05}},
            proxy.endpoint_url, producer_err,
        )  # fmt: skip
        try:
            out, _ = producer.communicate(timeout=timeout)
            assert producer.returncode == 0, (tmp_path / "producer.err").read_text()
            produced = json.loads(out.splitlines()[-1])
            rejected = read_outcomes(outcomes, ledger)

            def all_handled() -> bool:
                log.read()
                return all(log.done[body] for body in ledger.ids)

            handled_in_time = wait_for(all_handled, timeout=timeout, interval=0.5)
            listener.send_signal(signal.SIGTERM)
            out, _ = listener.communicate(timeout=30)
            assert listener.returncode == 0, (tmp_path / "listener.err").read_text()
            consumed = json.loads(out.splitlines()[-1])
        finally:
            for process in (producer, listener):
                if process.poll() is None:
                    process.kill()
        faults = {k: v for k, v in proxy.counts.items() if k[1] != "forwarded"}
    log.read()
    ledger.stored(log.received)
    ledger.handled.update(log.done)
    leftover = drain_queue(sqs_client, url)
    ledger.stored(leftover)
    numbers = ledger.report()
    summary = {
        "messages": MESSAGES,
        "rate": RATE or "unpaced",
        "seconds": round(time.monotonic() - started, 1),
        "sent": numbers["sent"],
        "accepted": numbers["sent"] - rejected,
        "delivered": numbers["accepted"],
        "failed": numbers["failed"],
        "handled": numbers["handled"],
        "duplicates": numbers["duplicates"],
        "redeliveries": numbers["redeliveries"],
        "lost": numbers["lost"],
        "unresolved": numbers["unresolved"],
        "left_on_queue": len(leftover),
        "faults_injected": sum(faults.values()),
        "producer_rss_kib": [produced["rss_start_kib"], produced["rss_end_kib"]],
        "listener_rss_kib": [consumed["rss_start_kib"], consumed["rss_end_kib"]],
    }
    print("\nsoak: " + json.dumps(summary))
    assert handled_in_time, numbers
    assert numbers["lost"] == 0, numbers
    assert numbers["unresolved"] == 0 and numbers["strays"] == 0
    assert numbers["wrong_message_id"] == 0
    assert produced["delivered"] == numbers["accepted"] and produced["rejected"] == rejected
    assert numbers["handled"] >= numbers["accepted"]
    assert summary["faults_injected"] > MESSAGES / 100
    for report in (produced, consumed):
        assert report["rss_end_kib"] - report["rss_start_kib"] <= RSS_GROWTH_BOUND_KIB, report
