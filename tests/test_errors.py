"""Driver errors are translated into the SqsObsError tree."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

from sqsobs import errors


def client_error(code: str, status: int) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "SendMessageBatch")


@pytest.mark.parametrize(
    ("error", "kind", "retryable"),
    [
        (client_error("ThrottlingException", 400), errors.Throttled, True),
        (client_error("RequestThrottled", 403), errors.Throttled, True),
        (
            client_error("AWS.SimpleQueueService.NonExistentQueue", 400),
            errors.QueueDoesNotExist,
            False,
        ),
        (client_error("AccessDenied", 403), errors.AccessDenied, False),
        (client_error("InternalError", 500), errors.SqsError, True),
        (client_error("ServiceUnavailable", 503), errors.SqsError, True),
        (client_error("InvalidParameterValue", 400), errors.SqsError, False),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), errors.SqsError, True),
        (ParamValidationError(report="bad"), errors.SqsError, False),
    ],
)
def test_translation(error: Exception, kind: type[errors.SqsError], retryable: bool) -> None:
    translated = errors.translate_client_error(error, operation="SendMessageBatch")
    assert type(translated) is kind
    assert translated.retryable is retryable
    assert translated.operation == "SendMessageBatch"


def test_hierarchy() -> None:
    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type):
            assert issubclass(value, errors.SqsObsError)
    assert issubclass(errors.BufferFull, errors.ProducerError)
    assert issubclass(errors.MessageTooLarge, errors.MessageError)
