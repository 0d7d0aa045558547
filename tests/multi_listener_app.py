"""One of several listener processes on one queue (tests/test_multi_listener.py).

Configured by sqs-fargate-listener's variables (``QUEUE_URL``, ``WORKER_THREADS``, ...) and
``AWS_ENDPOINT_URL_SQS``; runs ``run_listeners()`` with its own default clients until SIGTERM.
Appends to ``MULTI_LOG`` one line per event, ``<event> <message id> <time.time()> <body>``:
``recv`` for every message a ReceiveMessage returned (seen in botocore, or in the lean
transport's call when ``SQSOBS_TRANSPORT=lean``, under the listener),
``start`` and ``done`` around each handler call. Bodies starting with ``slow`` take
``MULTI_SLOW_SECONDS``. ``MULTI_HEALTH_PORT`` serves ``/ready``. The listeners' final counts are
printed as JSON after the drain.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from botocore.client import BaseClient

from sqsobs import run_listeners, sqs_listener
from sqsobs._transport import LeanSQSClient
from sqsobs.types import SqsMessage

LOG = os.environ["MULTI_LOG"]
SLOW_SECONDS = float(os.environ.get("MULTI_SLOW_SECONDS", "0.02"))
HEALTH_PORT = int(os.environ["MULTI_HEALTH_PORT"])
_lock = threading.Lock()
_log = open(LOG, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - open for the process


def record(event: str, message_id: str, body: str) -> None:
    """Append one event line (the test reads the file while the process runs)."""
    with _lock:
        _log.write(f"{event} {message_id} {time.time():.6f} {body}\n")


_make_api_call: Any = BaseClient._make_api_call
_lean_call: Any = LeanSQSClient._call


def _observed(client: Any, operation: str, params: Any) -> Any:
    # What the listener's own clients received, before the listener sees it.
    call = _lean_call if isinstance(client, LeanSQSClient) else _make_api_call
    answer = call(client, operation, params)
    if operation == "ReceiveMessage":
        for message in answer.get("Messages") or []:
            record("recv", message["MessageId"], message.get("Body", ""))
    return answer


BaseClient._make_api_call = _observed  # type: ignore[method-assign]
# The lean transport makes ReceiveMessage without botocore's _make_api_call: observe it there too
# (its other operations reach _make_api_call, so nothing is recorded twice).
LeanSQSClient._call = _observed  # type: ignore[method-assign,assignment]


@sqs_listener(mode="per_message", health_check_port=HEALTH_PORT)
def handle(message: SqsMessage) -> bool:
    """Record the call; slow bodies work for a while."""
    record("start", message.message_id, message.body)
    if message.body.startswith("slow"):
        time.sleep(SLOW_SECONDS)
    record("done", message.message_id, message.body)
    return True


if __name__ == "__main__":
    listeners = run_listeners()
    print(json.dumps([listener.stats.snapshot() for listener in listeners]), flush=True)
