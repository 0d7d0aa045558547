"""Unit tests of examples/batch_listener.py's handler on sqsobs' in-memory queue: no server.

The ``fake_sqs_queue`` fixture comes with sqsobs (its pytest plugin); each test gets a fresh
queue, and ``run_handler()`` runs the handler as the listener will in production.

Run:

    pytest examples/test_batch_listener.py
"""

from __future__ import annotations

from collections.abc import Iterator

import batch_listener
import pytest

from sqsobs.testing import FakeSQSQueue


@pytest.fixture(autouse=True)
def _fresh_totals() -> Iterator[None]:
    batch_listener.totals.clear()
    batch_listener.counted[0] = 0
    yield


def test_orders_are_added_up_per_customer_and_deleted(fake_sqs_queue: FakeSQSQueue) -> None:
    for customer, amount in (("c0", 5), ("c1", 7), ("c0", 1)):
        fake_sqs_queue.send({"customer": customer, "amount": amount})
    result = fake_sqs_queue.run_handler(batch_listener.handle, mode="batch")
    assert (result.processed, result.failed) == (3, 0)
    assert batch_listener.totals == {"c0": 6, "c1": 7}
    assert fake_sqs_queue.deleted_count == 3


def test_a_broken_body_fails_alone_and_stays_on_the_queue(fake_sqs_queue: FakeSQSQueue) -> None:
    fake_sqs_queue.send({"customer": "c2", "amount": 4})
    fake_sqs_queue.send("not json")
    result = fake_sqs_queue.run_handler(batch_listener.handle, mode="batch")
    assert (result.processed, result.failed) == (1, 1)
    assert [m.body for m in fake_sqs_queue.pending_messages] == ["not json"]
    # The next delivery brings it back, counted: the same handler fails it again.
    result = fake_sqs_queue.run_handler(batch_listener.handle, mode="batch")
    assert result.failed == 1 and fake_sqs_queue.pending_messages[0].receive_count == 2
