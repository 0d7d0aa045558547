"""sqsobs: observable Amazon SQS.

A batching producer, a Lambda-like listener and one trace from the producer's request to the
consumer's handler, with metrics and dashboards. Start with::

    import sqsobs

    sqsobs.configure_telemetry("my-service")
"""

from __future__ import annotations

import typing

from sqsobs._logs import configure_logging
from sqsobs._version import __version__
from sqsobs.errors import (
    AccessDenied,
    BufferFull,
    Cleared,
    ConfigError,
    InvalidMessage,
    ListenerClosed,
    ListenerError,
    MessageError,
    MessageTooLarge,
    NoListenersRegistered,
    PayloadBucketUnavailable,
    PayloadError,
    PayloadNotFound,
    ProducerClosed,
    ProducerError,
    QueueDoesNotExist,
    SendFailed,
    SqsError,
    SqsObsError,
    Throttled,
)
from sqsobs.limits import message_size, validate_message
from sqsobs.listener import (
    BatchResult,
    InvalidBatchResult,
    Listener,
    SqsMessage,
    request_shutdown,
    run_listeners,
    sqs_listener,
)
from sqsobs.producer import BatchProducer, FailedMessage, FlushReason

if typing.TYPE_CHECKING:
    from sqsobs.telemetry import Telemetry, configure_telemetry


def __getattr__(name: str) -> object:
    # The OpenTelemetry SDK is imported only when configure_telemetry is asked for: an
    # application that wires OpenTelemetry itself never loads it through sqsobs.
    if name in ("Telemetry", "configure_telemetry"):
        import sqsobs.telemetry

        return getattr(sqsobs.telemetry, name)
    raise AttributeError(f"module 'sqsobs' has no attribute {name!r}")


# Sorted; tests/test_exports.py keeps it sorted and complete.
__all__ = [
    "AccessDenied",
    "BatchProducer",
    "BatchResult",
    "BufferFull",
    "Cleared",
    "ConfigError",
    "FailedMessage",
    "FlushReason",
    "InvalidBatchResult",
    "InvalidMessage",
    "Listener",
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
    "SqsMessage",
    "SqsObsError",
    "Telemetry",
    "Throttled",
    "__version__",
    "configure_logging",
    "configure_telemetry",
    "message_size",
    "request_shutdown",
    "run_listeners",
    "sqs_listener",
    "validate_message",
]
