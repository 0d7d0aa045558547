"""A listener process for the SIGTERM tests: ``run_listeners()`` until SIGTERM.

Configured only by environment variables, as sqs-fargate-listener's ECS deployment is:
``QUEUE_URL``, ``WORKER_THREADS``, ``WAIT_TIME``, ``VISIBILITY_SECS``, ``SHUTDOWN_TIMEOUT``,
``AWS_ENDPOINT_URL_SQS``. Every handler start and end is appended to ``LISTENER_APP_LOG``; the
listeners' final counts are printed as JSON on stdout after the drain. Handlers sleep
``LISTENER_APP_HANDLER_SECONDS``, except a body starting with ``warm`` (no sleep) or ``endless``
(10 minutes). ``LISTENER_APP_HEALTH_PORT`` serves ``/health`` and ``/ready`` on that port.
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
HEALTH_PORT = os.environ.get("LISTENER_APP_HEALTH_PORT")
_lock = threading.Lock()


def record(event: str, message: SqsMessage) -> None:
    """Append one line (the test reads it while the process runs)."""
    with _lock, open(LOG, "a", encoding="utf-8") as log:
        log.write(f"{event} {message.body}\n")


def seconds_for(body: str) -> float:
    """How long the handler works on ``body``."""
    if body.startswith("warm"):
        return 0.0
    if body.startswith("endless"):
        return 600.0
    return HANDLER_SECONDS


@sqs_listener(mode="per_message", health_check_port=int(HEALTH_PORT) if HEALTH_PORT else None)
def handle(message: SqsMessage) -> bool:
    """A slow handler: long enough to be caught mid-work by SIGTERM."""
    record("start", message)
    time.sleep(seconds_for(message.body))
    record("done", message)
    return True


if __name__ == "__main__":
    listeners = run_listeners()
    print(json.dumps([listener.stats.snapshot() for listener in listeners]), flush=True)
