"""One of several sqsobs listener processes on one queue, for the scaling table.

Talks to its parent on stdin/stdout: prints ``ready`` once imported and built, starts the
listener on ``go``, stops it on ``stop`` and prints its result as JSON: the process's user+sys
CPU from ``go`` to the end of the stop, and what its listener handled. The listener builds its own
two clients (``AWS_ENDPOINT_URL_SQS`` points them at the null SQS), as a deployed one does.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from typing import Any


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    """Run one listener process of the scaling benchmark."""
    config = json.loads(sys.argv[1])
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["AWS_ENDPOINT_URL_SQS"] = config["endpoint_url"]
    from sqsobs.listener import BatchResult, Listener

    def batch_handler(messages: list[Any]) -> BatchResult:
        return BatchResult(failed_receipt_handles=[])

    def message_handler(message: Any) -> bool:
        return True

    batch = config["mode"] == "batch"
    listener = Listener(
        batch_handler if batch else message_handler,
        queue_url=config["queue"],
        mode=config["mode"],
        wait_time=1,
        batch_size=10,
        worker_threads=config.get("worker_threads", 4),
    )
    print("ready", flush=True)
    sys.stdin.readline()  # go
    started = _cpu_seconds()
    listener.start()
    sys.stdin.readline()  # stop
    listener.stop(timeout_seconds=10)
    result = {"cpu_seconds": _cpu_seconds() - started, "succeeded": listener.stats.succeeded}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
