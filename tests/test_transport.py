"""The lean transport answers, fails, signs and hooks exactly as the boto3 client it wraps.

Each test runs the same calls through a boto3 client and through its ``LeanSQSClient`` (on
the test server, or with answers a ``before-send`` hook gives both) and compares what callers
see: response dicts, exception classes and their ``response``, ``sqsobs.errors`` translations,
retries, event hooks, signatures and credentials.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials, RefreshableCredentials
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ParamValidationError,
    ProxyConnectionError,
    ReadTimeoutError,
    SSLError,
)
from botocore.stub import Stubber

from sqsobs import BatchProducer, Listener
from sqsobs._client import drop_inherited_connections
from sqsobs._transport import LeanSQSClient, with_transport
from sqsobs.errors import translate_client_error
from sqsobs.telemetry import error_type
from tests.conftest import REGION

#: Response members that differ between any two calls (ids, handles, request ids, dates).
VOLATILE = {"MessageId", "ReceiptHandle", "RequestId", "SentTimestamp",
            "ApproximateFirstReceiveTimestamp", "SequenceNumber"}  # fmt: skip
VOLATILE_HEADERS = {"date", "x-amzn-requestid", "content-length"}
SIGNERS = ["botocore", "crt", "unsigned"]


def _normalized(value: Any, key: str = "") -> Any:
    """``value`` with what differs between two identical calls replaced by a marker."""
    if key in VOLATILE:
        return "<volatile>"
    if key == "HTTPHeaders":
        return sorted(set(value) - VOLATILE_HEADERS)
    if isinstance(value, dict):
        return {k: _normalized(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalized(v, key) for v in value]
    return value


def _raw_client(endpoint_url: str, **config: Any) -> Any:
    settings: dict[str, Any] = {"retries": {"total_max_attempts": 1}, "parameter_validation": False}
    settings.update(config)
    return boto3.session.Session().client(
        "sqs", endpoint_url=endpoint_url, region_name=REGION, config=Config(**settings)
    )


@pytest.fixture
def pair(sqs_server: Any) -> tuple[Any, LeanSQSClient]:
    """A boto3 client (never wrapped, whatever SQSOBS_TEST_TRANSPORT says) and its lean twin."""
    client = _raw_client(sqs_server.endpoint_url)
    return client, LeanSQSClient(_raw_client(sqs_server.endpoint_url))


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
    return [_normalized(answer) for answer in answers]


def test_every_hot_operation_answers_as_boto3_does(pair: Any, make_queue: Any) -> None:
    boto, lean = pair
    boto_answers = _round(boto, make_queue("-boto3"))
    lean_answers = _round(lean, make_queue("-lean"))
    assert lean_answers == boto_answers
    with_attributes = [m for m in boto_answers[1]["Messages"] if "MessageAttributes" in m]
    blob = with_attributes[0]["MessageAttributes"]["blob"]["BinaryValue"]
    assert blob == b"\x00\xffbinary"  # bytes, as botocore decodes them
    assert boto_answers[2]["Failed"][0]["Id"] == "bad"  # the round did exercise a failed entry


def _kind(error: BaseException) -> list[str]:
    """An exception's class and bases by name: each client has its own modeled classes."""
    return [cls.__qualname__ for cls in type(error).__mro__]


def _caught(call: Callable[[], Any]) -> BaseException:
    with pytest.raises(Exception) as caught:
        call()
    return caught.value


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
    expected = _caught(lambda: getattr(boto, operation)(**filled))
    got = _caught(lambda: getattr(lean, operation)(**filled))
    assert isinstance(expected, ClientError)
    assert _kind(got) == _kind(expected)
    # The wrapped client's own class: `except client.exceptions.QueueDoesNotExist` works.
    assert type(got) is getattr(lean.exceptions, type(got).__name__)
    assert _normalized(got.response) == _normalized(expected.response)  # type: ignore[attr-defined]
    assert str(got) == str(expected)
    ours, theirs = translate_client_error(got), translate_client_error(expected)
    assert (type(ours), ours.code, ours.retryable, error_type(ours)) == (
        type(theirs),
        theirs.code,
        theirs.retryable,
        error_type(theirs),
    )


def _answer(status: int, body: bytes, **headers: str) -> Callable[..., AWSResponse]:
    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield body

    def respond(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, status, headers, Raw())

    return respond


