"""What the transport tests share: clients, answers given through hooks, comparisons."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from tests.conftest import REGION

VOLATILE = {"MessageId", "ReceiptHandle", "RequestId", "SentTimestamp",
            "ApproximateFirstReceiveTimestamp", "SequenceNumber"}  # fmt: skip
VOLATILE_HEADERS = {"date", "x-amzn-requestid", "content-length"}


def normalized(value: Any, key: str = "") -> Any:
    """``value`` with what differs between two identical calls replaced by a marker."""
    if key in VOLATILE:
        return "<volatile>"
    if key == "HTTPHeaders":
        return sorted(set(value) - VOLATILE_HEADERS)
    if isinstance(value, dict):
        return {k: normalized(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalized(v, key) for v in value]
    return value


def raw_client(endpoint_url: str, **config: Any) -> Any:
    """A boto3 SQS client as sqsobs builds one (never wrapped); ``config``: botocore Config."""
    settings: dict[str, Any] = {"retries": {"total_max_attempts": 1}, "parameter_validation": False}
    settings.update(config)
    return boto3.session.Session().client(
        "sqs", endpoint_url=endpoint_url, region_name=REGION, config=Config(**settings)
    )


def error_kind(error: BaseException) -> list[str]:
    """An exception's class and bases by name: each client has its own modeled classes."""
    return [cls.__qualname__ for cls in type(error).__mro__]


def caught(call: Callable[[], Any]) -> BaseException:
    """The exception ``call()`` raises (it must raise one)."""
    with pytest.raises(Exception) as info:
        call()
    return info.value


def answer(status: int, body: bytes, **headers: str) -> Callable[..., AWSResponse]:
    """A ``before-send`` hook that answers every request with this HTTP response."""

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield body

    def respond(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, status, headers, Raw())

    return respond


def json_body(**fields: Any) -> bytes:
    """``fields`` as a JSON body."""
    return json.dumps(fields).encode()
