"""Ported from sqs-fargate-listener and dramatiq-sqs-batch: their users' code and tests still hold.

Each test is written the way a user of those packages wrote theirs (issue 18): ``SqsMessage``
built by hand, ``pytest.raises(ValueError, match=<upstream's wording>)``, ``except
RuntimeError`` around ``run_listeners()``, a probe reading ``/metrics``' flat keys, a broker
built with ``batch_size=50``.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from sqsobs.errors import ConfigError
from sqsobs.listener import (
    BatchResult,
    Listener,
    ListenerSettings,
    SqsMessage,
    clear_listeners,
    registered_listeners,
    run_listeners,
    sqs_listener,
)
from sqsobs.testing import free_port
from tests.conftest import REGION
from tests.helpers import wait_for

URL = "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
FAST = {"wait_time": 1, "idle_sleep_max": 0.0, "shutdown_timeout_seconds": 5.0}


@pytest.fixture(autouse=True)
def _empty_registry() -> Iterator[None]:
    clear_listeners()
    yield
    clear_listeners()


def _ok(message: SqsMessage) -> bool:
    return True


# --- 1. SqsMessage built as sqs-fargate-listener's dataclass ------------------------------------


def test_sqs_message_takes_upstreams_keywords_md_included() -> None:
    msg = SqsMessage(
        message_id="m-1",
        receipt_handle="rh-1",
        body='{"order_id": "123"}',
        attributes={"ApproximateReceiveCount": "2"},
        md={"MessageAttributes": {"tenant": {"DataType": "String", "StringValue": "acme"}}},
    )
    assert (msg.message_id, msg.receipt_handle, msg.json) == ("m-1", "rh-1", {"order_id": "123"})
    assert msg.receive_count == 2
    assert msg.message_attributes() == {"tenant": "acme"}
    assert msg.md == {
        "MessageAttributes": {"tenant": {"DataType": "String", "StringValue": "acme"}}
    }


def test_sqs_message_takes_upstreams_positional_order() -> None:
    md = {"MessageId": "m-2", "Body": "not json"}
    msg = SqsMessage("m-2", "rh-2", "not json", {"ApproximateReceiveCount": "1"}, md)
    assert (msg.message_id, msg.receipt_handle, msg.body) == ("m-2", "rh-2", "not json")
    assert msg.attributes == {"ApproximateReceiveCount": "1"}
    assert msg.md is md and msg.raw is md  # one field, two names
    data, error = msg.try_json()
    assert data is None and isinstance(error, ValueError)


def test_sqs_message_keeps_its_own_keywords_and_raw_is_md() -> None:
    raw = {"MessageId": "m-3", "ReceiptHandle": "rh-3", "Body": "x"}
    msg = SqsMessage(message_id="m-3", receipt_handle="rh-3", body="x", raw=raw, received_at=1.5)
    assert msg.md is raw and msg.raw is raw and msg.received_at == 1.5
    assert SqsMessage(message_id="m", receipt_handle="r", body="b").md == {}
    with pytest.raises(TypeError, match="md"):
        SqsMessage("m", "r", "b", {}, {"a": 1}, raw={"b": 2})  # two different raw messages
    with pytest.raises(TypeError):
        SqsMessage("m", "r", "b", {}, {}, "extra")  # upstream's five fields, no more


def test_sqs_messages_compare_by_their_fields_as_upstreams_dataclass_did() -> None:
    first = SqsMessage("m", "rh", "b", {"ApproximateReceiveCount": "1"}, {})
    assert first == SqsMessage("m", "rh", "b", {"ApproximateReceiveCount": "1"}, {})
    assert first != SqsMessage("m", "rh-2", "b", {"ApproximateReceiveCount": "1"}, {})
    assert first != "m"


def test_a_batch_handler_unit_test_as_upstreams_users_wrote_it() -> None:
    def handle(messages: list[SqsMessage]) -> BatchResult:
        failed = [m.receipt_handle for m in messages if m.json["amount"] < 0]
        return BatchResult(failed_receipt_handles=failed)

    messages = [
        SqsMessage(f"m{i}", f"rh{i}", json.dumps({"amount": a}), {}, {})
        for i, a in enumerate([5, -1, 7])
    ]
    assert handle(messages).failed_receipt_handles == ["rh1"]


# --- 3. upstream's error wording, our ConfigError ------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "upstream_match"),
    [
        ({"mode": "bogus"}, "mode must be one of"),
        ({"batch_size": 11}, "batch_size must be between 1 and 10"),
        ({"batch_size": 0}, "batch_size must be between 1 and 10"),
        ({"wait_time": 21}, "wait_time must be between 0 and 20"),
        ({"wait_time": -1}, "wait_time must be between 0 and 20"),
        ({"visibility_secs": 0}, "visibility_secs must be >= 1"),
        ({"worker_threads": 0}, "worker_threads must be >= 1"),
        ({"max_extend": -1}, "max_extend must be >="),
    ],
)
def test_bad_decorator_arguments_keep_upstreams_wording(
    arguments: dict[str, Any], upstream_match: str
) -> None:
    with pytest.raises(ValueError, match=upstream_match) as caught:
        sqs_listener(URL, **arguments)
    assert isinstance(caught.value, ConfigError)
    assert caught.value.setting == next(iter(arguments))
    # The class takes the same arguments and says the same.
    with pytest.raises(ConfigError, match=upstream_match):
        Listener(_ok, queue_url=URL, environ={}, **arguments)


def test_a_bad_environment_variable_is_still_named() -> None:
    with pytest.raises(ConfigError, match="BATCH_SIZE") as caught:
        ListenerSettings.resolve(queue_url=URL, environ={"BATCH_SIZE": "11"})
    assert caught.value.setting == "BATCH_SIZE"


def test_a_missing_queue_keeps_upstreams_wording() -> None:
    with pytest.raises(ValueError, match=r"queue_url is required \(or set QUEUE_URL env var\)"):
        ListenerSettings.resolve(environ={})


def test_a_queue_missing_at_decoration_is_reported_by_run_listeners_in_upstreams_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("QUEUE_URL", raising=False)
    sqs_listener()(_ok)  # QUEUE_URL may still be set before the listeners start
    with pytest.raises(ValueError, match="queue_url is required"):
        run_listeners(block=False, configure_logs=False, install_signal_handlers=False)


def test_run_listeners_without_listeners_raises_what_upstreams_except_clauses_catch() -> None:
    assert registered_listeners() == []
    with pytest.raises(RuntimeError, match="No listeners registered") as caught:
        run_listeners(block=False, configure_logs=False, install_signal_handlers=False)
    # Also sqsobs' own error tree: a ConfigError (so a ValueError) naming what is missing.
    assert isinstance(caught.value, ConfigError) and isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(
        "No listeners registered. Did you decorate a function with @sqs_listener?"
    )


# --- 4. malformed queue URLs fail at decoration --------------------------------------------------


@pytest.mark.parametrize(
    "queue",
    [
        "sqs://orders",
        "ftp://example.com/123456789012/orders",
        "",
        "   ",
        "https://",
        "https://sqs.us-east-1.amazonaws.com/",
        "orders queue",
        "orders/",
        "http://localhost:9324/000000000000/bad name",
        "x" * 81,
    ],
)
def test_a_malformed_queue_fails_at_decoration(queue: str) -> None:
    with pytest.raises(ConfigError, match="queue_url") as caught:
        sqs_listener(queue_url=queue)(_ok)
    assert caught.value.setting == "queue_url"
    assert registered_listeners() == []


def test_a_foreign_scheme_keeps_upstreams_wording() -> None:
    with pytest.raises(ValueError, match="queue_url must start with http:// or https://"):
        sqs_listener("sqs://orders")


@pytest.mark.parametrize(
    "queue",
    [
        "orders",
        "orders.fifo",
        "my_queue-1",
        "x" * 80,
        URL,
        "http://localhost:9324/000000000000/orders.fifo",
        "http://localhost:9324/queue/orders",
    ],
)
def test_queue_names_and_urls_are_accepted(queue: str) -> None:
    sqs_listener(queue_url=queue)(_ok)
    assert len(registered_listeners()) == 1


def test_a_malformed_queue_url_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="QUEUE_URL") as caught:
        ListenerSettings.resolve(environ={"QUEUE_URL": "sqs://orders"})
    assert caught.value.setting == "QUEUE_URL"


# --- 5. /metrics answers upstream's flat shape, with our detail ---------------------------------


def _get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return json.load(response)


UPSTREAM_KEYS = {
    "queue_url",
    "mode",
    "worker_threads",
    "uptime_seconds",
    "messages_processed",
    "messages_failed",
    "messages_filtered",
}


def test_metrics_answer_upstreams_flat_keys_and_our_listeners(
    make_client: Any, queue_url: str, sqs_client: Any
) -> None:
    for body in ("good", "bad", "skip"):
        sqs_client.send_message(QueueUrl=queue_url, MessageBody=body)
    port = free_port()
    listener = Listener(
        lambda m: m.body == "good",
        queue_url=queue_url,
        client=make_client(),
        mode="per_message",
        worker_threads=3,
        filter_fn=lambda m: m.body != "skip",
        health_check_port=port,
        **FAST,
    )
    with listener:
        assert wait_for(lambda: listener.stats.snapshot()["received"] >= 3, timeout=20)
        assert wait_for(lambda: _get(port, "/metrics")["messages_filtered"] == 1, timeout=10)
        time.sleep(0.05)
        body = _get(port, "/metrics")
    assert set(body) >= UPSTREAM_KEYS
    assert (body["queue_url"], body["mode"], body["worker_threads"]) == (
        queue_url,
        "per_message",
        3,
    )
    assert (body["messages_processed"], body["messages_failed"]) == (1, 1)
    assert isinstance(body["uptime_seconds"], float) and body["uptime_seconds"] >= 0
    # Our per-listener detail is still there.
    (detail,) = body["listeners"]
    assert detail["queue_url"] == queue_url and detail["succeeded"] == 1


def test_metrics_of_listeners_sharing_a_port_add_up(make_client: Any, make_queue: Any) -> None:
    port = free_port()
    first, second = make_queue("-a"), make_queue("-b")
    listeners = [
        Listener(_ok, queue_url=url, client=make_client(), worker_threads=w, health_check_port=port,
                 name=name, **FAST)
        for url, w, name in ((first, 2, "a"), (second, 3, "b"))
    ]  # fmt: skip
    for listener in listeners:
        listener.start()
    try:
        body = _get(port, "/metrics")
    finally:
        for listener in listeners:
            listener.stop(10)
    assert body["worker_threads"] == 5  # every handler slot behind this endpoint
    assert body["queue_url"] == first and body["mode"] == "batch"  # the first listener's
    assert [m["name"] for m in body["listeners"]] == ["a", "b"]


# --- 6. the broker clamps batch_size above 10, with a warning ------------------------------------


def test_the_broker_clamps_batch_size_above_ten_and_says_so(
    sqs_server: Any, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("dramatiq_sqs")
    from sqsobs.dramatiq import BatchSQSBroker

    with caplog.at_level(logging.WARNING, logger="sqsobs"):
        broker = BatchSQSBroker(
            namespace=queue_name[:60],
            endpoint_url=sqs_server.endpoint_url,
            region_name=REGION,
            batch_size=50,
        )
    try:
        assert broker.batch_size == 10 and broker.producer.settings.batch_size == 10
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert any("batch_size" in r.getMessage() and "50" in r.getMessage() for r in warnings)
    finally:
        broker.close()


@pytest.mark.parametrize(
    ("arguments", "environ"),
    [({"batch_size": 0}, {}), ({}, {"SQSOBS_BATCH_SIZE": "50"})],
)
def test_the_broker_still_refuses_a_batch_size_below_one_or_from_its_own_variable(
    sqs_server: Any,
    queue_name: str,
    monkeypatch: pytest.MonkeyPatch,
    arguments: dict[str, Any],
    environ: dict[str, str],
) -> None:
    pytest.importorskip("dramatiq_sqs")
    from sqsobs.dramatiq import BatchSQSBroker

    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=r"(?i)batch_size"):
        BatchSQSBroker(
            namespace=queue_name[:60],
            endpoint_url=sqs_server.endpoint_url,
            region_name=REGION,
            **arguments,
        )


# --- 7. max_extend=0 means "no extension" ---------------------------------------------------------


def test_max_extend_zero_is_accepted_and_documented_as_no_extension() -> None:
    assert ListenerSettings.resolve(queue_url=URL, max_extend=0, environ={}).max_extend == 0
    from sqsobs._settings import markdown_table

    row = next(
        line for line in markdown_table(ListenerSettings).splitlines() if "`max_extend`" in line
    )
    assert "0" in row and "no extension" in row
