"""A listener process for the soak and the SIGKILL test: ``run_listeners()`` until SIGTERM.

Usage: ``python tests/soak_listener.py '<json spec>'`` with the endpoint in
``AWS_ENDPOINT_URL_SQS`` (the listener builds its own client, as in production). Spec keys:
``queue_url``, ``log`` (path), ``mode`` (per_message | batch), ``batch_size``,
``worker_threads``, ``visibility_secs``, ``handler_seconds`` (sleep per handler call),
``warmup`` (messages handled before the start RSS is taken), ``telemetry`` (keyword arguments
for configure_telemetry; omit to keep it off).

Each handler call appends ``recv <MessageId> <body>`` per message when it starts and
``done <MessageId> <body>`` when it succeeded (the log is flushed per line: a SIGKILLed process
leaves an exact record). After the drain one JSON line goes to stdout: the listener's counts and
RSS (KiB) after warm-up, at the end, and the largest seen.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from sqsobs import run_listeners, sqs_listener
from sqsobs.types import SqsMessage
from tests.soak_common import rss_kib


class Run:
    """What the handler writes and the RSS samples."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.lock = threading.Lock()
        self.log = open(spec["log"], "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        self.handled = 0
        self.rss_start: int | None = None
        self.rss_peak = 0
        self.sleep = float(spec.get("handler_seconds", 0.0))

    def write(self, event: str, messages: list[SqsMessage]) -> None:
        lines = "".join(f"{event} {m.message_id} {m.body}\n" for m in messages)
        with self.lock:
            self.log.write(lines)
            if event == "done":
                self.handled += len(messages)
                if self.rss_start is None and self.handled >= int(self.spec.get("warmup", 0)):
                    self.rss_start = rss_kib()

    def handle(self, messages: list[SqsMessage]) -> None:
        self.write("recv", messages)
        if self.sleep:
            time.sleep(self.sleep)
        self.write("done", messages)

    def sample(self, stop: threading.Event) -> None:
        while not stop.wait(0.5):
            self.rss_peak = max(self.rss_peak, rss_kib())


def main() -> None:
    spec: dict[str, Any] = json.loads(sys.argv[1])
    if spec.get("telemetry") is not None:
        from sqsobs import configure_telemetry

        configure_telemetry("soak-listener", **spec["telemetry"])
    run = Run(spec)
    options = {
        "queue_url": spec["queue_url"],
        "mode": spec.get("mode", "per_message"),
        "batch_size": spec.get("batch_size", 10),
        "worker_threads": spec.get("worker_threads", 4),
        "visibility_secs": spec.get("visibility_secs", 5),
        "wait_time": spec.get("wait_time", 1),
        "idle_sleep_max": 0.1,
        "shutdown_timeout_seconds": 10.0,
    }
    if options["mode"] == "batch":

        @sqs_listener(**options)
        def batch(messages: list[SqsMessage]) -> None:
            run.handle(messages)

    else:

        @sqs_listener(**options)
        def one(message: SqsMessage) -> bool:
            run.handle([message])
            return True

    stop = threading.Event()
    threading.Thread(target=run.sample, args=(stop,), daemon=True).start()
    print(json.dumps({"ready": True}), flush=True)
    listeners = run_listeners(configure_logs=False)
    stop.set()
    end = rss_kib()
    report = {
        "stats": [listener.stats.snapshot() for listener in listeners],
        "handled": run.handled,
        "rss_start_kib": run.rss_start or end,
        "rss_end_kib": end,
        "rss_peak_kib": max(run.rss_peak, end),
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
