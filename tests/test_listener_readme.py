"""The README's Listener example runs as written against the test server."""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sqsobs import request_shutdown, run_listeners
from sqsobs.listener._registry import clear_listeners, registered_listeners
from tests.helpers import wait_for, with_queue_urls
from tests.listener_support import queue_counts

README = Path(__file__).resolve().parent.parent / "README.md"


def listener_example() -> str:
    section = README.read_text(encoding="utf-8").split("## Listener", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the Listener section lost its example"
    return match.group(1)


@pytest.fixture
def readme_queues(sqs_client: Any) -> Iterator[tuple[str, str]]:
    urls = [sqs_client.create_queue(QueueName=n)["QueueUrl"] for n in ("orders-queue", "emails")]
    clear_listeners()
    yield urls[0], urls[1]
    clear_listeners()
    for url in urls:
        with contextlib.suppress(Exception):
            sqs_client.delete_queue(QueueUrl=url)


def test_readme_listener_example_runs(
    sqs_server: Any, sqs_client: Any, readme_queues: tuple[str, str], monkeypatch: Any
) -> None:
    orders, emails = readme_queues
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", sqs_server.endpoint_url)
    monkeypatch.setenv("WAIT_TIME", "1")
    monkeypatch.setenv("IDLE_SLEEP_MAX", "0")
    for order in (1, 2, -3):
        sqs_client.send_message(QueueUrl=orders, MessageBody=json.dumps({"id": order}))
    for body in (json.dumps({"to": "a@example.com"}), "not json"):
        sqs_client.send_message(QueueUrl=emails, MessageBody=body)
    sent: list[Any] = []

    def process(data: dict[str, int]) -> bool:  # the application's code
        return data["id"] > 0

    async def send(data: Any) -> bool:
        sent.append(data)
        return True

    namespace: dict[str, Any] = {"process": process, "send": send, "__name__": "readme"}
    example = with_queue_urls(listener_example(), {"orders-queue": orders})
    exec(compile(example, str(README), "exec"), namespace)
    assert [spec.options["mode"] for spec in registered_listeners()] == ["batch", "per_message"]
    failures: list[BaseException] = []

    def run() -> None:
        try:
            run_listeners(configure_logs=False)
        except BaseException as error:
            failures.append(error)

    runner = threading.Thread(target=run)
    runner.start()
    try:
        # Stops waiting as soon as run_listeners() gives up (a queue it cannot use, say).
        settled = wait_for(
            lambda: (
                bool(failures)
                or (
                    queue_counts(sqs_client, orders) == (0, 1)
                    and queue_counts(sqs_client, emails) == (0, 1)
                )
            ),
            timeout=15,
        )
    finally:
        request_shutdown()
        runner.join(15)
    assert not failures, failures
    assert settled
    assert not runner.is_alive()
    assert sent == [{"to": "a@example.com"}]
