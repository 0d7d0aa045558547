"""One hot SQS call of the lean transport: events, signing, sending, parsing, retries.

The call goes through the same hooks, in the same order, as a boto3 client's
``_make_api_call``, on the wrapped client's own event system: ``provide-client-params``,
``before-call`` (a response returned here, as botocore's ``Stubber`` returns one, is used),
``before-send`` (likewise: a returned response is used instead of the network),
``needs-retry`` after a failed attempt, ``after-call`` (or ``after-call-error``). What the
transport leaves out is botocore's serializer, endpoint-rules evaluation per call, request
preparation and shape-walking parser: the work that made a 10-entry ``SendMessageBatch`` cost
about twice its floor.

Retries are the wrapped client's: its own ``needs-retry`` handlers (legacy, standard or
adaptive mode, with their quota) decide after every attempt and give the delay, so a client
built with one attempt (every client sqsobs builds) makes one attempt here too.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqsobs._transport._protocol import (
    JSON_CONTENT_TYPE,
    decode_body,
    encode_body,
    error_response,
    response_metadata,
)
from sqsobs._transport._signing import Signer

__all__ = ["Operation", "Route", "call"]

_UNSIGNED_HEADERS = frozenset(
    {"user-agent", "x-amzn-trace-id", "expect", "transfer-encoding", "traceparent", "tracestate"}
)


@dataclass(frozen=True)
class Route:
    """Where and how a wrapped client's requests go; resolved once per client."""

    client: Any
    url: str
    #: The ``Host`` header (what botocore's signer derives from the URL).
    host: str
    user_agent: str
    signer: Signer
    #: Sends a prepared request through the client's HTTP session (its pool, proxies, CA
    #: bundle, timeouts): a :class:`~sqsobs._transport._http.Connection`, or the session.
    http: Any
    #: The client's ``parameter_validation`` setting (off in every client sqsobs builds).
    validate: bool
    #: Headers the endpoint rules add to every request (none for SQS today).
    extra_headers: Mapping[str, str]


@dataclass(frozen=True)
class Operation:
    """One operation's model and its event names, built once per client."""

    name: str
    model: Any
    target: str
    provide_params: str
    before_call: str
    before_send: str
    needs_retry: str
    after_call: str
    after_call_error: str

    @classmethod
    def of(cls, client: Any, name: str) -> Operation:
        model = client.meta.service_model.operation_model(name)
        service = client.meta.service_model.service_id.hyphenize()
        prefix = client.meta.service_model.metadata["targetPrefix"]
        return cls(
            name=name,
            model=model,
            target=f"{prefix}.{name}",
            **{
                field: f"{event}.{service}.{name}"
                for field, event in (
                    ("provide_params", "provide-client-params"),
                    ("before_call", "before-call"),
                    ("before_send", "before-send"),
                    ("needs_retry", "needs-retry"),
                    ("after_call", "after-call"),
                    ("after_call_error", "after-call-error"),
                )
            },
        )


def _request_context(route: Route, operation: Operation) -> dict[str, Any]:
    """The keys of botocore's request context that its handlers read."""
    meta = route.client.meta
    return {
        "client_region": meta.region_name,
        "client_config": meta.config,
        "has_streaming_input": False,
        "auth_type": operation.model.resolved_auth_type,
        "unsigned_payload": operation.model.unsigned_payload,
        "auth_options": meta.service_model.metadata.get("auth"),
    }


def _first_response(responses: list[tuple[Any, Any]]) -> Any:
    for _, response in responses:
        if response is not None:
            return response
    return None


def _request_dict(
    route: Route, operation: Operation, params: dict[str, Any], context: dict[str, Any]
) -> dict[str, Any]:
    """botocore's serialized request, as ``before-call`` hooks see it (unsigned, no Host)."""
    headers = {
        "X-Amz-Target": operation.target,
        "Content-Type": JSON_CONTENT_TYPE,
        "x-amzn-query-mode": "true",
        **route.extra_headers,
        "User-Agent": route.user_agent,
    }
    return {
        "url_path": "/",
        "query_string": "",
        "method": "POST",
        "headers": headers,
        "body": encode_body(params),
        "url": route.url,
        "context": context,
    }