def _json(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


CANNED = {
    "throttled": (400, _json(__type="com.amazonaws.sqs#RequestThrottled", message="slow"),
                  {"x-amzn-query-error": "RequestThrottled;Sender", "x-amzn-RequestId": "r-1"}),
    "kms throttled": (400, _json(__type="com.amazonaws.sqs#KmsThrottled", message="kms"),
                      {"x-amzn-query-error": "KMS.ThrottlingException;Sender"}),
    "no query header": (400, _json(__type="com.amazonaws.sqs#QueueDoesNotExist",
                                   message="gone"), {}),
    "access denied": (403, _json(__type="AccessDenied", Message="no"), {}),
    "internal": (500, _json(__type="InternalError", message="boom"),
                 {"x-amzn-query-error": "InternalError;Receiver"}),
    "unavailable html": (503, b"<html>Service Unavailable</html>", {}),
    "empty error": (502, b"", {}),
    "not json 200": (200, b"<html>captive portal</html>", {}),
    "empty 200": (200, b"", {"x-amzn-RequestId": "r-2"}),
    "received blobs": (200, _json(Messages=[{
        "MessageId": "m", "ReceiptHandle": "h", "MD5OfBody": "x", "Body": "b",
        "MessageAttributes": {"k": {"DataType": "Binary", "BinaryValue": "AAEC",
                                    "BinaryListValues": ["AQ==", "Ag=="]}}}]), {}),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CANNED))
def test_canned_answers_parse_and_fail_identically(sqs_server: Any, case: str) -> None:
    status, body, headers = CANNED[case]
    results = []
    for client in (_raw_client(sqs_server.endpoint_url),
                   LeanSQSClient(_raw_client(sqs_server.endpoint_url))):  # fmt: skip
        client.meta.events.register("before-send.sqs", _answer(status, body, **headers))
        try:
            results.append(("ok", client.receive_message(QueueUrl="https://q/1/q")))
        except Exception as error:  # the comparison is the assertion
            results.append((_kind(error), getattr(error, "response", str(error))))
    assert results[1] == results[0]


def test_retries_follow_the_wrapped_clients_retry_mode(sqs_server: Any) -> None:
    answers = [CANNED["internal"], CANNED["throttled"], (200, _json(Successful=[], Failed=[]), {})]
    results = []
    for wrap in (False, True):
        client = _raw_client(
            sqs_server.endpoint_url, retries={"mode": "standard", "total_max_attempts": 3}
        )
        if wrap:
            client = LeanSQSClient(client)
        plan = list(answers)
        sent: list[bytes] = []

        def respond(
            request: Any, plan: list[Any] = plan, sent: list[bytes] = sent, **_: Any
        ) -> AWSResponse:
            sent.append(request.headers["Authorization"])
            status, body, headers = plan.pop(0)
            return _answer(status, body, **headers)(request)  # fmt: skip

        client.meta.events.register("before-send.sqs.DeleteMessageBatch", respond)
        answer = client.delete_message_batch(QueueUrl="https://q/1/q", Entries=[])
        results.append((answer["ResponseMetadata"]["RetryAttempts"], len(sent), plan))
    assert results == [(2, 3, []), (2, 3, [])]


SKEWED = (
    400,
    _json(__type="com.amazon.coral.service#InvalidSignatureException",
          message="Signature expired: 20261130T000000Z is now earlier than 20261130T001000Z"),
    {"x-amzn-query-error": "InvalidSignatureException;Sender"},
)  # fmt: skip


def test_clock_skew_is_neither_corrected_nor_retried_on_either_transport(sqs_server: Any) -> None:
    # botocore has no clock-skew correction (the Java and JavaScript SDKs have one): a request
    # signed with a skewed clock fails once, even with retries on; the lean transport does the
    # same, and sqsobs's own retries see the same error.
    outcomes = []
    for wrap in (False, True):
        client = _raw_client(
            sqs_server.endpoint_url, retries={"mode": "standard", "total_max_attempts": 3}
        )
        if wrap:
            client = LeanSQSClient(client)
        calls: list[int] = []

        def respond(request: Any, calls: list[int] = calls, **_: Any) -> AWSResponse:
            calls.append(1)
            return _answer(SKEWED[0], SKEWED[1], **SKEWED[2])(request)

        client.meta.events.register("before-send.sqs", respond)
        error = _caught(lambda c=client: c.receive_message(QueueUrl="https://q/1/q"))
        translated = translate_client_error(error)
        outcomes.append((_kind(error), len(calls), type(translated).__name__, translated.retryable,
                         error.response))  # type: ignore[attr-defined]  # fmt: skip
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1:4] == (1, "SqsError", False)


