"""The lean transport answers, fails, retries and hooks exactly as the boto3 client it wraps.

Each test runs the same calls through a boto3 client and through its ``LeanSQSClient`` (on
the test server, or with answers a ``before-send`` hook gives both) and compares what callers
see: response dicts, exception classes and their ``response``, ``sqsobs.errors`` translations,
retries and event hooks. Signing, credentials and HTTP: ``tests/test_transport_wire.py``.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import (
    ClientError,
    ParamValidationError,
)
from botocore.stub import Stubber

from sqsobs import BatchProducer, Listener
from sqsobs._client import drop_inherited_connections
from sqsobs._transport import LeanSQSClient, with_transport
from sqsobs.errors import translate_client_error
from sqsobs.telemetry import error_type
from tests.transport_support import (
    answer,
    caught,
    error_kind,
    json_body,
    normalized,
    raw_client,
)

#: Response members that differ between any two calls (ids, handles, request ids, dates).
SIGNERS = ["botocore", "crt", "unsigned"]


@pytest.fixture
def pair(sqs_server: Any) -> tuple[Any, LeanSQSClient]:
    """A boto3 client (never wrapped, whatever SQSOBS_TEST_TRANSPORT says) and its lean twin."""
    client = raw_client(sqs_server.endpoint_url)
    return client, LeanSQSClient(raw_client(sqs_server.endpoint_url))


XRAY = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
ATTRIBUTES = {
    "text": {"DataType": "String", "StringValue": "héllo ✓"},
    "count": {"DataType": "Number", "StringValue": "42"},
    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xffbinary"},
    "as_str": {"DataType": "Binary.custom", "BinaryValue": "text blob"},
}


def _round(client: Any, url: str) -> list[Any]:
    """Send, receive, change visibility, delete: every hot operation, normalized answers."""
    entries = [
        {"Id": "a", "MessageBody": "body ✓ 1", "MessageAttributes": ATTRIBUTES},
        {"Id": "b", "MessageBody": "body 2", "DelaySeconds": 0,
         "MessageSystemAttributes": {"AWSTraceHeader": {"DataType": "String",
                                                        "StringValue": XRAY}}},
    ]  # fmt: skip
    answers: list[Any] = [client.send_message_batch(QueueUrl=url, Entries=entries)]
    received = client.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=1,
        VisibilityTimeout=30,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["AWSTraceHeader", "ApproximateReceiveCount"],
    )
    received["Messages"].sort(key=lambda m: m["Body"])
    answers.append(received)
    handles = [m["ReceiptHandle"] for m in received["Messages"]]
    change = [
        {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 5} for i, h in enumerate(handles)
    ]
    change.append({"Id": "bad", "ReceiptHandle": "not-a-handle", "VisibilityTimeout": 5})
    answers.append(client.change_message_visibility_batch(QueueUrl=url, Entries=change))
    delete = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)]
    answers.append(client.delete_message_batch(QueueUrl=url, Entries=delete))
    answers.append(client.receive_message(QueueUrl=url, WaitTimeSeconds=0))
    return [normalized(answer) for answer in answers]


def test_every_hot_operation_answers_as_boto3_does(pair: Any, make_queue: Any) -> None:
    boto, lean = pair
    boto_answers = _round(boto, make_queue("-boto3"))
    lean_answers = _round(lean, make_queue("-lean"))
    assert lean_answers == boto_answers
    with_attributes = [m for m in boto_answers[1]["Messages"] if "MessageAttributes" in m]
    blob = with_attributes[0]["MessageAttributes"]["blob"]["BinaryValue"]
    assert blob == b"\x00\xffbinary"  # bytes, as botocore decodes them
    assert boto_answers[2]["Failed"][0]["Id"] == "bad"  # the round did exercise a failed entry


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("receive_message", {"QueueUrl": "{missing}"}),
        ("send_message_batch", {"QueueUrl": "{url}", "Entries": []}),
        ("delete_message_batch", {"QueueUrl": "{url}",
                                  "Entries": [{"Id": "x", "ReceiptHandle": "h"}] * 2}),
        ("change_message_visibility_batch", {"QueueUrl": "{missing}",
                                             "Entries": [{"Id": "1", "ReceiptHandle": "h",
                                                          "VisibilityTimeout": 1}]}),
    ],
)  # fmt: skip
def test_server_errors_raise_the_same_exception_with_the_same_response(
    pair: Any, queue_url: str, operation: str, params: dict[str, Any]
) -> None:
    missing = queue_url.rsplit("/", 1)[0] + "/no-such-queue"
    filled = {k: v.format(url=queue_url, missing=missing) if isinstance(v, str) else v
              for k, v in params.items()}  # fmt: skip
    boto, lean = pair
    expected = caught(lambda: getattr(boto, operation)(**filled))
    got = caught(lambda: getattr(lean, operation)(**filled))
    assert isinstance(expected, ClientError)
    assert error_kind(got) == error_kind(expected)
    # The wrapped client's own class: `except client.exceptions.QueueDoesNotExist` works.
    assert type(got) is getattr(lean.exceptions, type(got).__name__)
    assert normalized(got.response) == normalized(expected.response)  # type: ignore[attr-defined]
    assert str(got) == str(expected)
    ours, theirs = translate_client_error(got), translate_client_error(expected)
    assert (type(ours), ours.code, ours.retryable, error_type(ours)) == (
        type(theirs),
        theirs.code,
        theirs.retryable,
        error_type(theirs),
    )


CANNED = {
    "throttled": (400, json_body(__type="com.amazonaws.sqs#RequestThrottled", message="slow"),
                  {"x-amzn-query-error": "RequestThrottled;Sender", "x-amzn-RequestId": "r-1"}),
    "kms throttled": (400, json_body(__type="com.amazonaws.sqs#KmsThrottled", message="kms"),
                      {"x-amzn-query-error": "KMS.ThrottlingException;Sender"}),
    "no query header": (400, json_body(__type="com.amazonaws.sqs#QueueDoesNotExist",
                                   message="gone"), {}),
    "access denied": (403, json_body(__type="AccessDenied", Message="no"), {}),
    "internal": (500, json_body(__type="InternalError", message="boom"),
                 {"x-amzn-query-error": "InternalError;Receiver"}),
    "unavailable html": (503, b"<html>Service Unavailable</html>", {}),
    "empty error": (502, b"", {}),
    "not json 200": (200, b"<html>captive portal</html>", {}),
    "empty 200": (200, b"", {"x-amzn-RequestId": "r-2"}),
    "received blobs": (200, json_body(Messages=[{
        "MessageId": "m", "ReceiptHandle": "h", "MD5OfBody": "x", "Body": "b",
        "MessageAttributes": {"k": {"DataType": "Binary", "BinaryValue": "AAEC",
                                    "BinaryListValues": ["AQ==", "Ag=="]}}}]), {}),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CANNED))
def test_canned_answers_parse_and_fail_identically(sqs_server: Any, case: str) -> None:
    status, body, headers = CANNED[case]
    results = []
    for client in (raw_client(sqs_server.endpoint_url),
                   LeanSQSClient(raw_client(sqs_server.endpoint_url))):  # fmt: skip
        client.meta.events.register("before-send.sqs", answer(status, body, **headers))
        try:
            results.append(("ok", client.receive_message(QueueUrl="https://q/1/q")))
        except Exception as error:  # the comparison is the assertion
            results.append((error_kind(error), getattr(error, "response", str(error))))
    assert results[1] == results[0]


def _retrying_pair(endpoint_url: str) -> tuple[Any, LeanSQSClient]:
    """A boto3 client with botocore's standard retries (3 attempts), and its lean twin."""

    def client() -> Any:
        return raw_client(endpoint_url, retries={"mode": "standard", "total_max_attempts": 3})

    return client(), LeanSQSClient(client())


