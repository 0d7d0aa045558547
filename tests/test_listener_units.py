"""Unit tests of the listener's parts that need no server: message, results, settings, heartbeat
schedule and acker retries (fake clients stand in only where moto cannot produce the answer)."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from typing import Any

import pytest

from sqsobs.errors import ConfigError
from sqsobs.listener._acker import Acker
from sqsobs.listener._heartbeat import Heartbeat
from sqsobs.listener._message import SqsMessage
from sqsobs.listener._results import BatchResult, InvalidBatchResult, failed_indexes
from sqsobs.listener._settings import ListenerSettings
from sqsobs.listener._telemetry import ListenerTelemetry
from sqsobs.telemetry.catalog import MAX_EXTEND_EXCEEDED
from sqsobs.types import BatchResult as FargateBatchResult
from sqsobs.types import SqsMessage as FargateSqsMessage
from tests.helpers import Clock


def make_message(index: int, body: str = "{}", **attributes: Any) -> SqsMessage:
    raw = {
        "MessageId": f"id-{index}",
        "ReceiptHandle": f"rh-{index}",
        "Body": body,
        "Attributes": {"ApproximateReceiveCount": "1", **attributes},
        "MessageAttributes": {
            "trace_id": {"DataType": "String", "StringValue": "abc-123"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x01"},
        },
    }
    return SqsMessage.from_boto(raw, received_at=100.0)


# --- SqsMessage --------------------------------------------------------------------------------
def test_types_module_is_sqs_fargate_listeners_location() -> None:
    assert FargateSqsMessage is SqsMessage
    assert FargateBatchResult is BatchResult


def test_json_is_parsed_once_and_cached() -> None:
    message = make_message(1, body='{"order_id": 7}')
    first = message.json
    assert first == {"order_id": 7}
    assert message.json is first


def test_json_raises_on_invalid_body_and_try_json_does_not() -> None:
    message = make_message(1, body="not json")
    with pytest.raises(json.JSONDecodeError):
        _ = message.json
    data, error = message.try_json()
    assert data is None
    assert isinstance(error, json.JSONDecodeError)
    assert make_message(2, body="[1]").try_json() == ([1], None)


def test_message_attributes_are_simplified() -> None:
    attrs = make_message(1).message_attributes()
    assert attrs == {"trace_id": "abc-123", "blob": b"\x01"}


def test_system_attribute_helpers() -> None:
    message = make_message(
        1, ApproximateReceiveCount="3", SentTimestamp="1700000000123", MessageGroupId="g1"
    )
    assert message.receive_count == 3
    assert message.sent_timestamp == datetime(2023, 11, 14, 22, 13, 20, 123000, timezone.utc)
    assert message.group_id == "g1"
    assert message.md is message.raw
    bare = SqsMessage(message_id="m", receipt_handle="r", body="b")
    assert (bare.receive_count, bare.sent_timestamp, bare.group_id) == (1, None, None)


# --- batch results -----------------------------------------------------------------------------
BATCH = [make_message(i) for i in range(4)]


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (None, set()),
        (True, set()),
        (False, {0, 1, 2, 3}),
        (BatchResult(failed_receipt_handles=["rh-1", "rh-3"]), {1, 3}),
        (BatchResult(failed_receipt_handles=["id-2"]), {2}),
        (BatchResult(failed_message_ids=["id-0"]), {0}),
        ({"batchItemFailures": [{"itemIdentifier": "id-1"}]}, {1}),
        ({"batchItemFailures": []}, set()),
        # Lambda's other shapes of complete success (issue 11.11): an empty response object,
        # a null batchItemFailures list, an empty list.
        ({}, set()),
        ({"batchItemFailures": None}, set()),
        ([], set()),
        (["rh-2", "id-0"], {0, 2}),
        ([BATCH[3]], {3}),
    ],
)
def test_failed_indexes_reads_every_result_form(result: object, expected: set[int]) -> None:
    assert failed_indexes(result, BATCH) == expected


@pytest.mark.parametrize(
    "result",
    [
        BatchResult(failed_receipt_handles=["not-in-batch"]),
        {"batchItemFailures": [{"itemIdentifier": "nope"}]},
        {"batchItemFailures": [{"id": "id-1"}]},
        # Lambda's complete failures: an empty or null itemIdentifier.
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"other": 1},
        "id-1",
        42,
        [None],
    ],
)
def test_unreadable_or_unknown_results_fail_the_whole_batch(result: object) -> None:
    with pytest.raises(InvalidBatchResult):
        failed_indexes(result, BATCH)


# --- settings ----------------------------------------------------------------------------------
def test_defaults_match_sqs_fargate_listener() -> None:
    settings = ListenerSettings.resolve(queue_url="q", environ={})
    assert (settings.mode, settings.wait_time, settings.batch_size) == ("batch", 20, 10)
    assert (settings.visibility_secs, settings.max_extend, settings.worker_threads) == (60, 900, 4)
    assert settings.idle_sleep_max == 2.0


def test_argument_beats_environment_beats_default() -> None:
    env = {
        "WAIT_TIME": "5", "BATCH_SIZE": "3", "VISIBILITY_SECS": "45", "MAX_EXTEND": "600",
        "WORKER_THREADS": "8", "IDLE_SLEEP_MAX": "0.5", "QUEUE_URL": "from-env",
    }  # fmt: skip
    from_env = ListenerSettings.resolve(environ=env)
    assert (from_env.queue_url, from_env.wait_time, from_env.batch_size) == ("from-env", 5, 3)
    assert (from_env.visibility_secs, from_env.max_extend, from_env.worker_threads) == (45, 600, 8)
    assert from_env.idle_sleep_max == 0.5
    explicit = ListenerSettings.resolve(queue_url="arg", wait_time=1, batch_size=10, environ=env)
    assert (explicit.queue_url, explicit.wait_time, explicit.batch_size) == ("arg", 1, 10)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BATCH_SIZE", "11"),
        ("BATCH_SIZE", "0"),
        ("WAIT_TIME", "25"),
        ("WAIT_TIME", "ten"),
        ("VISIBILITY_SECS", "43201"),
        ("MAX_EXTEND", "-1"),
        ("WORKER_THREADS", "0"),
        ("IDLE_SLEEP_MAX", "nan"),
    ],
)
def test_bad_environment_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ListenerSettings.resolve(queue_url="q", environ={variable: value})
    assert caught.value.setting == variable


def test_bad_arguments_name_the_argument() -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        ListenerSettings.resolve(queue_url="q", batch_size=11, environ={})
    with pytest.raises(ConfigError, match="mode"):
        ListenerSettings.resolve(queue_url="q", mode="stream", environ={})
    with pytest.raises(ConfigError, match="QUEUE_URL"):
        ListenerSettings.resolve(environ={})


def test_backoff_grows_with_receive_count_and_is_capped() -> None:
    settings = ListenerSettings.resolve(
        queue_url="q", retry_backoff_base=10, retry_backoff_max=70, environ={}
    )
    assert [settings.backoff_seconds(n) for n in (1, 2, 3, 4, 50)] == [10, 20, 40, 70, 70]
    assert settings.fifo is False
    assert ListenerSettings.resolve(queue_url="https://x/q.fifo", environ={}).fifo


# --- heartbeat schedule (fake client, fake clock) -----------------------------------------------
class FakeClient:
    """Records batch calls; answers with canned per-entry failures."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[dict[str, Any]]]] = []
        self.fail: dict[str, tuple[str, bool]] = {}
        self.raise_next: list[Exception] = []
        self.lock = threading.Lock()
        #: Entries answered as deleted.
        self.deleted = 0

    def _answer(self, name: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
        with self.lock:
            self.calls.append((name, entries))
            if self.raise_next:
                raise self.raise_next.pop(0)
        ok, failed = [], []
        for entry in entries:
            problem = self.fail.pop(entry["ReceiptHandle"], None)
            if problem is None:
                ok.append({"Id": entry["Id"]})
            else:
                failed.append({"Id": entry["Id"], "Code": problem[0], "SenderFault": problem[1]})
        if name == "delete":
            with self.lock:
                self.deleted += len(ok)
        return {"Successful": ok, "Failed": failed}

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[Any]) -> Any:
        return self._answer("change", Entries)

    def delete_message_batch(self, QueueUrl: str, Entries: list[Any]) -> Any:
        return self._answer("delete", Entries)


