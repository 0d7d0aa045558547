"""The AWS JSON 1.0 protocol of SQS for the hot operations, shaped as botocore shapes it.

Requests: ``POST /`` with ``X-Amz-Target: AmazonSQS.<Operation>``, ``Content-Type:
application/x-amz-json-1.0`` and ``x-amzn-query-mode: true`` (SQS's model is "query
compatible": the header asks SQS for the ``x-amzn-query-error`` header on errors). The body is
the parameters as JSON; blobs (``BinaryValue``, ``BinaryListValues`` of message attributes) are
base64, as botocore's serializer writes them.

Answers: a success is the JSON body with blobs decoded and botocore's ``ResponseMetadata``
(``RequestId``, ``HTTPStatusCode``, ``HTTPHeaders``, ``RetryAttempts``). An error is parsed by
botocore's own JSON parser (errors are rare, and its exact ``Error`` dict is what
``sqsobs.errors`` and users read): ``Error.Code`` is the legacy code from
``x-amzn-query-error`` (``AWS.SimpleQueueService.NonExistentQueue``) when SQS sends it, and
``Error.QueryErrorCode`` the ``__type`` (``QueueDoesNotExist``) that picks the exception class.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "JSON_CONTENT_TYPE",
    "decode_body",
    "encode_body",
    "error_response",
    "response_metadata",
]

JSON_CONTENT_TYPE = "application/x-amz-json-1.0"
#: The members that hold blobs in the hot operations' attribute values (SQS's model).
_BLOB_MEMBERS = ("BinaryValue", "BinaryListValues")
_ATTRIBUTE_MAPS = ("MessageAttributes", "MessageSystemAttributes")


def _b64(value: Any) -> str:
    """A blob as botocore serializes it: str is UTF-8 encoded first, bytes as they are."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    elif not isinstance(value, (bytes, bytearray)):
        value = value.read()  # a file-like object, as botocore accepts
    return base64.b64encode(value).strip().decode("ascii")


def _encoded_value(value: Mapping[str, Any]) -> Mapping[str, Any]:
    if "BinaryValue" not in value and "BinaryListValues" not in value:
        return value
    copy = dict(value)
    if "BinaryValue" in copy:
        copy["BinaryValue"] = _b64(copy["BinaryValue"])
    if "BinaryListValues" in copy:
        copy["BinaryListValues"] = [_b64(item) for item in copy["BinaryListValues"]]
    return copy


def _encoded_attributes(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    """``entry`` with its binary attribute values in base64 (a copy only when there are any)."""
    copy: dict[str, Any] | None = None
    for name in _ATTRIBUTE_MAPS:
        attributes = entry.get(name)
        if not attributes:
            continue
        for value in attributes.values():
            if isinstance(value, Mapping) and any(m in value for m in _BLOB_MEMBERS):
                break
        else:
            continue
        if copy is None:
            copy = dict(entry)
        copy[name] = {key: _encoded_value(value) for key, value in attributes.items()}
    return entry if copy is None else copy


def encode_body(params: Mapping[str, Any]) -> bytes:
    """The request body: ``params`` as JSON, blobs of message attributes in base64.

    The caller's dicts are never changed (a copy is made where a blob is encoded).
    """
    entries = params.get("Entries")
    if entries:
        encoded = [_encoded_attributes(entry) for entry in entries]
        if any(new is not old for new, old in zip(encoded, entries, strict=True)):
            params = {**params, "Entries": encoded}
    return json.dumps(params, separators=(",", ":")).encode("utf-8")


def _decode_blob(value: str) -> bytes:
    return base64.b64decode(value.encode("utf-8"))


def _decode_messages(messages: list[dict[str, Any]]) -> None:
    """Received message attributes' blobs to bytes, in place (the dicts are fresh from JSON)."""
    for message in messages:
        attributes = message.get("MessageAttributes")
        if not attributes:
            continue
        for value in attributes.values():
            if "BinaryValue" in value:
                value["BinaryValue"] = _decode_blob(value["BinaryValue"])
            if "BinaryListValues" in value:
                value["BinaryListValues"] = [_decode_blob(v) for v in value["BinaryListValues"]]


def response_metadata(status: int, headers: Mapping[str, str]) -> dict[str, Any]:
    """botocore's ``ResponseMetadata`` (``RetryAttempts`` is added once the retries are done)."""
    metadata: dict[str, Any] = {}
    request_id = headers.get("x-amzn-requestid")
    if request_id is not None:
        metadata["RequestId"] = request_id
    metadata["HTTPStatusCode"] = status
    # Key by key, as botocore copies them: a repeated header is one comma-joined value.
    metadata["HTTPHeaders"] = {key.lower(): headers[key] for key in headers}
    return metadata


def decode_body(body: bytes) -> dict[str, Any]:
    """A success body as botocore's parser returns it, blobs decoded.

    SQS sends only modeled members; a body that is not a JSON object parses to ``{}``, as
    botocore's parser makes of it (it keeps modeled members only).
    """
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    messages = parsed.get("Messages")
    if messages:
        _decode_messages(messages)
    return parsed


def error_response(
    operation_model: Any, status: int, headers: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    """An error answer parsed by botocore's JSON parser, plus the fields its endpoint adds."""
    from botocore.parsers import create_parser

    parser = create_parser("json")
    response = {"headers": headers, "status_code": status, "body": body}
    parsed: dict[str, Any] = parser.parse(response, operation_model.output_shape)
    # What botocore's endpoint adds to an error (Endpoint._add_modeled_error_fields).
    code = parsed.get("Error", {}).get("Code")
    shape = operation_model.service_model.shape_for_error_code(code) if code else None
    if shape is not None:
        parsed.update(parser.parse(response, shape))
    return parsed