def test_retries_follow_the_wrapped_clients_retry_mode(sqs_server: Any) -> None:
    answers = [
        CANNED["internal"],
        CANNED["throttled"],
        (200, json_body(Successful=[], Failed=[]), {}),
    ]
    results = []
    for client in _retrying_pair(sqs_server.endpoint_url):
        plan = list(answers)
        sent: list[bytes] = []

        def respond(
            request: Any, plan: list[Any] = plan, sent: list[bytes] = sent, **_: Any
        ) -> AWSResponse:
            sent.append(request.headers["Authorization"])
            status, body, headers = plan.pop(0)
            return answer(status, body, **headers)(request)

        client.meta.events.register("before-send.sqs.DeleteMessageBatch", respond)
        response = client.delete_message_batch(QueueUrl="https://q/1/q", Entries=[])
        results.append((response["ResponseMetadata"]["RetryAttempts"], len(sent), plan))
    assert results == [(2, 3, []), (2, 3, [])]


SKEWED = (
    400,
    json_body(__type="com.amazon.coral.service#InvalidSignatureException",
          message="Signature expired: 20261130T000000Z is now earlier than 20261130T001000Z"),
    {"x-amzn-query-error": "InvalidSignatureException;Sender"},
)  # fmt: skip


def test_clock_skew_is_neither_corrected_nor_retried_on_either_transport(sqs_server: Any) -> None:
    # botocore has no clock-skew correction (the Java and JavaScript SDKs have one): a request
    # signed with a skewed clock fails once, even with retries on; the lean transport does the
    # same, and sqsobs's own retries see the same error.
    outcomes = []
    for client in _retrying_pair(sqs_server.endpoint_url):
        calls: list[int] = []

        def respond(request: Any, calls: list[int] = calls, **_: Any) -> AWSResponse:
            calls.append(1)
            return answer(SKEWED[0], SKEWED[1], **SKEWED[2])(request)

        client.meta.events.register("before-send.sqs", respond)
        error = caught(lambda c=client: c.receive_message(QueueUrl="https://q/1/q"))
        translated = translate_client_error(error)
        outcomes.append((
            error_kind(error), len(calls), type(translated).__name__, translated.retryable,
            error.response,  # type: ignore[attr-defined]
        ))  # fmt: skip
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1:4] == (1, "SqsError", False)


