"""Large payloads without a server: the pointer format, the offload rules, settings, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sqsobs import BatchProducer
from sqsobs._payloads._pointer import (
    LEGACY_POINTER_CLASS,
    LEGACY_SIZE_ATTRIBUTE,
    POINTER_CLASS,
    SIZE_ATTRIBUTE,
    PayloadPointer,
    new_key,
    pointer_of,
)
from sqsobs._payloads._rules import OffloadRules
from sqsobs._payloads._store import translate_s3_error
from sqsobs.errors import (
    ConfigError,
    InvalidMessage,
    MessageTooLarge,
    PayloadBucketUnavailable,
    PayloadError,
    PayloadNotFound,
)
from sqsobs.limits import message_size
from sqsobs.producer import ProducerSettings

MIB = 1024 * 1024


def _client_error(code: str, status: int, operation: str = "GetObject") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": "x"},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "r-1"},
    }
    return ClientError(response, operation)


# --- the pointer ---------------------------------------------------------------------------------
def test_pointer_body_is_the_extended_clients_json() -> None:
    pointer = PayloadPointer("my-bucket", "0b6f7c2e-1d7e-4f52-9a53-3f1f0d7b8e1a")
    assert json.loads(pointer.to_body()) == [
        POINTER_CLASS,
        {"s3BucketName": "my-bucket", "s3Key": "0b6f7c2e-1d7e-4f52-9a53-3f1f0d7b8e1a"},
    ]
    assert PayloadPointer.from_body(pointer.to_body()) == pointer


def test_keys_are_random_uuids() -> None:
    keys = {new_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(len(key) == 36 and key.count("-") == 4 for key in keys)


def test_a_received_message_is_offloaded_when_it_carries_the_size_attribute() -> None:
    legacy_body = json.dumps([LEGACY_POINTER_CLASS, {"s3BucketName": "bkt", "s3Key": "k1"}])
    for name in (SIZE_ATTRIBUTE, LEGACY_SIZE_ATTRIBUTE):
        raw = {
            "Body": legacy_body,
            "MessageAttributes": {name: {"DataType": "Number", "StringValue": "2097152"}},
        }
        assert pointer_of(raw) == PayloadPointer("bkt", "k1", 2_097_152)
    # A pointer-shaped body without the attribute is a plain message (the clients decide so).
    assert pointer_of({"Body": legacy_body}) is None


@pytest.mark.parametrize(
    "body",
    ["not json", "[]", '["x", {"s3BucketName": "b", "s3Key": "k"}]', f'["{POINTER_CLASS}", {{}}]'],
)
def test_a_malformed_pointer_is_a_payload_error(body: str) -> None:
    raw = {"Body": body, "MessageAttributes": {SIZE_ATTRIBUTE: {"StringValue": "5"}}}
    with pytest.raises(PayloadError, match="not an S3 pointer") as caught:
        pointer_of(raw)
    assert caught.value.code == "MalformedPointer"


# --- the rules -----------------------------------------------------------------------------------
def test_threshold_defaults_to_the_queue_limit_and_never_exceeds_it() -> None:
    default = OffloadRules("bkt", threshold_bytes=0, always=False)
    assert not default.wanted(size_bytes=MIB, limit_bytes=MIB)
    assert default.wanted(size_bytes=MIB + 1, limit_bytes=MIB)
    assert default.wanted(size_bytes=300_000, limit_bytes=262_144)  # a queue set lower
    low = OffloadRules("bkt", threshold_bytes=1000, always=False)
    assert low.wanted(size_bytes=1001, limit_bytes=MIB) and not low.wanted(
        size_bytes=1000, limit_bytes=MIB
    )
    high = OffloadRules("bkt", threshold_bytes=MIB, always=False)
    assert high.wanted(size_bytes=300_000, limit_bytes=262_144)
    always = OffloadRules("bkt", threshold_bytes=0, always=True)
    assert always.wanted(size_bytes=1, limit_bytes=MIB)


def test_offloaded_message_is_the_pointer_plus_the_size_attribute() -> None:
    attributes = {"kind": {"DataType": "String", "StringValue": "doc"}}
    body = "é" * MIB  # two bytes each in UTF-8
    offloaded = OffloadRules("bkt", 0, False).offload(body, attributes, limit_bytes=MIB)
    assert offloaded.payload == body.encode("utf-8")
    assert offloaded.attributes[SIZE_ATTRIBUTE] == {
        "DataType": "Number",
        "StringValue": str(2 * MIB),
    }
    assert offloaded.attributes["kind"] == attributes["kind"]
    assert "kind" in attributes and SIZE_ATTRIBUTE not in attributes  # the caller's dict untouched
    assert offloaded.size_bytes == message_size(offloaded.body, offloaded.attributes) < 500
    assert PayloadPointer.from_body(offloaded.body).bucket == "bkt"


def test_reserved_names_and_a_tenth_attribute_are_refused() -> None:
    rules = OffloadRules("bkt", 0, False)
    for name in (SIZE_ATTRIBUTE, LEGACY_SIZE_ATTRIBUTE):
        with pytest.raises(InvalidMessage, match="reserved"):
            rules.offload("x", {name: {"DataType": "Number", "StringValue": "1"}}, limit_bytes=MIB)
    ten = {f"a{i}": {"DataType": "String", "StringValue": "v"} for i in range(10)}
    with pytest.raises(InvalidMessage, match="takes 9"):
        rules.offload("x", ten, limit_bytes=MIB)


def test_attributes_alone_too_large_still_raise_message_too_large() -> None:
    big = {"blob": {"DataType": "Binary", "BinaryValue": b"x" * MIB}}
    with pytest.raises(MessageTooLarge):
        OffloadRules("bkt", 0, False).offload("x" * 10, big, limit_bytes=MIB)


# --- settings ------------------------------------------------------------------------------------
def test_offload_settings_resolve_from_arguments_and_environment() -> None:
    off = ProducerSettings.resolve(environ={})
    assert (off.large_payload_bucket, off.large_payload_threshold_bytes, off.always_offload) == (
        "",
        0,
        False,
    )
    environ = {
        "SQSOBS_LARGE_PAYLOAD_BUCKET": "my-bucket",
        "SQSOBS_LARGE_PAYLOAD_THRESHOLD_BYTES": "262144",
        "SQSOBS_ALWAYS_OFFLOAD": "true",
    }
    on = ProducerSettings.resolve(environ=environ)
    assert (on.large_payload_bucket, on.large_payload_threshold_bytes, on.always_offload) == (
        "my-bucket",
        262_144,
        True,
    )
    assert (
        ProducerSettings.resolve(large_payload_bucket="other", environ=environ).large_payload_bucket
        == "other"
    )


@pytest.mark.parametrize("bucket", ["ab", "Upper", "under_score", "-start", "a..b", "x" * 64])
def test_a_bad_bucket_name_is_a_config_error_naming_its_source(bucket: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ProducerSettings.resolve(large_payload_bucket=bucket, environ={})
    assert caught.value.setting == "large_payload_bucket"
    with pytest.raises(ConfigError) as caught:
        ProducerSettings.resolve(environ={"SQSOBS_LARGE_PAYLOAD_BUCKET": bucket})
    assert caught.value.setting == "SQSOBS_LARGE_PAYLOAD_BUCKET"


def test_threshold_bounds() -> None:
    with pytest.raises(ConfigError):
        ProducerSettings.resolve(large_payload_threshold_bytes=-1, environ={})
    with pytest.raises(ConfigError):
        ProducerSettings.resolve(large_payload_threshold_bytes=MIB + 1, environ={})


def test_producer_takes_the_offload_keywords_and_an_s3_client(sqs_client: Any) -> None:
    producer = BatchProducer(
        sqs_client, large_payload_bucket="my-bucket", always_offload=True, flush_at_exit=False
    )
    try:
        assert producer.settings.large_payload_bucket == "my-bucket"
        assert producer._offloader is not None and producer._offloader.rules.always
    finally:
        producer.close()
    plain = BatchProducer(sqs_client, flush_at_exit=False)
    assert plain._offloader is None
    plain.close()


# --- errors --------------------------------------------------------------------------------------
def test_s3_errors_translate_to_typed_payload_errors() -> None:
    pointer = PayloadPointer("bkt", "k1")
    missing = translate_s3_error(
        _client_error("NoSuchKey", 404), operation="GetObject", pointer=pointer
    )
    assert isinstance(missing, PayloadNotFound) and missing.code == "NoSuchKey"
    assert "missing" in str(missing) and "'k1'" in str(missing)
    no_bucket = translate_s3_error(
        _client_error("404", 404, "HeadBucket"), operation="HeadBucket", pointer=pointer
    )
    assert isinstance(no_bucket, PayloadBucketUnavailable) and no_bucket.code == "NoSuchBucket"
    denied = translate_s3_error(
        _client_error("AccessDenied", 403, "PutObject"), operation="PutObject", pointer=pointer
    )
    assert isinstance(denied, PayloadBucketUnavailable) and denied.code == "AccessDenied"
    assert "may not be used" in str(denied)
    slow = translate_s3_error(
        _client_error("SlowDown", 503, "PutObject"), operation="PutObject", pointer=pointer
    )
    assert type(slow) is PayloadError and slow.retryable
    broken = translate_s3_error(
        _client_error("InternalError", 500), operation="GetObject", pointer=pointer
    )
    assert type(broken) is PayloadError and broken.retryable and broken.code == "InternalError"
