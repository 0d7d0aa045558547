"""Property tests of local validation, with oracles written independently of sqsobs.limits.

- Anything at all given to ``validate_message`` either passes or raises a :class:`MessageError`:
  never a TypeError/KeyError from deep inside.
- The body rule matches SQS's character set, spelled out here as code point ranges.
- What the validator accepts, the real server accepts and returns intact, and the size SQS counts
  for the stored message (recomputed from what came back) is never more than ours.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqsobs.errors import MessageError, MessageTooLarge
from sqsobs.limits import message_size, validate_message

# SQS's allowed set: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF
ALLOWED_RANGES = [(0x9, 0x9), (0xA, 0xA), (0xD, 0xD), (0x20, 0xD7FF), (0xE000, 0xFFFD),
                  (0x10000, 0x10FFFF)]  # fmt: skip
EDGES = "\t\n\r \ud7ff\ue000\ufffd\U00010000\U0010ffff\x7f\x80\u2028"


def allowed(char: str) -> bool:
    return any(low <= ord(char) <= high for low, high in ALLOWED_RANGES)


any_text = st.text(st.characters(codec=None), max_size=30) | st.text(
    st.sampled_from("\x00\x08\x0b\x1f\ud800\udfff\ufffe\uffff" + EDGES + "ab"), max_size=10
)
valid_chars = st.characters(min_codepoint=0x9).filter(allowed) | st.sampled_from(EDGES)
valid_text = st.text(valid_chars, min_size=1, max_size=60)
junk = st.none() | st.integers() | st.floats() | st.binary(max_size=5) | any_text
attribute_value = st.fixed_dictionaries(
    {},
    optional={
        "DataType": st.sampled_from(["String", "Number", "Binary", "String.x", "Blob", ""]) | junk,
        "StringValue": any_text | junk,
        "BinaryValue": st.binary(max_size=5) | junk,
    },
)
junk_attributes = (
    st.none()
    | st.dictionaries(any_text | junk, attribute_value | junk, max_size=12)
    | st.lists(st.tuples(any_text, attribute_value), max_size=3)
    | junk
)


@settings(max_examples=400, deadline=None)
@given(
    body=any_text | junk,
    attrs=junk_attributes,
    options=st.fixed_dictionaries(
        {
            "delay_seconds": st.none() | st.integers(-5, 1000) | junk,
            "group_id": st.none() | any_text | junk,
            "deduplication_id": st.none() | any_text | junk,
            "fifo": st.booleans(),
        }
    ),
)
def test_anything_passes_or_raises_a_message_error(
    body: Any, attrs: Any, options: dict[str, Any]
) -> None:
    try:
        size = validate_message(body, attrs, **options)
    except MessageError:
        return
    assert isinstance(size, int) and size > 0


@settings(max_examples=400, deadline=None)
@given(body=any_text)
def test_body_rule_is_exactly_sqs_character_set(body: str) -> None:
    expected = bool(body) and all(allowed(c) for c in body)
    try:
        validate_message(body)
        accepted = True
    except MessageError:
        accepted = False
    assert accepted == expected, [hex(ord(c)) for c in body]


names = st.from_regex(r"[A-Za-z0-9_-]([A-Za-z0-9_-]|\.(?=[A-Za-z0-9_-])){0,30}", fullmatch=True)
numbers = st.one_of(
    st.integers(-(10**37), 10**37).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
)
attribute = st.one_of(
    st.builds(lambda v, t: {"DataType": t, "StringValue": v}, valid_text,
              st.sampled_from(["String", "String.json", "String.x-y_z"])),
    st.builds(lambda v: {"DataType": "Number", "StringValue": v}, numbers),
    st.builds(lambda v, t: {"DataType": t, "BinaryValue": v}, st.binary(min_size=1, max_size=40),
              st.sampled_from(["Binary", "Binary.gz"])),
)  # fmt: skip
attributes = st.dictionaries(names, attribute, max_size=10)
LIMIT = 2048


def stored_size(message: dict[str, Any]) -> int:
    """The size of a received message, counted from what the server returned."""
    total = len(message["Body"].encode("utf-8"))
    for name, attr in (message.get("MessageAttributes") or {}).items():
        value = attr.get("StringValue")
        raw = value.encode("utf-8") if value is not None else bytes(attr["BinaryValue"])
        total += len(name.encode("utf-8")) + len(attr["DataType"].encode("utf-8")) + len(raw)
    return total


@pytest.fixture(scope="module")
def small_queue(make_client: Any) -> Iterator[tuple[Any, str]]:
    client = make_client()
    url = client.create_queue(
        QueueName=f"t-hypothesis-{uuid.uuid4().hex[:12]}",
        Attributes={"MaximumMessageSize": str(LIMIT)},
    )["QueueUrl"]
    yield client, url
    client.delete_queue(QueueUrl=url)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=valid_text | st.text(valid_chars, min_size=500, max_size=1100), attrs=attributes)
def test_what_we_accept_the_server_stores_intact_and_no_bigger(
    small_queue: tuple[Any, str], body: str, attrs: dict[str, dict[str, Any]]
) -> None:
    client, url = small_queue
    try:
        ours = validate_message(body, attrs, max_size_bytes=LIMIT)
    except MessageTooLarge:
        assert message_size(body, attrs) > LIMIT
        return
    sent = client.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attrs)
    got = client.receive_message(
        QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=1, VisibilityTimeout=30
    )["Messages"]
    assert len(got) == 1 and got[0]["MessageId"] == sent["MessageId"]
    client.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    assert got[0]["Body"] == body
    returned = got[0].get("MessageAttributes") or {}
    assert returned == attrs
    assert stored_size(got[0]) <= ours  # never under-counted
    assert stored_size(got[0]) == ours