def test_one_attempt_clients_make_one_attempt(pair: Any) -> None:
    outcomes = []
    for client in pair:
        calls: list[int] = []

        def respond(request: Any, calls: list[int] = calls, **_: Any) -> AWSResponse:
            calls.append(1)
            return answer(*CANNED["throttled"][:2], **CANNED["throttled"][2])(request)

        client.meta.events.register("before-send.sqs", respond)
        error = caught(lambda c=client: c.send_message_batch(QueueUrl="https://q/1/q",
                                                              Entries=[]))  # fmt: skip
        translated = translate_client_error(error)
        kind = (type(translated).__name__, error_type(translated))
        outcomes.append((error_kind(error), len(calls), *kind))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1:3] == (1, "Throttled")
    assert outcomes[0][0][0] == "RequestThrottled"


def test_parameter_validation_follows_the_wrapped_client(sqs_server: Any, queue_url: str) -> None:
    checked = LeanSQSClient(raw_client(sqs_server.endpoint_url, parameter_validation=True))
    with pytest.raises(ParamValidationError):
        checked.receive_message(QueueUrl=queue_url, MaxNumberOfMessages="ten")
    unchecked = LeanSQSClient(raw_client(sqs_server.endpoint_url))
    with pytest.raises(ClientError):  # sent as it is: the server refuses it
        unchecked.receive_message(QueueUrl=queue_url, MaxNumberOfMessages="ten")


