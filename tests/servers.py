"""Which SQS implementation the suite talks to, and where it departs from SQS's documentation.

The suite runs against the patched moto server by default, or against any endpoint given by
``SQSOBS_TEST_SQS_ENDPOINT`` (LocalStack in CI's second pass). Every test that adapts to one server
does it through a :class:`Deviation` declared here, with the behaviour AWS documents, where it says
so, and what the server does instead (measured): grep for a deviation's name to find every test
it touches. ``tests/test_server_conformance.py`` checks each deviation directly, strictly, so a
server that fixes one makes that test fail and the adaptation can go.

Example::

    skip_for(sqs_server, LOCALSTACK_FIFO_GROUP_REOPENED)      # the test cannot say anything there
    xfail_for(request, sqs_server, LOCALSTACK_BATCH_ENTRY_NOT_SENDER_FAULT)  # fails there, strictly
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Protocol

import pytest

MOTO = "moto"
LOCALSTACK = "localstack"
OTHER = "other"
KINDS = (MOTO, LOCALSTACK, OTHER)

#: Overrides the detection of an external server: ``moto``, ``localstack`` or ``other``.
SERVER_KIND_ENV = "SQSOBS_TEST_SQS_SERVER"


@dataclass(frozen=True)
class Deviation:
    """One way a server departs from SQS's documented behaviour."""

    name: str
    server: str
    documented: str
    source: str
    observed: str

    def reason(self) -> str:
        """The text a skip or xfail shows."""
        return (
            f"{self.server} deviation {self.name}: SQS documents that {self.documented} "
            f"({self.source}); {self.server} instead {self.observed}"
        )


LOCALSTACK_FIFO_GROUP_REOPENED = Deviation(
    name="LOCALSTACK_FIFO_GROUP_REOPENED",
    server=LOCALSTACK,
    documented=(
        '"when you receive a message with a message group ID, no more messages for the same '
        'message group ID are returned unless you delete the message or it becomes visible"'
    ),
    source=(
        "Amazon SQS Developer Guide, FIFO queue logic, "
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/"
        "FIFO-queues-understanding-logic.html"
    ),
    observed=(
        "returns the later messages of a group as soon as one of them is made visible "
        "(ChangeMessageVisibility to 0) while an earlier one is still in flight "
        "(4.13.1, FifoQueue._put_message reopens the group), so a group's order breaks"
    ),
)

LOCALSTACK_BATCH_ENTRY_NOT_SENDER_FAULT = Deviation(
    name="LOCALSTACK_BATCH_ENTRY_NOT_SENDER_FAULT",
    server=LOCALSTACK,
    documented=(
        "a failed batch entry's SenderFault tells whether the caller caused the error "
        "(BatchResultErrorEntry), and a receipt handle of a deleted message is the caller's "
        "error (ChangeMessageVisibility answers it with a 400 Sender fault)"
    ),
    source=(
        "Amazon SQS API Reference, BatchResultErrorEntry, "
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/"
        "API_BatchResultErrorEntry.html"
    ),
    observed=(
        "marks every failed ChangeMessageVisibilityBatch entry SenderFault=false and names it "
        "by its Python exception class (InvalidParameterValueException), although the single "
        "call answers the same handle with InvalidParameterValue, Type Sender "
        "(4.13.1, SqsProvider.change_message_visibility_batch)"
    ),
)


def detect_kind(endpoint_url: str) -> str:
    """What serves an external endpoint: ``moto``, ``localstack`` or ``other`` (or the override)."""
    forced = os.environ.get(SERVER_KIND_ENV, "").strip().lower()
    if forced:
        if forced not in KINDS:
            raise ValueError(f"{SERVER_KIND_ENV}={forced!r}: expected one of {KINDS}")
        return forced
    health = _get_json(f"{endpoint_url.rstrip('/')}/_localstack/health")
    if isinstance(health, dict) and "services" in health:
        return LOCALSTACK
    if _get_json(f"{endpoint_url.rstrip('/')}/moto-api/data.json") is not None:
        return MOTO
    return OTHER


def _get_json(url: str) -> object | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


class _HasKind(Protocol):
    kind: str


def skip_for(server: _HasKind, deviation: Deviation) -> None:
    """Skip the calling test on the deviating server (the test cannot tell anything there)."""
    if server.kind == deviation.server:
        pytest.skip(deviation.reason())


def xfail_for(
    request: pytest.FixtureRequest, server: _HasKind, deviation: Deviation, *, until: str = ""
) -> None:
    """On the deviating server the calling test must fail; passing there fails the run.

    ``until`` names what makes the test pass there anyway (a library change that copes).
    """
    if server.kind == deviation.server:
        reason = deviation.reason() + (f"; until {until}" if until else "")
        request.node.add_marker(pytest.mark.xfail(reason=reason, strict=True))
