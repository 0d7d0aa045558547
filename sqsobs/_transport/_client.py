"""``LeanSQSClient``: a boto3 SQS client whose four hot operations skip botocore's pipeline.

It is a stand-in for the boto3 client it wraps: the same methods with the same keyword
arguments, the same response dicts (with ``ResponseMetadata``), the same exceptions
(``client.exceptions.QueueDoesNotExist``, ``ClientError`` with botocore's ``Error`` dict,
botocore's connection errors) and the same event hooks. ``SendMessageBatch``,
``ReceiveMessage``, ``DeleteMessageBatch`` and ``ChangeMessageVisibilityBatch`` go through
:func:`sqsobs._transport._call.call`; every other attribute is the wrapped client's.

What it reuses from the wrapped client, so nothing is configured twice: credentials (refreshed
as the client refreshes them), region, the endpoint its rules resolve to (``endpoint_url``,
FIPS, dual-stack), the ``signature_version`` (``UNSIGNED`` too), ``parameter_validation``,
the retry handlers, the event hooks, and the HTTP session with its connection pool, proxies,
CA bundle, client certificate and timeouts.

Example::

    client = LeanSQSClient(boto3.client("sqs"))
    client.send_message_batch(QueueUrl=url, Entries=[{"Id": "0", "MessageBody": "hi"}])
    client.get_queue_url(QueueName="orders")        # the boto3 client's own method
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqsobs._transport._call import Operation, Route, call
from sqsobs._transport._signing import SIGNERS, make_signer

__all__ = ["HOT_OPERATIONS", "LeanSQSClient"]

#: The operations the lean transport makes itself; botocore makes every other.
HOT_OPERATIONS = (
    "SendMessageBatch",
    "ReceiveMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibilityBatch",
)
#: Added to the wrapped client's User-Agent, so a request says which transport sent it.
USER_AGENT_SUFFIX = "md/sqsobs-transport#lean"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host(url: str) -> str:
    """The Host header for ``url``, as botocore's signer derives it (default port left out)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def _validates(client: Any) -> bool:
    """Whether ``client`` checks parameters before sending.

    ``client.meta.config.parameter_validation`` does not say: it reads True for a client built
    with ``Config(parameter_validation=False)``. The effective setting (the config, else the
    profile's ``parameter_validation``) is whether botocore wrapped its serializer in a validator.
    """
    from botocore.validate import ParamValidationDecorator

    return isinstance(getattr(client, "_serializer", None), ParamValidationDecorator)


def _connection(session: Any, url: str) -> Any:
    """A pool-holding connection of ``session`` (botocore's), or the session itself.

    A session that is not botocore's ``URLLib3Session`` (replaced by the application) sends each
    request itself, as it would for boto3.
    """
    from botocore.httpsession import URLLib3Session

    from sqsobs._transport._http import Connection

    if type(session) is not URLLib3Session:
        return session
    return Connection(session, url)


def _route(client: Any, signer: str) -> Route:
    """Endpoint, signing scope, user agent and HTTP session of ``client``, resolved once."""
    model = client.meta.service_model.operation_model(HOT_OPERATIONS[0])
    context: dict[str, Any] = {}
    # The endpoint rules of SQS depend on the client only (region, FIPS, dual-stack, a custom
    # endpoint_url), never on an operation's parameters: one resolution serves every call.
    url, extra_headers, _ = client._resolve_endpoint_ruleset(model, {}, context)
    signing = context.get("signing", {})
    region = signing.get("region") or client.meta.region_name
    service = signing.get("signing_name") or client.meta.service_model.signing_name
    creator = getattr(client, "_user_agent_creator", None)
    agent = creator.to_string() if creator is not None else ""
    return Route(
        client=client,
        url=url,
        host=_host(url),
        user_agent=f"{agent} {USER_AGENT_SUFFIX}".strip(),
        signer=make_signer(signer, client, url, region, service),
        http=_connection(client._endpoint.http_session, url),
        validate=_validates(client),
        extra_headers=dict(extra_headers or {}),
    )


class LeanSQSClient:
    """Wraps a boto3 SQS client; its hot operations use the lean transport.

    ``signer`` is ``"auto"`` (awscrt when installed, as botocore chooses), ``"botocore"``,
    ``"crt"`` or ``"unsigned"``. Wrapping a ``LeanSQSClient`` wraps the client inside it.
    """

    def __init__(self, client: Any, *, signer: str = "auto") -> None:
        if signer not in SIGNERS:
            raise ValueError(f"unknown signer {signer!r}; expected one of {SIGNERS}")
        if isinstance(client, LeanSQSClient):
            client = client.wrapped
        self._client = client
        self._signer = signer
        #: The wrapped client's ``meta`` (config, events, region) and ``exceptions``.
        self.meta = client.meta
        self.exceptions = client.exceptions
        self._route_cache: Route | None = None
        self._operations: dict[str, Operation] = {}

    @property
    def wrapped(self) -> Any:
        """The boto3 client this one wraps (and delegates every other operation to)."""
        return self._client

    def __getattr__(self, name: str) -> Any:
        if name == "_client":  # not set yet (during unpickling, say): no recursion
            raise AttributeError(name)
        return getattr(self._client, name)

    def __repr__(self) -> str:
        return f"LeanSQSClient({self._client!r}, signer={self._signer!r})"

    def _call(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        route = self._route_cache
        if route is None:
            # Resolved at the first call, so a missing region or credentials fail where they
            # fail with boto3: on the call, as the same botocore exception.
            route = self._route_cache = _route(self._client, self._signer)
        operation = self._operations.get(name)
        if operation is None:
            operation = self._operations[name] = Operation.of(self._client, name)
        return call(route, operation, params)

    def send_message_batch(self, **params: Any) -> dict[str, Any]:
        """``SendMessageBatch``, as ``boto3``'s ``send_message_batch``."""
        return self._call("SendMessageBatch", params)

    def receive_message(self, **params: Any) -> dict[str, Any]:
        """``ReceiveMessage``, as ``boto3``'s ``receive_message``."""
        return self._call("ReceiveMessage", params)

    def delete_message_batch(self, **params: Any) -> dict[str, Any]:
        """``DeleteMessageBatch``, as ``boto3``'s ``delete_message_batch``."""
        return self._call("DeleteMessageBatch", params)

    def change_message_visibility_batch(self, **params: Any) -> dict[str, Any]:
        """``ChangeMessageVisibilityBatch``, as ``boto3``'s method of that name."""
        return self._call("ChangeMessageVisibilityBatch", params)
