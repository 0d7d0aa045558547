"""The README's Producer section examples run against the test server."""

from __future__ import annotations

import base64
import contextlib
import re
from pathlib import Path
from typing import Any

import dramatiq
import dramatiq.broker
import pytest

from tests.helpers import drain_queue

README = Path(__file__).resolve().parent.parent / "README.md"


def producer_snippets() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Producer\n", 1)[1].split("\n## Listener\n", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_producer_section_has_two_examples() -> None:
    snippets = producer_snippets()
    assert len(snippets) == 2
    assert "BatchProducer()" in snippets[0] and "BatchSQSBroker(" in snippets[1]


def test_batch_producer_example(
    sqs_server: Any,
    sqs_client: Any,
    queue_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    queue_name = queue_url.rsplit("/", 1)[-1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", sqs_server.endpoint_url)
    code = producer_snippets()[0].replace('"orders"', repr(queue_name))
    exec(compile(code, "<README producer>", "exec"), {})
    message_id = capsys.readouterr().out.strip().splitlines()[-1]
    (message,) = drain_queue(sqs_client, queue_url)
    assert message["MessageId"] == message_id and message["Body"] == '{"id": 42}'
    assert message["MessageAttributes"]["kind"]["StringValue"] == "new"


def test_batch_sqs_broker_example(
    sqs_server: Any, sqs_client: Any, queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sqs_server.endpoint_url)
    code = producer_snippets()[1].replace('"my-app"', repr(queue_name))
    previous = dramatiq.broker.global_broker
    namespace: dict[str, Any] = {}
    try:
        exec(compile(code, "<README broker>", "exec"), namespace)
    finally:
        dramatiq.broker.global_broker = previous
    broker = namespace["broker"]
    url = broker.queues["default"].url
    try:
        assert url.endswith(f"/{queue_name}_default")
        (message,) = drain_queue(sqs_client, url)
        assert dramatiq.Message.decode(base64.b64decode(message["Body"])).args == ("hello",)
    finally:
        with contextlib.suppress(Exception):
            sqs_client.delete_queue(QueueUrl=url)
