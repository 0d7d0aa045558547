"""The public surface: ``sqsobs.__all__`` is sorted, importable and complete."""

from __future__ import annotations

import types

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
