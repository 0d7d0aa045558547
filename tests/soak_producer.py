"""A producer process for the soak: send N unique messages with BatchProducer, record each fate.

Usage: ``python tests/soak_producer.py '<json spec>'`` with the endpoint in
``AWS_ENDPOINT_URL_SQS`` (the producer builds its own client, as in production). Spec keys:
``queue_url``, ``messages``, ``prefix``, ``out`` (path), ``threads`` (caller threads),
``warmup`` (messages sent before the start RSS is taken), ``rate`` (messages per second at
most, so the queue stays short; omit for as fast as possible), ``telemetry`` (keyword arguments for
configure_telemetry; omit to keep it off), ``producer`` (extra BatchProducer arguments).

Every future writes one line to ``out`` when it resolves: ``ok <body> <MessageId>`` or
``fail <body> <reason>``; a send() that raised writes ``rejected <body> <error>``. Futures are
not kept, so memory reflects the producer alone. At the end one JSON line goes to stdout:
counts, seconds and RSS (KiB) after warm-up, at the end, and the largest seen.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from concurrent.futures import Future
from typing import Any

from sqsobs import BatchProducer, SqsObsError
from tests.soak_common import rss_kib


class Outcomes:
    """Writes each future's fate as it resolves."""

    def __init__(self, path: str) -> None:
        self.lock = threading.Lock()
        self.out = open(path, "w", encoding="utf-8")  # noqa: SIM115
        self.ok = 0
        self.failed = 0
        self.rejected = 0

    def refused(self, body: str, error: SqsObsError) -> None:
        """send() itself refused the message (buffer full too long): counted, never dropped."""
        with self.lock:
            self.rejected += 1
            self.out.write(f"rejected {body} {type(error).__name__}\n")

    def watch(self, body: str, future: Future[str]) -> None:
        future.add_done_callback(lambda f: self._resolved(body, f))

    def _resolved(self, body: str, future: Future[str]) -> None:
        error = future.exception()
        with self.lock:
            if error is None:
                self.ok += 1
                self.out.write(f"ok {body} {future.result()}\n")
            else:
                self.failed += 1
                reason = f"{type(error).__name__}: {error}".replace("\n", " ")
                self.out.write(f"fail {body} {reason}\n")


def main() -> None:
    spec: dict[str, Any] = json.loads(sys.argv[1])
    if spec.get("telemetry") is not None:
        from sqsobs import configure_telemetry

        configure_telemetry("soak-producer", **spec["telemetry"])
    total = int(spec["messages"])
    threads = int(spec.get("threads", 4))
    warmup = int(spec.get("warmup", 0))
    outcomes = Outcomes(spec["out"])
    producer = BatchProducer(flush_at_exit=False, **spec.get("producer", {}))
    counter = iter(range(total))
    started = time.monotonic()
    lock = threading.Lock()
    marks: dict[str, int] = {}
    peak = [0]
    rate = float(spec.get("rate") or 0)

    def send() -> None:
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            if rate:
                time.sleep(max(0.0, started + index / rate - time.monotonic()))
            if index == warmup:
                marks["rss_start_kib"] = rss_kib()
            if index % 1000 == 0:
                peak[0] = max(peak[0], rss_kib())
            body = f"{spec['prefix']}-{index:07d}"
            try:
                outcomes.watch(body, producer.send(spec["queue_url"], body))
            except SqsObsError as error:
                outcomes.refused(body, error)

    workers = [threading.Thread(target=send) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    producer.close(timeout=120)
    end = rss_kib()
    with outcomes.lock:
        outcomes.out.close()
        report = {
            "sent": total,
            "rejected": outcomes.rejected,
            "delivered": outcomes.ok,
            "failed": outcomes.failed,
            "seconds": round(time.monotonic() - started, 2),
            "rss_start_kib": marks.get("rss_start_kib", end),
            "rss_end_kib": end,
            "rss_peak_kib": max(peak[0], end),
        }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
