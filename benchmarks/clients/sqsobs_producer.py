"""sqsobs' :class:`~sqsobs.producer.BatchProducer` on its own: throughput, memory bound, latency.

Roles (``config["role"]``):

- ``producer``: scenario 1 without dramatiq, ``send()`` round-robin over the queues, then close.
- ``memory``: scenario 4. The client stalls the null SQS itself (sends hang), offers messages
  until ``send()`` blocks, records how many were accepted and the RSS, lifts the stall and
  offers the rest; everything must arrive.
- ``latency``: scenario 5. Bodies start with ``lat:<time.time()>`` so the null SQS records
  each message's time from ``send()`` to its arrival; one message every
  ``interval_seconds`` on an absolute schedule (0: as fast as ``send()`` takes them).
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from typing import Any

from benchmarks.clients import sqsobs_setup
from benchmarks.clients.common import Run, small_body, start_run, wait_until


class Outcomes:
    """Counts futures as they resolve, so the caller keeps none of them (memory stays flat)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent = 0
        self.failed: dict[str, int] = {}

    def track(self, future: Any) -> None:
        """Count ``future`` when it resolves."""
        future.add_done_callback(self._done)

    def _done(self, future: Any) -> None:
        error = future.exception()
        with self.lock:
            if error is None:
                self.sent += 1
            else:
                name = type(error).__name__
                self.failed[name] = self.failed.get(name, 0) + 1


def rss_kib() -> int:
    """This process's resident set size now, KiB."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def stall(run: Run, stalled: bool) -> None:
    """Stall or release the null SQS (its control endpoint, not an SQS call)."""
    request = urllib.request.Request(
        f"{run.config['endpoint_url']}/_null/stall",
        data=json.dumps({"stalled": stalled}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def produce(run: Run, producer: Any, outcomes: Outcomes, telemetry: Any) -> None:
    """Scenario 1 through BatchProducer directly."""
    payloads = [small_body(i) for i in range(run.messages)]
    queues = run.queues
    count = len(queues)
    with run.measure():
        for i, payload in enumerate(payloads):
            outcomes.track(producer.send(queues[i % count], payload))
        producer.close()
        sqsobs_setup.flush(telemetry)


def memory(run: Run, producer: Any, outcomes: Outcomes) -> None:
    """Scenario 4: offer ``messages`` while the server is stalled, then release it."""
    queue = run.queues[0]
    body = small_body(0)
    offered = [0]
    errors: list[str] = []

    def offer() -> None:
        for _ in range(run.messages):
            try:
                outcomes.track(producer.send(queue, body))
            except Exception as error:  # a rejected send is a finding to report
                errors.append(repr(error))
            offered[0] += 1

    run.extra["rss_before_kib"] = rss_kib()
    stall(run, True)
    offering = threading.Thread(target=offer, name="offer")
    with run.measure():
        offering.start()
        blocked = _until_steady(offered, offering)
        run.extra["accepted_while_stalled"] = offered[0]
        run.extra["send_blocked_while_stalled"] = blocked
        run.extra["rss_while_stalled_kib"] = rss_kib()
        run.extra["queue_status_while_stalled"] = _jsonable(producer.get_queue_status(queue))
        stall(run, False)
        offering.join()
        producer.close()
    run.extra["send_errors"] = errors[:5]
    run.extra["send_error_count"] = len(errors)


def _until_steady(offered: list[int], offering: threading.Thread) -> bool:
    """Wait until the offered count stops growing for 1 s; True if send() is then blocked."""
    last, steady_since = -1, time.monotonic()
    while offering.is_alive():
        time.sleep(0.1)
        if offered[0] != last:
            last, steady_since = offered[0], time.monotonic()
        elif time.monotonic() - steady_since >= 1.0:
            return True
    return False


def latency(run: Run, producer: Any, outcomes: Outcomes) -> None:
    """Scenario 5: timestamped bodies at a steady rate, or as fast as possible."""
    queue = run.queues[0]
    interval = float(run.config["interval_seconds"])
    start = time.monotonic()
    with run.measure():
        for i in range(run.messages):
            if interval:
                # An absolute schedule, so send() time does not stretch the interval.
                time.sleep(max(0.0, start + i * interval - time.monotonic()))
            outcomes.track(producer.send(queue, f"lat:{time.time():.6f} {i}"))
        # Let the triggers (not close) send the tail, then close.
        settings = producer.settings
        wait_until(lambda: outcomes.sent >= run.messages, settings.default_batch_interval + 2)
        producer.close()
    run.extra["batch_interval_seconds"] = settings.default_batch_interval
    run.extra["idle_timeout_seconds"] = settings.default_idle_timeout


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def main() -> None:
    """Run the role the config names."""
    run = start_run()
    telemetry = sqsobs_setup.configure(run)
    from sqsobs.producer import BatchProducer

    options = dict(run.config.get("producer_options", {}))
    options.setdefault("transport", sqsobs_setup.transport(run))
    producer = BatchProducer(sqsobs_setup.sqs_client(run, pool=16), **options)
    run.extra["max_buffer_size_per_queue"] = producer.settings.max_buffer_size_per_queue
    run.extra["max_concurrent_sends"] = producer.settings.max_concurrent_sends
    outcomes = Outcomes()
    role = run.config["role"]
    if role == "producer":
        produce(run, producer, outcomes, telemetry)
    elif role == "memory":
        memory(run, producer, outcomes)
    else:
        latency(run, producer, outcomes)
    sqsobs_setup.flush(telemetry)
    run.processed = outcomes.sent
    run.extra["failed_futures"] = outcomes.failed
    run.finish()


if __name__ == "__main__":
    main()
