"""sqs-fargate-listener's README examples, run as written with our import path, as real
processes against the test server.

The code blocks below are copied from its README; the only edits are the import path
(``sqs_fargate_listener`` -> ``sqsobs``), definitions of the application functions the README
leaves to the reader (``process_order``, ``send_email``), the ``__main__`` block for the
per-message fragment, and trailing spaces. Its queue URLs are placeholders (account
``123``, host ``…``): each is filled in with the URL the test server gave the queue of that name,
as a user fills in theirs (moto would take the placeholders, SQS and LocalStack would not);
``AWS_ENDPOINT_URL_SQS`` points boto3 at the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sqsobs import ConfigError, sqs_listener
from sqsobs.listener._registry import clear_listeners, registered_listeners
from tests.helpers import wait_for, with_queue_urls
from tests.listener_support import queue_counts

ROOT = Path(__file__).resolve().parent.parent

BATCH_APP = """
# app.py
from sqs_fargate_listener import sqs_listener, run_listeners
from sqs_fargate_listener.types import SqsMessage, BatchResult

@sqs_listener(
    queue_url="https://sqs.us-east-1.amazonaws.com/123/orders-queue",
    mode="batch",
    batch_size=10,
)
def handle_orders(messages: list[SqsMessage]) -> BatchResult:
    failed = []

    for msg in messages:
        try:
            # Parse message as JSON (cached after first use)
            data = msg.json
            print(f"🛒 Processing order {data['order_id']} for {data['customer']}")

            # do your logic here (save to DB, call APIs, etc.)
            process_order(data)

        except Exception as e:
            print(f"❌ Failed to process {msg.message_id}: {e}")
            failed.append(msg.receipt_handle)

    # Only successful messages will be deleted
    return BatchResult(failed_receipt_handles=failed)

if __name__ == "__main__":
    run_listeners()
"""

PER_MESSAGE_FRAGMENT = """
@sqs_listener(
    queue_url="https://sqs.us-east-1.amazonaws.com/123/email-queue",
    mode="per_message",
    worker_threads=4,
)
def handle_email(msg: SqsMessage) -> bool:
    data, err = msg.try_json()
    if err:
        print(f"Invalid JSON: {err}")
        return False

    print(f"📧 Sending email to {data['recipient']} ...")
    try:
        send_email(data)
        return True
    except Exception as e:
        print(f"Send failed: {e}")
        return False
"""

ATTRIBUTES_FRAGMENT = """
attrs = msg.message_attributes()
trace_id = attrs.get("trace_id")
print(f"Processing message trace_id={trace_id}")
"""

MULTIPLE_QUEUES_APP = """
from sqs_fargate_listener import sqs_listener, run_listeners
from sqs_fargate_listener.types import SqsMessage

@sqs_listener(queue_url="https://…/payments-queue", mode="batch")
def process_payments(msgs): ...

@sqs_listener(queue_url="https://…/notifications-queue", mode="per_message")
def send_notifications(msg): ...

if __name__ == "__main__":
    run_listeners()
"""

APPLICATION_CODE = """
def process_order(data):
    if data["order_id"] < 0:
        raise ValueError("negative order id")

def send_email(data):
    if "@" not in data["recipient"]:
        raise ValueError("not an address")
"""

MAIN = '\nif __name__ == "__main__":\n    run_listeners()\n'


def as_ours(code: str) -> str:
    return code.replace("sqs_fargate_listener", "sqsobs")


class App:
    """A README example running as its own process; stdout lines collected as they come."""

    def __init__(self, path: Path, endpoint_url: str) -> None:
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL_SQS": endpoint_url,
            "WAIT_TIME": "1",
            "IDLE_SLEEP_MAX": "0",
            "PYTHONUNBUFFERED": "1",
            "LOG_USE_COLOR": "0",
            "PYTHONPATH": str(ROOT),
        }
        self.process = subprocess.Popen(
            [sys.executable, str(path)],
            env=env,
            cwd=path.parent,
            text=True,
            encoding="utf-8",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.chunks: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        # Handlers print from several threads, so lines may interleave: keep the raw text.
        for line in self.process.stdout:
            self.chunks.append(line)

    def output(self) -> str:
        """Everything printed so far."""
        return "".join(self.chunks)

    def wait(self, done: Callable[[], bool], timeout: float) -> None:
        """Until ``done()``; fails at once, with the app's logs, if the app exits first."""
        settled = wait_for(lambda: self.process.poll() is not None or done(), timeout=timeout)
        if self.process.poll() is not None and not done():
            assert self.process.stderr is not None
            logs = self.process.stderr.read()
            raise AssertionError(f"the app exited ({self.process.returncode}) early:\n{logs}")
        assert settled, f"not done within {timeout} s; output so far: {self.output()!r}"

    def stop(self) -> str:
        """SIGTERM, wait for exit 0, return stderr (the logs)."""
        self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=20)
        self._reader.join(5)
        assert self.process.returncode == 0, err
        return err

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


@pytest.fixture
def readme_queues(sqs_client: Any) -> Iterator[Any]:
    """Create the README's queues by the names in its URLs; delete them afterwards."""
    created: list[str] = []

    def create(*names: str) -> list[str]:
        urls = [sqs_client.create_queue(QueueName=name)["QueueUrl"] for name in names]
        created.extend(urls)
        return urls

    yield create
    for url in created:
        with contextlib.suppress(Exception):
            sqs_client.delete_queue(QueueUrl=url)


