"""The exceptions sqsobs raises, all rooted at :class:`SqsObsError`.

The tree::

    SqsObsError
    ├── ConfigError (also ValueError)        a setting or environment variable is invalid
    │   └── NoListenersRegistered            run_listeners() found no handler (also RuntimeError)
    ├── MessageError (also ValueError)       a message SQS would reject, caught before sending
    │   ├── MessageTooLarge                  body + attributes exceed the size limit
    │   └── InvalidMessage                   bad characters, attributes, ids, delay ...
    ├── SqsError                             a call to SQS failed (translated botocore error)
    │   ├── QueueDoesNotExist
    │   ├── AccessDenied
    │   └── Throttled                        throttling; always retryable
    ├── ProducerError
    │   ├── ProducerClosed                   send() after close()
    │   ├── BufferFull                       no room in the queue's buffer in time
    │   ├── SendFailed                       SQS rejected an entry, or retries ran out
    │   └── Cleared                          the message was removed by clear_queue_buffer()
    ├── ListenerError
    │   └── ListenerClosed                   start() after stop()
    └── PayloadError                         storing or fetching a large payload in S3 failed
        ├── PayloadBucketUnavailable         the bucket does not exist, or access is denied
        └── PayloadNotFound                  the S3 object a message points to is gone

Driver errors are translated where they enter sqsobs (:func:`translate_client_error`), keeping the
original as ``__cause__``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AccessDenied",
    "BufferFull",
    "Cleared",
    "ConfigError",
    "InvalidMessage",
    "ListenerClosed",
    "ListenerError",
    "MessageError",
    "MessageTooLarge",
    "NoListenersRegistered",
    "PayloadBucketUnavailable",
    "PayloadError",
    "PayloadNotFound",
    "ProducerClosed",
    "ProducerError",
    "QueueDoesNotExist",
    "SendFailed",
    "SqsError",
    "SqsObsError",
    "Throttled",
    "is_throttling",
    "translate_client_error",
]


class SqsObsError(Exception):
    """Base class of every exception sqsobs raises on purpose."""

    #: A short, low-cardinality name used as the ``error.type`` metric/span attribute.
    error_type: str = "sqsobs_error"


class ConfigError(SqsObsError, ValueError):
    """A setting (argument or environment variable) is invalid.

    ``setting`` names the argument or variable, so the message always says which one: it reads
    ``"<setting>: <problem>"``, or ``message`` where a wording users match on is kept (such as
    sqs-fargate-listener's ``"batch_size must be between 1 and 10, got 11"``).
    """

    error_type = "config_error"

    def __init__(self, setting: str, problem: str, *, message: str | None = None) -> None:
        self.setting = setting
        self.problem = problem
        super().__init__(message or f"{setting}: {problem}")


class NoListenersRegistered(ConfigError, RuntimeError):
    """``run_listeners()`` found no handler registered with ``@sqs_listener``.

    Also a ``RuntimeError``, as sqs-fargate-listener raised here, with its message, so the
    ``except`` clauses and tests written for it still hold.
    """

    error_type = "no_listeners"

    def __init__(self) -> None:
        super().__init__(
            "sqs_listener",
            "no handler registered",
            message="No listeners registered. Did you decorate a function with @sqs_listener?",
        )


class MessageError(SqsObsError, ValueError):
    """A message that SQS would reject; raised before the message is buffered."""

    error_type = "invalid_message"


class MessageTooLarge(MessageError):
    """The message's size, counted as SQS counts it, exceeds the limit."""

    error_type = "message_too_large"

    def __init__(self, size_bytes: int, limit_bytes: int) -> None:
        self.size_bytes = size_bytes
        self.limit_bytes = limit_bytes
        super().__init__(
            f"message is {size_bytes} bytes (body + attributes), over the limit of {limit_bytes}"
        )


class InvalidMessage(MessageError):
    """The body, an attribute, an id or an option breaks an SQS rule."""


class SqsError(SqsObsError):
    """A call to SQS failed. ``code`` is the AWS error code, ``retryable`` our verdict."""

    error_type = "sqs_error"

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        operation: str = "",
        retryable: bool = False,
        sender_fault: bool | None = None,
    ) -> None:
        self.code = code
        self.operation = operation
        self.retryable = retryable
        self.sender_fault = sender_fault
        super().__init__(message)


class QueueDoesNotExist(SqsError):
    """The queue named or addressed does not exist."""

    error_type = "queue_does_not_exist"


class AccessDenied(SqsError):
    """The credentials may not perform the operation on the queue."""

    error_type = "access_denied"


class Throttled(SqsError):
    """SQS throttled the request; retry after a backoff."""

    error_type = "throttled"


class ProducerError(SqsObsError):
    """Base class of producer-side failures."""

    error_type = "producer_error"