def test_one_attempt_clients_make_one_attempt(pair: Any) -> None:
    outcomes = []
    for client in pair:
        calls: list[int] = []

        def respond(request: Any, calls: list[int] = calls, **_: Any) -> AWSResponse:
            calls.append(1)
            return _answer(*CANNED["throttled"][:2], **CANNED["throttled"][2])(request)

        client.meta.events.register("before-send.sqs", respond)
        error = _caught(lambda c=client: c.send_message_batch(QueueUrl="https://q/1/q",
                                                              Entries=[]))  # fmt: skip
        translated = translate_client_error(error)
        kind = (type(translated).__name__, error_type(translated))
        outcomes.append((_kind(error), len(calls), *kind))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1:3] == (1, "Throttled")
    assert outcomes[0][0][0] == "RequestThrottled"


def test_connection_errors_are_botocores(sqs_server: Any) -> None:
    closed = "http://127.0.0.1:9"  # discard port: nothing listens there
    for client in (_raw_client(closed), LeanSQSClient(_raw_client(closed))):
        error = _caught(lambda c=client: c.receive_message(QueueUrl=f"{closed}/1/q"))
        assert isinstance(error, EndpointConnectionError)
        assert translate_client_error(error).retryable


def test_the_clients_proxy_setting_is_used(sqs_server: Any) -> None:
    proxies = {"http": "http://127.0.0.1:9", "https": "http://127.0.0.1:9"}
    for client in (
        _raw_client(sqs_server.endpoint_url, proxies=proxies),
        LeanSQSClient(_raw_client(sqs_server.endpoint_url, proxies=proxies)),
    ):
        error = _caught(lambda c=client: c.receive_message(QueueUrl="http://q/1/q"))
        assert isinstance(error, ProxyConnectionError), error  # fmt: skip


def test_parameter_validation_follows_the_wrapped_client(sqs_server: Any, queue_url: str) -> None:
    checked = LeanSQSClient(_raw_client(sqs_server.endpoint_url, parameter_validation=True))
    with pytest.raises(ParamValidationError):
        checked.receive_message(QueueUrl=queue_url, MaxNumberOfMessages="ten")
    unchecked = LeanSQSClient(_raw_client(sqs_server.endpoint_url))
    with pytest.raises(ClientError):  # sent as it is: the server refuses it
        unchecked.receive_message(QueueUrl=queue_url, MaxNumberOfMessages="ten")


def test_event_hooks_and_stubber_work_on_the_lean_client(sqs_server: Any, queue_url: str) -> None:
    lean = LeanSQSClient(_raw_client(sqs_server.endpoint_url))
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


def _clock_at(monkeypatch: pytest.MonkeyPatch, amz_date: str) -> None:
    when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda **_: when)


@pytest.mark.parametrize("signer", ["botocore", "crt"])
def test_signatures_are_sigv4_as_botocore_computes_it(
    sqs_server: Any, queue_url: str, signer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if signer == "crt":
        pytest.importorskip("awscrt")
    lean = LeanSQSClient(_raw_client(sqs_server.endpoint_url), signer=signer)
    captured: list[Any] = []
    lean.meta.events.register("before-send.sqs", lambda request, **_: captured.append(request))
    lean.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)
    sent = captured[0]
    authorization = sent.headers["Authorization"]
    names = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    assert {"host", "x-amz-date", "x-amz-target", "content-type"} <= set(names)
    headers = {
        k: v
        for k, v in sent.headers.items()
        if k.lower() in names and k.lower() not in ("x-amz-date", "x-amz-security-token")
    }
    _clock_at(monkeypatch, sent.headers["X-Amz-Date"])
    reference = AWSRequest(method="POST", url=sent.url, headers=headers, data=sent.body)
    credentials = lean.wrapped._get_credentials().get_frozen_credentials()
    SigV4Auth(credentials, "sqs", REGION).add_auth(reference)
    assert reference.headers["Authorization"] == authorization  # fmt: skip


def test_unsigned_clients_send_no_signature(sqs_server: Any, queue_url: str) -> None:
    client = _raw_client(sqs_server.endpoint_url, signature_version=botocore.UNSIGNED)
    for lean in (LeanSQSClient(client), LeanSQSClient(_raw_client(sqs_server.endpoint_url),
                                                      signer="unsigned")):  # fmt: skip
        captured: list[Any] = []
        lean.meta.events.register(
            "before-send.sqs", lambda request, c=captured, **_: c.append(request)
        )
        lean.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)
        assert "Authorization" not in captured[0].headers


