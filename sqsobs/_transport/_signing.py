"""SigV4 signing for the lean transport: botocore's signer, awscrt's, or none.

Credentials are the boto3 client's own object (``client._get_credentials()``, the accessor
boto3's CRT integration uses), so refreshing credentials, assumed roles and ECS container
credentials refresh exactly as they do for the client: each request signs with
``get_frozen_credentials()``, which refreshes when due. A client configured with
``signature_version=UNSIGNED`` sends unsigned requests here too.

- ``"botocore"``: :class:`botocore.auth.SigV4Auth`, the pure-Python signer.
- ``"crt"``: ``awscrt.auth.aws_sign_request``, AWS's native signer (``pip install
  "sqsobs[crt]"``), called directly rather than through botocore's ``CrtSigV4Auth`` adapter.
- ``"auto"``: what botocore itself picks for SigV4: awscrt when it is installed and not turned
  off with ``BOTO_DISABLE_CRT=true``, else botocore's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from io import BytesIO
from typing import Any
from urllib.parse import urlsplit

__all__ = ["SIGNERS", "Signer", "make_signer"]

#: The signer names :func:`make_signer` takes.
SIGNERS = ("auto", "botocore", "crt", "unsigned")

#: ``sign(headers, body) -> headers to send``; ``headers`` is a fresh dict the signer may extend.
Signer = Callable[[dict[str, str], bytes], dict[str, str]]


def _frozen(credentials: Any) -> Any:
    from botocore.exceptions import NoCredentialsError

    frozen = credentials.get_frozen_credentials() if credentials is not None else None
    if frozen is None or frozen.access_key is None:
        raise NoCredentialsError()
    return frozen


def _signable_request() -> type:
    """botocore's ``AWSRequest`` whose ``body`` is its bytes as they are.

    ``AWSRequest.body`` prepares the whole request (URL, case-insensitive headers, length) only
    to read the body back, once per signature; our body is bytes already.
    """
    from botocore.awsrequest import AWSRequest

    class SignableRequest(AWSRequest):
        @property
        def body(self) -> Any:
            return self.data

    return SignableRequest


class BotocoreSigner:
    """botocore's pure-Python SigV4 (``SigV4Auth``) on a request built for it."""

    def __init__(self, credentials: Any, url: str, region: str, service: str) -> None:
        from botocore.auth import SigV4Auth

        self._credentials = credentials
        self._url = url
        self._region = region
        self._service = service
        self._auth = SigV4Auth
        self._request = _signable_request()

    def __call__(self, headers: dict[str, str], body: bytes) -> dict[str, str]:
        request = self._request(method="POST", url=self._url, headers=headers, data=body)
        self._auth(_frozen(self._credentials), self._service, self._region).add_auth(request)
        return dict(request.headers.items())


class CrtSigner:
    """awscrt's native SigV4, with one static credentials provider per set of credentials."""

    def __init__(self, credentials: Any, url: str, region: str, service: str) -> None:
        import awscrt.auth
        import awscrt.http

        self._crt_auth = awscrt.auth
        self._crt_http = awscrt.http
        self._credentials = credentials
        self._path = urlsplit(url).path or "/"
        self._region = region
        self._service = service
        # (frozen credentials, provider): a provider is rebuilt only when credentials change.
        self._provider: tuple[Any, Any] = (None, None)
        self._lock = threading.Lock()

    def _provider_for(self, frozen: Any) -> Any:
        cached, provider = self._provider
        if cached == frozen:
            return provider
        with self._lock:
            provider = self._crt_auth.AwsCredentialsProvider.new_static(
                access_key_id=frozen.access_key,
                secret_access_key=frozen.secret_key,
                session_token=frozen.token,
            )
            self._provider = (frozen, provider)
        return provider

    def __call__(self, headers: dict[str, str], body: bytes) -> dict[str, str]:
        auth = self._crt_auth
        config = auth.AwsSigningConfig(
            algorithm=auth.AwsSigningAlgorithm.V4,
            signature_type=auth.AwsSignatureType.HTTP_REQUEST_HEADERS,
            credentials_provider=self._provider_for(_frozen(self._credentials)),
            region=self._region,
            service=self._service,
        )
        request = self._crt_http.HttpRequest(
            "POST", self._path, self._crt_http.HttpHeaders(headers.items()), BytesIO(body)
        )
        auth.aws_sign_request(request, config).result()
        return dict(request.headers)


def _unsigned(headers: dict[str, str], body: bytes) -> dict[str, str]:
    return headers


def _crt_available() -> bool:
    from botocore.compat import HAS_CRT

    return bool(HAS_CRT)


def make_signer(kind: str, client: Any, url: str, region: str, service: str) -> Signer:
    """The signer ``kind`` for requests to ``url`` with ``client``'s credentials.

    ``kind`` is one of :data:`SIGNERS`; the client's ``signature_version=UNSIGNED`` wins.
    """
    import botocore

    if kind not in SIGNERS:
        raise ValueError(f"unknown signer {kind!r}; expected one of {SIGNERS}")
    if kind == "unsigned" or client.meta.config.signature_version is botocore.UNSIGNED:
        return _unsigned
    credentials = client._get_credentials()
    if kind == "auto":
        kind = "crt" if _crt_available() else "botocore"
    if kind == "crt":
        return CrtSigner(credentials, url, region, service)
    return BotocoreSigner(credentials, url, region, service)
