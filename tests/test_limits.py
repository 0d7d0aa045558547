"""SQS quotas, the size rule, and local validation (hypothesis and the real server)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqsobs import limits
from sqsobs.errors import InvalidMessage, MessageError, MessageTooLarge

# Characters SQS allows in bodies and string values.
allowed_chars = st.characters(
    codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"
).filter(
    lambda c: (
        c in "\t\n\r" or 0x20 <= ord(c) <= 0xD7FF or 0xE000 <= ord(c) <= 0xFFFD or ord(c) >= 0x10000
    )
)
bodies = st.text(alphabet=allowed_chars, min_size=1, max_size=200)
names = st.from_regex(r"[A-Za-z0-9_-]([A-Za-z0-9_-]|\.(?=[A-Za-z0-9_-])){0,20}", fullmatch=True)
string_attr = st.builds(
    lambda v, t: {"DataType": t, "StringValue": v},
    st.text(alphabet=allowed_chars, min_size=1, max_size=50),
    st.sampled_from(["String", "String.custom"]),
)
number_attr = st.builds(
    lambda v: {"DataType": "Number", "StringValue": str(v)}, st.integers(-(10**30), 10**30)
)
binary_attr = st.builds(
    lambda v: {"DataType": "Binary", "BinaryValue": v}, st.binary(min_size=1, max_size=50)
)
attributes = st.dictionaries(
    names.filter(lambda n: not n.lower().startswith(("aws.", "amazon."))),
    st.one_of(string_attr, number_attr, binary_attr),
    max_size=10,
)


def expected_size(body: str, attrs: dict[str, dict[str, Any]]) -> int:
    """The size rule written out independently: UTF-8 body + name + type + value per attribute."""
    total = len(body.encode())
    for name, attr in attrs.items():
        value = attr.get("StringValue")
        raw = value.encode() if value is not None else attr["BinaryValue"]
        total += len(name.encode()) + len(attr["DataType"].encode()) + len(raw)
    return total


def test_quota_constants() -> None:
    assert limits.MAX_BATCH_ENTRIES == 10
    assert limits.MAX_MESSAGE_ATTRIBUTES == 10
    assert limits.MAX_MESSAGE_SIZE_BYTES == limits.MAX_BATCH_PAYLOAD_BYTES == 1_048_576
    assert limits.LEGACY_MAX_MESSAGE_SIZE_BYTES == 262_144
    assert limits.MAX_WAIT_TIME_SECONDS == 20
    assert limits.MAX_VISIBILITY_TIMEOUT_SECONDS == 12 * 3600
    assert limits.MAX_BATCH_ENTRY_ID_LENGTH == 80
    assert limits.MAX_GROUP_ID_LENGTH == 128


@given(body=bodies, attrs=attributes)
def test_message_size_follows_the_rule(body: str, attrs: dict[str, dict[str, Any]]) -> None:
    size = limits.message_size(body, attrs)
    assert size == expected_size(body, attrs)
    assert limits.validate_message(body, attrs) == size


@given(attrs=attributes, limit=st.integers(100, 5000))
def test_exact_limit_accepted_and_one_more_rejected(
    attrs: dict[str, dict[str, Any]], limit: int
) -> None:
    overhead = limits.message_size("", attrs)
    if overhead >= limit:
        return
    body = "é" * ((limit - overhead) // 2) + "x" * ((limit - overhead) % 2)
    assert limits.validate_message(body, attrs, max_size_bytes=limit) == limit
    with pytest.raises(MessageTooLarge) as info:
        limits.validate_message(body + "x", attrs, max_size_bytes=limit)
    assert info.value.size_bytes == limit + 1
    assert info.value.limit_bytes == limit


@pytest.mark.parametrize(
    ("body", "attrs", "kwargs"),
    [
        ("", None, {}),
        ("nul \x00 byte", None, {}),
        ("lone surrogate \ud800", None, {}),
        ("\ufffe", None, {}),
        ("ok", {f"a{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)}, {}),
        ("ok", {"AWS.trace": {"DataType": "String", "StringValue": "v"}}, {}),
        ("ok", {"amazon.x": {"DataType": "String", "StringValue": "v"}}, {}),
        ("ok", {"bad name": {"DataType": "String", "StringValue": "v"}}, {}),
        ("ok", {".lead": {"DataType": "String", "StringValue": "v"}}, {}),
        ("ok", {"a..b": {"DataType": "String", "StringValue": "v"}}, {}),
        ("ok", {"n" * 257: {"DataType": "String", "StringValue": "v"}}, {}),
        ("ok", {"empty": {"DataType": "String", "StringValue": ""}}, {}),
        ("ok", {"bin": {"DataType": "Binary", "BinaryValue": b""}}, {}),
        ("ok", {"t": {"DataType": "Blob", "StringValue": "v"}}, {}),
        ("ok", {"n": {"DataType": "Number", "StringValue": "abc"}}, {}),
        ("ok", None, {"delay_seconds": 901}),
        ("ok", None, {"delay_seconds": -1}),
        ("ok", None, {"group_id": "g" * 129}),
        ("ok", None, {"group_id": "spa ce"}),
        ("ok", None, {"deduplication_id": "d" * 129}),
        ("ok", None, {"fifo": True}),
        ("ok", None, {"fifo": True, "group_id": "g", "delay_seconds": 5}),
        (b"bytes", None, {}),
    ],
)
def test_invalid_messages_raise_typed_errors(body: Any, attrs: Any, kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidMessage):
        limits.validate_message(body, attrs, **kwargs)


def test_message_errors_are_value_errors() -> None:
    assert issubclass(MessageError, ValueError)


def test_server_accepts_exactly_the_limit(sqs_client: Any, queue_url: str) -> None:
    attrs = {"kind": {"DataType": "String", "StringValue": "big"}}
    limit = limits.MAX_MESSAGE_SIZE_BYTES
    body = "x" * (limit - limits.message_size("", attrs))
    assert limits.validate_message(body, attrs) == limit
    sqs_client.send_message(QueueUrl=queue_url, MessageBody=body, MessageAttributes=attrs)
    got = sqs_client.receive_message(
        QueueUrl=queue_url, MessageAttributeNames=["All"], WaitTimeSeconds=1
    )["Messages"][0]
    assert limits.message_size(got["Body"], got["MessageAttributes"]) == limit
    with pytest.raises(MessageTooLarge):
        limits.validate_message(body + "x", attrs)


def test_server_rejects_over_the_limit(sqs_client: Any, queue_url: str) -> None:
    """The server enforces the same limit on bodies that our validator enforces."""
    with pytest.raises(ClientError):
        sqs_client.send_message(
            QueueUrl=queue_url, MessageBody="x" * (limits.MAX_MESSAGE_SIZE_BYTES + 1)
        )


# The queue is shared on purpose: each example only sends one message to it.
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies, attrs=attributes)
def test_server_accepts_what_we_accept(
    sqs_client: Any, queue_url: str, body: str, attrs: dict[str, dict[str, Any]]
) -> None:
    limits.validate_message(body, attrs)
    sent = sqs_client.send_message(QueueUrl=queue_url, MessageBody=body, MessageAttributes=attrs)
    assert sent["MessageId"]