@pytest.mark.parametrize("signer", ["botocore", "crt"])
def test_refreshing_credentials_are_refreshed(sqs_server: Any, queue_url: str, signer: str) -> None:
    if signer == "crt":
        pytest.importorskip("awscrt")
    issued: list[str] = []

    def refresh() -> dict[str, str]:
        issued.append(f"AKIA{len(issued):04d}")
        expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)
        return {"access_key": issued[-1], "secret_key": "s", "token": "t",
                "expiry_time": expiry.isoformat()}  # fmt: skip

    session = botocore.session.get_session()
    session._credentials = RefreshableCredentials.create_from_metadata(
        refresh(), refresh, "test-refresh"
    )  # a role's credentials: short-lived, refreshed by botocore when due
    client = boto3.session.Session(botocore_session=session).client(
        "sqs", endpoint_url=sqs_server.endpoint_url, region_name=REGION,
        config=Config(retries={"total_max_attempts": 1}),
    )  # fmt: skip
    lean = LeanSQSClient(client, signer=signer)
    keys: list[str] = []
    lean.meta.events.register("before-send.sqs", lambda request, **_: keys.append(
        request.headers["Authorization"].split("Credential=")[1].split("/")[0]))  # fmt: skip
    for _ in range(2):
        lean.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)
    # Less than 15 minutes left: botocore refreshes before every use, the lean signer too.
    assert keys == issued[1:3] and len(set(keys)) == 2


def test_a_client_without_credentials_fails_as_boto3_fails(sqs_server: Any) -> None:
    session = botocore.session.get_session()
    session._credentials = None
    session.get_credentials = lambda: None  # type: ignore[method-assign]
    client = boto3.session.Session(botocore_session=session).client(
        "sqs", endpoint_url=sqs_server.endpoint_url, region_name=REGION
    )
    errors = [_caught(lambda c=c: c.receive_message(QueueUrl="http://q/1/q"))
              for c in (client, LeanSQSClient(client, signer="botocore"))]  # fmt: skip
    assert [type(e) for e in errors] == [botocore.exceptions.NoCredentialsError] * 2


def test_static_credentials_of_the_client_are_used(sqs_server: Any, queue_url: str) -> None:
    client = boto3.session.Session().client(
        "sqs", endpoint_url=sqs_server.endpoint_url, region_name=REGION,
        aws_access_key_id="AKIASTATIC", aws_secret_access_key="secret",
    )  # fmt: skip
    assert isinstance(client._get_credentials(), Credentials)
    lean = LeanSQSClient(client, signer="botocore")
    keys: list[str] = []
    lean.meta.events.register("before-send.sqs", lambda request, **_: keys.append(
        request.headers["Authorization"]))  # fmt: skip
    lean.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)
    assert "Credential=AKIASTATIC/" in keys[0] and "X-Amz-Security-Token" not in keys[0]


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


# --- HTTP: the client's TLS settings, timeouts and connection errors -----------------------------


@pytest.fixture
def silent_server() -> Iterator[tuple[str, Callable[[str], None]]]:
    """A loopback TCP server; ``behave("hang")`` accepts and never answers, "close" hangs up."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    mode = {"now": "hang"}
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            if mode["now"] == "close":
                connection.recv(65536)
                connection.close()
            else:
                held.append(connection)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", lambda now: mode.update(now=now)
    finally:
        listener.close()
        for connection in held:
            connection.close()


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [("hang", ReadTimeoutError), ("close", ConnectionClosedError)],
)
def test_timeouts_and_hang_ups_raise_botocores_errors(
    silent_server: tuple[str, Callable[[str], None]], behaviour: str, expected: type
) -> None:
    url, behave = silent_server
    behave(behaviour)
    for client in (
        _raw_client(url, read_timeout=0.3),
        LeanSQSClient(_raw_client(url, read_timeout=0.3)),
    ):
        error = _caught(lambda c=client: c.receive_message(QueueUrl=f"{url}/1/q"))
        assert type(error) is expected, error
        assert translate_client_error(error).retryable


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server answering every POST with an empty SQS JSON answer; and its certificate."""
    cert_path, key_path = _self_signed(tmp_path)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("x-amzn-RequestId", "tls-1")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert_path
    finally:
        server.shutdown()
        server.server_close()


def _https_client(url: str, verify: Any) -> Any:
    return boto3.session.Session().client(
        "sqs", endpoint_url=url, region_name=REGION, verify=verify,
        config=Config(retries={"total_max_attempts": 1}),
    )  # fmt: skip


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_the_clients_ca_bundle_is_used(tls_server: tuple[str, Path]) -> None:
    url, certificate = tls_server
    for verify, expected in ((str(certificate), "ok"), (None, SSLError), (False, "ok")):
        outcomes = []
        for client in (_https_client(url, verify), LeanSQSClient(_https_client(url, verify))):
            try:
                answer = client.receive_message(QueueUrl=f"{url}/1/q")
                outcomes.append(("ok", _normalized(answer)))
            except Exception as error:  # the comparison is the assertion
                outcomes.append((type(error), None))
        assert outcomes[0] == outcomes[1], verify
        assert outcomes[0][0] == expected, verify