def run_app(tmp_path: Path, code: str, sqs_server: Any, urls: dict[str, str]) -> App:
    """Run ``code`` with the example URLs of the queues in ``urls`` filled in."""
    path = tmp_path / "app.py"
    path.write_text(with_queue_urls(code, urls), encoding="utf-8")
    return App(path, sqs_server.endpoint_url)


def test_quick_start_batch_mode(
    tmp_path: Path, sqs_server: Any, sqs_client: Any, readme_queues: Any
) -> None:
    (orders,) = readme_queues("orders-queue")
    bodies = [json.dumps({"order_id": i, "customer": f"c{i}"}) for i in range(5)]
    bodies += ["not json", json.dumps({"order_id": -1, "customer": "bad"})]
    for body in bodies:
        sqs_client.send_message(QueueUrl=orders, MessageBody=body)
    app = run_app(
        tmp_path, APPLICATION_CODE + as_ours(BATCH_APP), sqs_server, {"orders-queue": orders}
    )
    try:
        app.wait(lambda: app.output().count("\n") >= len(bodies), timeout=20)
        logs = app.stop()
    finally:
        app.kill()
    output = app.output()
    assert output.count("Processing order") == 6  # 5 good orders and the one process_order rejects
    assert output.count("Failed to process") == 2
    assert "[INFO]" in logs  # plain, not colored, logs when not a TTY
    # The two failures stay on the queue (in flight until their visibility timeout).
    assert queue_counts(sqs_client, orders) == (0, 2)


def test_quick_start_per_message_mode(
    tmp_path: Path, sqs_server: Any, sqs_client: Any, readme_queues: Any
) -> None:
    (emails,) = readme_queues("email-queue")
    for body in [json.dumps({"recipient": f"u{i}@example.com"}) for i in range(3)] + ["{bad"]:
        sqs_client.send_message(QueueUrl=emails, MessageBody=body)
    imports = as_ours(BATCH_APP.split("@sqs_listener", maxsplit=1)[0])
    code = imports + APPLICATION_CODE + PER_MESSAGE_FRAGMENT + MAIN
    app = run_app(tmp_path, code, sqs_server, {"email-queue": emails})
    try:
        app.wait(lambda: app.output().count("\n") >= 4, timeout=20)
        app.stop()
    finally:
        app.kill()
    output = app.output()
    assert output.count("Sending email to") == 3
    assert output.count("Invalid JSON") == 1
    assert queue_counts(sqs_client, emails) == (0, 1)


def test_message_attributes_example(
    tmp_path: Path, sqs_server: Any, sqs_client: Any, readme_queues: Any
) -> None:
    (queue_url,) = readme_queues("attributes-queue")
    sqs = sqs_client
    # The README's producer snippet; its body placeholder ``{...}`` is filled in.
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=json.dumps({"n": 1}),
        MessageAttributes={"trace_id": {"DataType": "String", "StringValue": "abc-123"}},
    )
    handler = (
        "from sqsobs import sqs_listener, run_listeners\n"
        f"@sqs_listener(queue_url={queue_url!r}, mode='per_message')\n"
        "def handle(msg):\n"
        + "".join(f"    {line}\n" for line in ATTRIBUTES_FRAGMENT.strip().splitlines())
        + "    return True\n"
        + MAIN
    )
    app = run_app(tmp_path, handler, sqs_server, {})
    try:
        app.wait(lambda: "\n" in app.output(), timeout=20)
        app.stop()
    finally:
        app.kill()
    assert app.output() == "Processing message trace_id=abc-123\n"
    assert queue_counts(sqs_client, queue_url) == (0, 0)


def test_multiple_queues_in_one_app(
    tmp_path: Path, sqs_server: Any, sqs_client: Any, readme_queues: Any
) -> None:
    payments, notifications = readme_queues("payments-queue", "notifications-queue")
    sqs_client.send_message(QueueUrl=payments, MessageBody="pay")
    sqs_client.send_message(QueueUrl=notifications, MessageBody="notify")
    urls = {"payments-queue": payments, "notifications-queue": notifications}
    app = run_app(tmp_path, as_ours(MULTIPLE_QUEUES_APP), sqs_server, urls)
    try:
        # Both queues are polled concurrently: each message is taken off its queue.
        app.wait(
            lambda: (
                queue_counts(sqs_client, payments) == (0, 0)
                and queue_counts(sqs_client, notifications) == (0, 1)
            ),
            timeout=20,
        )
        logs = app.stop()
    finally:
        app.kill()
    # A batch handler returning None succeeded (Lambda's rule): deleted. A per-message handler
    # returning None did not return True: its message stays for redelivery, and it is logged.
    assert "handler returned a failure" in logs and "notifications-queue" in logs


#: What a user puts where the README's configuration example writes ``queue_url="..."``.
README_QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/orders"


def test_configuration_example_arguments_reach_the_listener() -> None:
    # The README's placeholder itself is no queue: refused when the decorator runs, as
    # sqs-fargate-listener refused it (issue 18: malformed queue URLs fail at decoration).
    with pytest.raises(ConfigError, match="queue_url"):
        sqs_listener(queue_url="...")
    clear_listeners()
    try:

        @sqs_listener(
            queue_url=README_QUEUE,
            mode="batch",
            wait_time=10,
            batch_size=5,
            visibility_secs=45,
            max_extend=600,
            worker_threads=8,
        )
        def handler(messages: Any) -> None:
            return None

        settings = registered_listeners()[0].build().settings
    finally:
        clear_listeners()
    assert (settings.queue_url, settings.mode, settings.wait_time, settings.batch_size) == (
        README_QUEUE,
        "batch",
        10,
        5,
    )
    assert (settings.visibility_secs, settings.max_extend, settings.worker_threads) == (45, 600, 8)