def call(route: Route, operation: Operation, params: dict[str, Any]) -> dict[str, Any]:
    """Make ``operation`` with ``params``; return botocore's parsed dict or raise its error."""
    events = route.client.meta.events
    context = _request_context(route, operation)
    replaced = _first_response(
        events.emit(operation.provide_params, params=params, model=operation.model, context=context)
    )
    params = params if replaced is None else replaced
    if route.validate:
        from botocore.validate import validate_parameters

        validate_parameters(params, operation.model.input_shape)
    request_dict = _request_dict(route, operation, params, context)
    _, stubbed = events.emit_until_response(
        operation.before_call,
        model=operation.model,
        params=request_dict,
        request_signer=getattr(route.client, "_request_signer", None),
        context=context,
    )
    if stubbed is not None:
        http, parsed = stubbed
    else:
        try:
            http, parsed = _attempts(route, operation, request_dict)
        except Exception as error:
            events.emit(operation.after_call_error, exception=error, context=context)
            raise
    events.emit(
        operation.after_call, http_response=http, parsed=parsed, model=operation.model,
        context=context,
    )  # fmt: skip
    if http.status_code >= 300:
        code = context.get("error_code_override") or parsed.get("Error", {}).get("Code")
        raise route.client.exceptions.from_code(code)(parsed, operation.name)
    return parsed  # type: ignore[no-any-return]


def _attempts(
    route: Route, operation: Operation, request_dict: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """Send until the client's retry handlers say stop (botocore's ``Endpoint._send_request``)."""
    attempts = 1
    while True:
        response: tuple[Any, dict[str, Any]] | None = None
        caught: Exception | None = None
        try:
            response = _attempt(route, operation, request_dict)
        except Exception as error:
            caught = error
        # After every attempt, as botocore does: the standard mode's handler also marks a
        # one-attempt success with ``MaxAttemptsReached`` in its metadata.
        delay = _first_response(
            route.client.meta.events.emit(
                operation.needs_retry,
                response=response,
                endpoint=getattr(route.client, "_endpoint", None),
                operation=operation.model,
                attempts=attempts,
                caught_exception=caught,
                request_dict=request_dict,
            )
        )
        if delay is None or delay is False:
            if response is None:
                assert caught is not None
                raise caught
            return _done(response, attempts)
        time.sleep(delay)
        attempts += 1


def _done(response: tuple[Any, dict[str, Any]], attempts: int) -> tuple[Any, dict[str, Any]]:
    """The last answer, with the retry count botocore's endpoint adds to its metadata."""
    parsed = response[1]
    if "ResponseMetadata" in parsed:
        parsed["ResponseMetadata"]["RetryAttempts"] = attempts - 1
    return response


def _attempt(
    route: Route, operation: Operation, request_dict: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """One signed request, its answer and the parsed dict.

    The request is botocore's ``AWSPreparedRequest`` (for ``before-send`` hooks), its headers a
    plain dict in botocore's spelling (botocore's own is a case-insensitive ``HeadersDict``,
    which would cost more than signing).
    """
    from botocore.awsrequest import AWSPreparedRequest

    headers: dict[str, str] = request_dict["headers"]
    body: bytes = request_dict["body"]
    signed = {"Host": route.host}
    unsigned = {"Content-Length": str(len(body))}
    for key, value in headers.items():
        (unsigned if key.lower() in _UNSIGNED_HEADERS else signed)[key] = value
    sent: Any = route.signer(signed, body)
    sent.update(unsigned)
    request = AWSPreparedRequest("POST", route.url, sent, body, False, request_dict["context"])
    http = _first_response(
        route.client.meta.events.emit(operation.before_send, request=request)
    ) or route.http.send(request)
    status: int = http.status_code
    content: bytes = http.content
    if status < 300:
        parsed = decode_body(content)
        parsed["ResponseMetadata"] = response_metadata(status, http.headers)
        return http, parsed
    return http, error_response(operation.model, status, http.headers, content)