def test_event_hooks_and_stubber_work_on_the_lean_client(sqs_server: Any, queue_url: str) -> None:
    lean = LeanSQSClient(raw_client(sqs_server.endpoint_url))
    seen: list[str] = []
    events = lean.meta.events
    events.register(
        "provide-client-params.sqs.SendMessageBatch",
        lambda params, **_: seen.append(f"params:{len(params['Entries'])}"),
    )
    events.register("before-call.sqs", lambda model, **_: seen.append(f"call:{model.name}"))
    events.register("before-send.sqs", lambda request, **_: seen.append("send"))
    events.register("after-call.sqs", lambda parsed, **_: seen.append(
        f"after:{len(parsed.get('Successful', []))}"))  # fmt: skip
    lean.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": "1", "MessageBody": "x"}])
    assert seen == ["params:1", "call:SendMessageBatch", "send", "after:1"]
    with Stubber(lean.wrapped) as stub:
        stub.add_response("receive_message", {"Messages": [{"Body": "stubbed"}]})
        assert lean.receive_message(QueueUrl=queue_url)["Messages"][0]["Body"] == "stubbed"


def test_other_operations_and_attributes_are_the_wrapped_clients(pair: Any, queue_url: str) -> None:
    boto, lean = pair
    name = queue_url.rsplit("/", 1)[1]
    assert lean.get_queue_url(QueueName=name)["QueueUrl"] == queue_url
    assert lean.meta is lean.wrapped.meta and lean.exceptions is lean.wrapped.exceptions
    assert LeanSQSClient(lean).wrapped is lean.wrapped  # never wrapped twice
    assert with_transport(boto, "lean").wrapped is boto
    assert with_transport(boto, "boto3") is boto and with_transport(lean, "boto3") is lean
    with pytest.raises(TypeError):
        lean.send_message_batch({"QueueUrl": queue_url})  # keyword arguments only, as boto3
    drop_inherited_connections(lean)  # after a fork: the shared pool is reset, calls go on
    assert lean.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)["ResponseMetadata"]


def test_the_setting_wraps_the_producers_and_listeners_client(
    make_client: Any, queue_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client()
    raw = client.wrapped if isinstance(client, LeanSQSClient) else client
    producer = BatchProducer(raw, transport="lean", flush_at_exit=False)
    try:
        assert isinstance(producer.client, LeanSQSClient) and producer.client.wrapped is raw
        assert producer.send(queue_url, "lean").result(timeout=10)
    finally:
        producer.close()
    monkeypatch.setenv("SQSOBS_TRANSPORT", "boto3")
    plain = BatchProducer(raw, flush_at_exit=False)
    plain.close()
    assert plain.client is raw
    monkeypatch.setenv("SQSOBS_TRANSPORT", "lean")
    received = threading.Event()
    listener = Listener(lambda m: received.set() or True, queue_url=queue_url, client=raw,
                        mode="per_message", wait_time=1, idle_sleep_max=0.0)  # fmt: skip
    with listener:
        assert received.wait(10)
        assert isinstance(listener._client, LeanSQSClient)


def test_lean_setting_leaves_a_client_that_is_not_botocores_as_it_is(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # SQSOBS_TRANSPORT=lean set for a whole deployment reached the testing kit's FakeSQS, which
    # is no botocore client: every send failed with "no attribute 'service_model'" (seen running
    # docs/testing.md's example on the lean transport). The in-memory client is used as it is.
    from sqsobs.testing import FakeSQS

    sqs = FakeSQS()
    url = sqs.queue("orders").url
    assert with_transport(sqs, "lean") is sqs
    monkeypatch.setenv("SQSOBS_TRANSPORT", "lean")
    with caplog.at_level("INFO", logger="sqsobs._transport"):
        with BatchProducer(sqs, default_batch_interval=0.05) as producer:
            assert producer.client is sqs
            assert producer.send(url, "kept").result(timeout=10)
    assert "not a botocore client" in caplog.text
