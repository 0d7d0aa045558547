"""A listener process for tests/test_listener_sigterm.py: ``run_listeners()`` until SIGTERM.

Configured only by environment variables, as sqs-fargate-listener's ECS deployment is:
``QUEUE_URL``, ``WORKER_THREADS``, ``WAIT_TIME``, ``VISIBILITY_SECS``, ``AWS_ENDPOINT_URL_SQS``.
Every handler start and end is appended to ``LISTENER_APP_LOG``; the listeners' final counts are
printed as JSON on stdout after the drain.
"""

from __future__ import annotations

import json
import os
import threading
import time

from sqsobs import run_listeners, sqs_listener
from sqsobs.types import SqsMessage

LOG = os.environ["LISTENER_APP_LOG"]
HANDLER_SECONDS = float(os.environ.get("LISTENER_APP_HANDLER_SECONDS", "1.0"))
_lock = threading.Lock()


def record(event: str, message: SqsMessage) -> None:
    """Append one line (the test reads it while the process runs)."""
    with _lock, open(LOG, "a", encoding="utf-8") as log:
        log.write(f"{event} {message.body}\n")


@sqs_listener(mode="per_message")
def handle(message: SqsMessage) -> bool:
    """A slow handler: long enough to be caught mid-work by SIGTERM."""
    record("start", message)
    time.sleep(HANDLER_SECONDS)
    record("done", message)
    return True


if __name__ == "__main__":
    listeners = run_listeners()
    print(json.dumps([listener.stats.snapshot() for listener in listeners]), flush=True)
