"""pytest fixtures for code that uses SQS: an in-memory queue per test, a real server per session.

pytest loads this plugin by itself once sqsobs is installed (its ``pytest11`` entry point); with
plugin autoloading off (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``), name it in the root ``conftest.py``:
``pytest_plugins = ["sqsobs.testing.pytest_plugin"]``.

- ``fake_sqs``: a fresh :class:`~sqsobs.testing.FakeSQS` (a boto3 SQS client stand-in).
- ``fake_sqs_queue``: a fresh :class:`~sqsobs.testing.FakeSQSQueue` on it (sqs-fargate-listener's
  fixture, same name).
- ``embedded_sqs``: one :class:`~sqsobs.testing.EmbeddedSQS` server for the whole session (the
  ``local`` extra; skips the test without it), stopped at the end.
- ``embedded_sqs_client``: a boto3 SQS client on that server.

Example::

    def test_partial_failure(fake_sqs_queue):
        fake_sqs_queue.send({"amount": -1})
        assert fake_sqs_queue.run_handler(handle, mode="batch").failed == 1
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from sqsobs.testing import EmbeddedSQS, FakeSQS, FakeSQSQueue

__all__ = ["embedded_sqs", "embedded_sqs_client", "fake_sqs", "fake_sqs_queue"]


@pytest.fixture
def fake_sqs() -> FakeSQS:
    """A fresh in-memory SQS for this test, usable as a boto3 SQS client."""
    from sqsobs.testing import FakeSQS

    return FakeSQS()


@pytest.fixture
def fake_sqs_queue(fake_sqs: FakeSQS) -> FakeSQSQueue:
    """A fresh in-memory queue for this test (sqs-fargate-listener's ``FakeSQSQueue()``)."""
    from sqsobs.testing import FakeSQSQueue

    return FakeSQSQueue(sqs=fake_sqs)


@pytest.fixture(scope="session")
def embedded_sqs() -> Iterator[EmbeddedSQS]:
    """moto's SQS server (patched) in a child process, for the whole session."""
    if importlib.util.find_spec("moto") is None:
        pytest.skip('the embedded SQS server needs moto: pip install "sqsobs[local]"')
    from sqsobs.testing import EmbeddedSQS

    with EmbeddedSQS() as server:
        yield server


@pytest.fixture(scope="session")
def embedded_sqs_client(embedded_sqs: EmbeddedSQS) -> Any:
    """A boto3 SQS client on :func:`embedded_sqs` (dummy credentials; never real AWS)."""
    import boto3

    return boto3.session.Session().client(
        "sqs",
        endpoint_url=embedded_sqs.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