def make_heartbeat(client: FakeClient, clock: Clock, *, max_extend: int = 900) -> Heartbeat:
    return Heartbeat(
        client=client,
        queue_url="http://q/unit",
        telemetry=ListenerTelemetry("unit", "http://q/unit"),
        visibility_secs=10,
        max_extend=max_extend,
        clock=clock,
    )


def test_heartbeat_extends_everything_due_in_batches_of_ten() -> None:
    client, clock = FakeClient(), Clock(start=100.0)
    heartbeat = make_heartbeat(client, clock)
    heartbeat.track([make_message(i) for i in range(25)])
    assert heartbeat.beat() == pytest.approx(5.0)  # nothing due before half the timeout
    assert client.calls == []
    clock.now += 5.0
    heartbeat.beat()
    assert [len(entries) for _, entries in client.calls] == [10, 10, 5]
    assert {e["VisibilityTimeout"] for _, entries in client.calls for e in entries} == {10}


def test_heartbeat_stops_for_a_message_once_its_handler_returned() -> None:
    client, clock = FakeClient(), Clock(start=100.0)
    heartbeat = make_heartbeat(client, clock)
    messages = [make_message(i) for i in range(3)]
    heartbeat.track(messages)
    heartbeat.untrack(messages[:2])
    clock.now += 6.0
    heartbeat.beat()
    handles = [e["ReceiptHandle"] for _, entries in client.calls for e in entries]
    assert handles == ["rh-2"]