class ProducerClosed(ProducerError):
    """The producer was closed; it does not accept messages any more."""

    error_type = "producer_closed"


class BufferFull(ProducerError):
    """The queue's buffer stayed full for the whole wait; the message was not accepted."""

    error_type = "buffer_full"


class SendFailed(ProducerError):
    """SQS did not accept the message: rejected at once, or retries ran out.

    ``code`` is the SQS error code of the last attempt, ``sender_fault`` whether SQS blamed the
    request, ``attempts`` how many HTTP requests carried the message (a client's own botocore
    retries included; 0 if it never left the process).
    """

    error_type = "send_failed"

    def __init__(
        self, message: str, *, code: str = "", sender_fault: bool = False, attempts: int = 1
    ) -> None:
        self.code = code
        self.sender_fault = sender_fault
        self.attempts = attempts
        super().__init__(message)


class Cleared(ProducerError):
    """The message was removed from its buffer by ``clear_queue_buffer()`` and never sent."""

    error_type = "cleared"


class ListenerError(SqsObsError):
    """Base class of listener-side failures."""

    error_type = "listener_error"


class ListenerClosed(ListenerError):
    """The listener was stopped; it cannot be started again."""

    error_type = "listener_closed"


class PayloadError(SqsObsError):
    """Storing, fetching or deleting a message's payload in S3 failed (large messages).

    ``code`` is the S3 error code (``NoSuchKey``, ``AccessDenied`` ...), ``bucket`` and ``key``
    name the object, ``retryable`` says whether the same call may work later.
    """

    error_type = "payload_error"

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        bucket: str = "",
        key: str = "",
        retryable: bool = False,
    ) -> None:
        self.code = code
        self.bucket = bucket
        self.key = key
        self.retryable = retryable
        super().__init__(message)


class PayloadBucketUnavailable(PayloadError):
    """The ``large_payload_bucket`` does not exist, or the credentials may not use it."""

    error_type = "payload_bucket_unavailable"


class PayloadNotFound(PayloadError):
    """The S3 object a received message points to does not exist (deleted, or expired)."""

    error_type = "payload_not_found"


_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "KmsThrottled",
        "KMS.ThrottlingException",
    }
)
# Codes of other AWS services' throttling that reach SQS callers (KMS, per-entry batch codes)
# contain one of these words.
_THROTTLING_WORDS = ("throttl", "toomanyrequests", "slowdown")


def is_throttling(code: str) -> bool:
    """True when the AWS error ``code`` means throttling (whole calls and batch entries alike)."""
    if code in _THROTTLING_CODES:
        return True
    lowered = code.lower()
    return any(word in lowered for word in _THROTTLING_WORDS)


_MISSING_QUEUE_CODES = frozenset(
    {
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "NonExistentQueue",
    }
)
_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "InvalidClientTokenId"})
_RETRYABLE_CODES = frozenset(
    {"InternalError", "InternalFailure", "ServiceUnavailable", "RequestTimeout", "KmsUnavailable"}
)


def translate_client_error(error: BaseException, *, operation: str = "") -> SqsError:
    """Turn a botocore exception into the matching :class:`SqsError` subclass.

    Throttling, 5xx and connection errors are marked ``retryable``. The caller raises the result
    ``from error`` so the driver's exception stays attached.
    """
    code, status, message = _error_details(error)
    kwargs: dict[str, Any] = {"code": code, "operation": operation}
    text = f"{operation or 'SQS call'} failed: {code or type(error).__name__}: {message}"
    if is_throttling(code) or status == 429:
        return Throttled(text, retryable=True, **kwargs)
    if code in _MISSING_QUEUE_CODES:
        return QueueDoesNotExist(text, **kwargs)
    if code in _DENIED_CODES or status == 403:
        return AccessDenied(text, **kwargs)
    retryable = status >= 500 or code in _RETRYABLE_CODES or _is_transport_error(error)
    return SqsError(text, retryable=retryable, **kwargs)


def _is_transport_error(error: BaseException) -> bool:
    """Connection resets, timeouts and closed connections: the request may be sent again."""
    from botocore import exceptions as bce

    return isinstance(error, (bce.HTTPClientError, bce.ConnectionError, OSError))


def _error_details(error: BaseException) -> tuple[str, int, str]:
    """(code, http status, message) of a botocore ClientError; ('', 0, str) for anything else."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        err = response.get("Error", {}) or {}
        meta = response.get("ResponseMetadata", {}) or {}
        return (
            str(err.get("Code", "")),
            int(meta.get("HTTPStatusCode", 0) or 0),
            str(err.get("Message", "")),
        )
    # Connection errors, timeouts and local validation errors carry no code.
    return "", 0, str(error) or type(error).__name__
