"""The lean transport on the wire: SigV4 as botocore signs, the client's credentials, its HTTP.

Signatures are checked against botocore's own signer on the same request and clock;
credentials are the wrapped client's (static, refreshing, none); the HTTP settings are the
client's (proxy, CA bundle, timeouts), and failures are botocore's exception types, compared with
a boto3 client making the same call.
"""

from __future__ import annotations

import datetime
import ipaddress
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
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials, RefreshableCredentials
from botocore.exceptions import (
    ConnectionClosedError,
    EndpointConnectionError,
    ProxyConnectionError,
    ReadTimeoutError,
    SSLError,
)

from sqsobs._transport import LeanSQSClient
from sqsobs.errors import translate_client_error
from tests.conftest import REGION
from tests.transport_support import caught, normalized, raw_client


def test_connection_errors_are_botocores(sqs_server: Any) -> None:
    closed = "http://127.0.0.1:9"  # discard port: nothing listens there
    for client in (raw_client(closed), LeanSQSClient(raw_client(closed))):
        error = caught(lambda c=client: c.receive_message(QueueUrl=f"{closed}/1/q"))
        assert isinstance(error, EndpointConnectionError)
        assert translate_client_error(error).retryable


def test_the_clients_proxy_setting_is_used(sqs_server: Any) -> None:
    proxies = {"http": "http://127.0.0.1:9", "https": "http://127.0.0.1:9"}
    for client in (
        raw_client(sqs_server.endpoint_url, proxies=proxies),
        LeanSQSClient(raw_client(sqs_server.endpoint_url, proxies=proxies)),
    ):
        error = caught(lambda c=client: c.receive_message(QueueUrl="http://q/1/q"))
        assert isinstance(error, ProxyConnectionError), error  # fmt: skip


def _clock_at(monkeypatch: pytest.MonkeyPatch, amz_date: str) -> None:
    when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda **_: when)


@pytest.mark.parametrize("signer", ["botocore", "crt"])
def test_signatures_are_sigv4_as_botocore_computes_it(
    sqs_server: Any, queue_url: str, signer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if signer == "crt":
        pytest.importorskip("awscrt")
    lean = LeanSQSClient(raw_client(sqs_server.endpoint_url), signer=signer)
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
    client = raw_client(sqs_server.endpoint_url, signature_version=botocore.UNSIGNED)
    for lean in (LeanSQSClient(client), LeanSQSClient(raw_client(sqs_server.endpoint_url),
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
    errors = [caught(lambda c=c: c.receive_message(QueueUrl="http://q/1/q"))
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
        raw_client(url, read_timeout=0.3),
        LeanSQSClient(raw_client(url, read_timeout=0.3)),
    ):
        error = caught(lambda c=client: c.receive_message(QueueUrl=f"{url}/1/q"))
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
                outcomes.append(("ok", normalized(answer)))
            except Exception as error:  # the comparison is the assertion
                outcomes.append((type(error), None))
        assert outcomes[0] == outcomes[1], verify
        assert outcomes[0][0] == expected, verify
