"""The public surface: ``sqsobs.__all__`` is sorted, importable and complete."""

from __future__ import annotations

import importlib
import types

import pytest

import sqsobs
from sqsobs import errors


def test_all_is_sorted() -> None:
    assert sqsobs.__all__ == sorted(sqsobs.__all__)


def test_all_names_exist() -> None:
    missing = [name for name in sqsobs.__all__ if not hasattr(sqsobs, name)]
    assert missing == []


def test_all_is_complete() -> None:
    public = {
        name
        for name, value in vars(sqsobs).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }
    assert public - set(sqsobs.__all__) == set()


def test_every_error_is_exported() -> None:
    classes = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.SqsObsError)
    }
    assert classes - set(sqsobs.__all__) == set()


def test_every_error_has_a_low_cardinality_error_type() -> None:
    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type) and issubclass(value, errors.SqsObsError):
            assert value.error_type.isidentifier(), name


#: The advanced tier: what each subpackage's ``__init__`` offers. Everything in a ``_`` module
#: that is not listed here (or at the top level) is private and may change without notice.
SUBPACKAGE_API = {
    "sqsobs.producer": {"BatchProducer", "FailedMessage", "FlushReason", "ProducerSettings"},
    "sqsobs.listener": {
        "BatchResult",
        "InvalidBatchResult",
        "Listener",
        "ListenerSettings",
        "SqsMessage",
        "clear_listeners",
        "registered_listeners",
        "request_shutdown",
        "run_listeners",
        "sqs_listener",
    },
    "sqsobs.dramatiq": {
        "BatchSQSBroker",
        "DramatiqMessageTooLarge",
        "FailedMessage",
        "TracingMiddleware",
        "TracingSQSConsumer",
    },
    "sqsobs.testing": {
        "DEFAULT_QUEUE_URL",
        "EmbeddedSQS",
        "FakeSQS",
        "FakeSQSQueue",
        "RunResult",
        "ServerProcess",
        "free_port",
        "wait_until_serving",
    },
    "sqsobs.cli": {"build_parser", "main"},
}


@pytest.mark.parametrize("package", sorted(SUBPACKAGE_API))
def test_subpackage_api_is_stated(package: str) -> None:
    module = importlib.import_module(package)
    assert set(module.__all__) == SUBPACKAGE_API[package]
    assert module.__all__ == sorted(module.__all__)
    assert all(hasattr(module, name) for name in module.__all__)


def test_telemetry_api_is_importable_and_sorted() -> None:
    from sqsobs import telemetry

    assert telemetry.__all__ == sorted(telemetry.__all__)
    assert all(hasattr(telemetry, name) for name in telemetry.__all__)