def test_heartbeat_gives_up_after_max_extend(otel: Any) -> None:
    client, clock = FakeClient(), Clock(start=100.0)
    heartbeat = make_heartbeat(client, clock, max_extend=12)
    heartbeat.track([make_message(1)])
    visible_until = []
    for _ in range(10):
        done = len(client.calls)
        delay = heartbeat.beat()
        visible_until += [
            clock.now + e["VisibilityTimeout"] for _, b in client.calls[done:] for e in b
        ]
        clock.now += delay
    # Received at 100 with a 10 s timeout; extensions add at most 12 s: visible again by 122.
    assert heartbeat.held() == 0
    assert len(visible_until) >= 2
    assert max(visible_until) == pytest.approx(122.0)
    assert otel.total(MAX_EXTEND_EXCEEDED.name, **{"messaging.destination.name": "unit"}) >= 1


def test_heartbeat_drops_messages_sqs_no_longer_knows() -> None:
    client, clock = FakeClient(), Clock(start=100.0)
    heartbeat = make_heartbeat(client, clock)
    heartbeat.track([make_message(1), make_message(2)])
    client.fail["rh-1"] = ("ReceiptHandleIsInvalid", True)
    clock.now += 6.0
    heartbeat.beat()
    assert heartbeat.held() == 1


# --- acker retries (moto never fails an entry on its own side) -----------------------------------
def test_acker_retries_entries_sqs_failed_and_not_invalid_handles() -> None:
    client = FakeClient()
    acker = Acker(
        client=client,
        queue_url="http://q/unit",
        telemetry=ListenerTelemetry("unit", "http://q/unit"),
        sleep=lambda _s: None,
    )
    acker.start()
    client.fail["rh-1"] = ("InternalError", False)
    client.fail["rh-2"] = ("ReceiptHandleIsInvalid", True)
    acker.delete([make_message(i) for i in range(4)], complete=True)
    assert acker.stop(timeout_seconds=5)
    deletes = [[e["ReceiptHandle"] for e in entries] for name, entries in client.calls]
    assert deletes == [["rh-0", "rh-1", "rh-2", "rh-3"], ["rh-1"]]
    assert client.deleted == 3


def test_acker_retries_a_whole_call_that_failed_retryably() -> None:
    from botocore.exceptions import ClientError

    client = FakeClient()
    throttled = ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "DeleteMessageBatch"
    )
    client.raise_next = [throttled]
    acker = Acker(
        client=client,
        queue_url="http://q/unit",
        telemetry=ListenerTelemetry("unit", "http://q/unit"),
        sleep=lambda _s: None,
    )
    acker.start()
    acker.delete([make_message(i) for i in range(12)])
    assert acker.stop(timeout_seconds=5)
    sizes = [len(entries) for _, entries in client.calls]
    assert sizes[0] == 10 and sum(sizes) == 22
    assert client.deleted == 12
