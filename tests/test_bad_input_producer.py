"""What SQS would reject is refused by ``BatchProducer.send()`` before it is buffered: a typed
error naming the problem, counted and logged, nothing buffered, nothing reaching the server.

The test servers do not enforce several of these rules (moto stores NUL bodies, 11 attributes,
``AWS.`` names, empty values ...; LocalStack 11 attributes, non-numeric Numbers, delays over 900 s
...): each case also reports whether the server itself would have taken the message, which is
why the producer must check.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sqsobs import BatchProducer, InvalidMessage, MessageError
from sqsobs.limits import validate_message
from sqsobs.telemetry.catalog import MESSAGES_REJECTED
from tests.conftest import SqsServer
from tests.helpers import drain_queue
from tests.servers import LOCALSTACK, MOTO


def _attr(value: str = "v", data_type: str = "String") -> dict[str, Any]:
    return {"DataType": data_type, "StringValue": value}


# (case id, body, attributes, send() keyword arguments, words the error must contain)
STANDARD_CASES: list[tuple[str, Any, Any, dict[str, Any], str]] = [
    ("nul-in-body", "a\x00b", None, {}, "U+0000"),
    ("control-char-in-body", "bell \x07", None, {}, "U+0007"),
    ("lone-surrogate", "x\ud800y", None, {}, "U+D800"),
    ("non-character-fffe", "\ufffe", None, {}, "U+FFFE"),
    ("empty-body", "", None, {}, "empty"),
    ("bytes-body", b"raw", None, {}, "must be a str"),
    ("none-body", None, None, {}, "must be a str"),
    ("eleven-attributes", "ok", {f"a{i}": _attr() for i in range(11)}, {}, "11 message attr"),
    ("name-over-256", "ok", {"n" * 257: _attr()}, {}, "256"),
    ("aws-prefix", "ok", {"AWS.trace": _attr()}, {}, "reserved prefix"),
    ("amazon-prefix", "ok", {"amazon.id": _attr()}, {}, "reserved prefix"),
    ("space-in-name", "ok", {"bad name": _attr()}, {}, "may hold only"),
    ("unicode-name", "ok", {"naïve": _attr()}, {}, "may hold only"),
    ("leading-period", "ok", {".lead": _attr()}, {}, "period"),
    ("double-period", "ok", {"a..b": _attr()}, {}, "period"),
    ("empty-name", "ok", {"": _attr()}, {}, "non-empty"),
    ("empty-string-value", "ok", {"e": _attr("")}, {}, "non-empty str StringValue"),
    ("empty-binary-value", "ok", {"b": {"DataType": "Binary", "BinaryValue": b""}}, {}, "Binary"),
    ("str-as-binary", "ok", {"b": {"DataType": "Binary", "BinaryValue": "text"}}, {}, "bytes"),
    ("unknown-data-type", "ok", {"t": _attr("v", "Blob")}, {}, "unknown DataType"),
    ("missing-data-type", "ok", {"t": {"StringValue": "v"}}, {}, "DataType"),
    ("not-a-number", "ok", {"n": _attr("12abc", "Number")}, {}, "Number"),
    ("number-too-precise", "ok", {"n": _attr("1" * 39, "Number")}, {}, "38 digits"),
    ("nul-in-value", "ok", {"s": _attr("a\x00")}, {}, "U+0000"),
    ("attribute-not-a-mapping", "ok", {"s": "plain"}, {}, "mapping"),
    ("delay-over-900", "ok", None, {"delay_seconds": 901}, "delay_seconds"),
    ("negative-delay", "ok", None, {"delay_seconds": -1}, "delay_seconds"),
    ("float-delay", "ok", None, {"delay_seconds": 1.5}, "delay_seconds"),
    ("group-id-over-128", "ok", None, {"group_id": "g" * 129}, "group_id"),
    ("group-id-with-space", "ok", None, {"group_id": "a b"}, "group_id"),
    ("dedup-id-over-128", "ok", None, {"deduplication_id": "d" * 129}, "deduplication_id"),
    ("dedup-id-non-ascii", "ok", None, {"deduplication_id": "é"}, "deduplication_id"),
]

FIFO_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("fifo-without-group-id", {"deduplication_id": "d1"}, "group_id"),
    ("fifo-with-delay", {"group_id": "g", "deduplication_id": "d1", "delay_seconds": 5}, "FIFO"),
    ("fifo-without-dedup-id", {"group_id": "g"}, "deduplication_id"),
]


@pytest.fixture
def producer(sqs_client: Any) -> Iterator[BatchProducer]:
    with BatchProducer(sqs_client, default_batch_interval=0.01, flush_at_exit=False) as running:
        yield running


def _server_takes(client: Any, url: str, body: Any, attrs: Any, kwargs: dict[str, Any]) -> bool:
    """Whether the test server itself stores this message (botocore's own checks off)."""
    entry: dict[str, Any] = {"QueueUrl": url, "MessageBody": body}
    if attrs:
        entry["MessageAttributes"] = attrs
    names = {
        "delay_seconds": "DelaySeconds",
        "group_id": "MessageGroupId",
        "deduplication_id": "MessageDeduplicationId",
    }
    entry.update({names[k]: v for k, v in kwargs.items()})
    try:
        client.send_message(**entry)
    except Exception:
        return False
    return True


@pytest.mark.parametrize(
    "case", [pytest.param((b, a, k, w), id=i) for i, b, a, k, w in STANDARD_CASES]
)
def test_rejected_at_send_named_counted_and_never_sent(
    producer: BatchProducer, sqs_client: Any, queue_url: str, otel: Any, case: tuple[Any, ...]
) -> None:
    body, attrs, kwargs, words = case
    producer.send(queue_url, "valid before")  # the queue is known; its buffer works
    with pytest.raises(InvalidMessage) as caught:
        producer.send(queue_url, body, attributes=attrs, **kwargs)
    assert words in str(caught.value), caught.value
    assert caught.value.error_type == "invalid_message"
    status = producer.get_queue_status(queue_url)
    assert status["messages_rejected"] == 1
    name = queue_url.rsplit("/", 1)[-1]
    rejected = {"messaging.destination.name": name, "error.type": "invalid_message"}
    assert otel.total(MESSAGES_REJECTED.name, **rejected) == 1
    assert producer.flush(timeout=10)
    assert [m["Body"] for m in drain_queue(sqs_client, queue_url)] == ["valid before"]


@pytest.mark.parametrize(("kwargs", "words"), [pytest.param(k, w, id=i) for i, k, w in FIFO_CASES])
def test_fifo_rules_are_checked_before_buffering(
    producer: BatchProducer, sqs_client: Any, make_queue: Any, kwargs: dict[str, Any], words: str
) -> None:
    url = make_queue(fifo=True)
    with pytest.raises(InvalidMessage) as caught:
        producer.send(url, "fifo body", **kwargs)
    assert words in str(caught.value), caught.value
    assert producer.get_queue_status(url)["buffer_size"] == 0
    assert drain_queue(sqs_client, url) == []


#: What each server is known to store although SQS's SendMessage reference forbids it (measured
#: with botocore's own checks off; moto 5.2.5, LocalStack 4.13.1). Another server: not asserted.
KNOWN_LAX: dict[str, frozenset[str]] = {
    MOTO: frozenset({"nul-in-body", "eleven-attributes", "aws-prefix", "empty-string-value"}),
    LOCALSTACK: frozenset(
        [
            "eleven-attributes",
            "unicode-name",
            "double-period",
            "empty-name",
            "empty-binary-value",
            "str-as-binary",
            "not-a-number",
            "number-too-precise",
            "delay-over-900",
            "negative-delay",
            "float-delay",
        ]
    ),
}


def test_the_test_server_stores_what_sqs_rejects(
    sqs_server: SqsServer, make_client: Any, queue_url: str
) -> None:
    """Why the producer must check: the server under test takes these (measured, not assumed).

    If the server ever starts rejecting one of them, this test says so and the list shrinks.
    """
    raw = make_client(parameter_validation=False)
    lax = [
        case_id
        for case_id, body, attrs, kwargs, _ in STANDARD_CASES
        if isinstance(body, str) and _server_takes(raw, queue_url, body, attrs, kwargs)
    ]
    print(f"the {sqs_server.kind} server stores {len(lax)} kinds of invalid message: {lax}")
    for case_id, body, attrs, kwargs, _ in STANDARD_CASES:
        if case_id in lax:
            with pytest.raises(MessageError):
                validate_message(body, attrs, **kwargs)
    assert KNOWN_LAX.get(sqs_server.kind, frozenset()) <= set(lax)
