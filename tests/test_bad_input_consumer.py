"""Hostile messages on the consumer side: non-JSON bodies, non-UTF-8 binary attributes, malformed
``traceparent`` / ``AWSTraceHeader``, no attributes at all, and a receipt handle that expired
while its handler ran. Each is handled, counted, and no worker thread dies.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from typing import Any

import pytest

from sqsobs import BatchResult, Listener
from sqsobs.telemetry._spans import error_type
from sqsobs.telemetry.catalog import HANDLER_FAILURES, HEARTBEATS, PROPAGATION_SKIPPED
from sqsobs.types import SqsMessage
from tests.conftest import ClientFactory, SqsServer
from tests.faultproxy import Fault, FaultProxy
from tests.helpers import drain_queue, wait_for
from tests.listener_support import queue_counts
from tests.soak_common import FAST, threads_alive

NOT_UTF8 = b"\xff\xfe\x00\x80\xc3("
HOSTILE: list[dict[str, Any]] = [
    {"MessageBody": '{"kind": "plain"}'},  # no attributes at all
    {"MessageBody": "not json {", "MessageAttributes": {"k": {"DataType": "String",
                                                              "StringValue": "v"}}},
    {"MessageBody": '{"kind": "binary"}', "MessageAttributes": {
        "blob": {"DataType": "Binary", "BinaryValue": NOT_UTF8},
        "blob2": {"DataType": "Binary.gz", "BinaryValue": b"\x00"}}},
    {"MessageBody": '{"kind": "bad traceparent"}', "MessageAttributes": {
        "traceparent": {"DataType": "String", "StringValue": "00-not-a-trace-id-01"},
        "tracestate": {"DataType": "String", "StringValue": "=,=,,="}}},
    {"MessageBody": '{"kind": "binary traceparent"}', "MessageAttributes": {
        "traceparent": {"DataType": "Binary", "BinaryValue": NOT_UTF8}}},
    {"MessageBody": '{"kind": "bad xray"}', "MessageSystemAttributes": {
        "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-zz;Parent=;;=="}}},
    {"MessageBody": '{"kind": "edge chars \\t \ud7ff \U0010ffff"}'},
]  # fmt: skip
NON_JSON = "not json {"


def _send_hostile(client: Any, url: str) -> None:
    entries = [{"Id": str(i), **entry} for i, entry in enumerate(HOSTILE)]
    response = client.send_message_batch(QueueUrl=url, Entries=entries)
    assert not response.get("Failed"), response


def _queue_with_dlq(sqs_client: Any, make_queue: Any) -> tuple[str, str]:
    dlq = make_queue("-dlq")
    arn = sqs_client.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
    policy = {"deadLetterTargetArn": arn["Attributes"]["QueueArn"], "maxReceiveCount": "2"}
    return make_queue(RedrivePolicy=json.dumps(policy), VisibilityTimeout=1), dlq


@pytest.mark.parametrize("mode", ["per_message", "batch"])
def test_hostile_messages_are_handled_counted_and_no_worker_dies(
    sqs_client: Any, make_client: ClientFactory, make_queue: Any, otel: Any, mode: str
) -> None:
    url, dlq = _queue_with_dlq(sqs_client, make_queue)
    _send_hostile(sqs_client, url)
    lock = threading.Lock()
    ok: Counter[str] = Counter()
    tries: Counter[str] = Counter()
    seen: dict[str, tuple[dict[str, Any], bool]] = {}

    counts: list[int] = []  # the non-JSON message's receive count at each try (for a failure)

    def look(message: SqsMessage) -> bool:
        """Read everything a handler reads; True if the body is JSON."""
        with lock:
            tries[message.body] += 1
            if message.body == NON_JSON:
                counts.append(message.receive_count)
            seen[message.body] = (message.message_attributes(), message.context is not None)
        _, error = message.try_json()
        return error is None

    def per_message(message: SqsMessage) -> bool:
        look(message)
        message.json  # noqa: B018 - raises on a non-JSON body, as a handler would
        with lock:
            ok[message.body] += 1
        return True

    def batch(messages: list[SqsMessage]) -> BatchResult:
        failed = [m.message_id for m in messages if not look(m)]
        with lock:
            ok.update(m.body for m in messages if m.message_id not in failed)
        return BatchResult(failed_message_ids=failed)

    listener = Listener(
        per_message if mode == "per_message" else batch,
        queue_url=url,
        mode=mode,
        worker_threads=3,
        visibility_secs=1,
        client=make_client(),
        **FAST,
    )
    json_bodies = [e["MessageBody"] for e in HOSTILE if e["MessageBody"] != NON_JSON]
    with listener:
        assert wait_for(lambda: all(ok[b] for b in json_bodies), timeout=15), ok
        # Dead-lettered on its third receive: tried twice. (Waiting for the queue to read (0, 0)
        # instead once went on while the message was on it: see the harness's moto fault 5.)
        assert wait_for(lambda: queue_counts(sqs_client, dlq) == (1, 0), timeout=15)
        alive = threads_alive(listener)
    assert queue_counts(sqs_client, url) == (0, 0)
    in_dlq = [m["Body"] for m in drain_queue(sqs_client, dlq)]
    queue = url.rsplit("/", 1)[-1]
    dest = {"messaging.destination.name": queue}
    print(f"{mode}: handled {dict(ok)}, tries {tries[NON_JSON]} of the non-JSON, DLQ {in_dlq}")
    assert alive
    assert all(ok[b] == 1 for b in json_bodies)
    evidence = (counts, listener.stats.snapshot(), in_dlq)
    assert in_dlq == [NON_JSON] and tries[NON_JSON] == 2, evidence
    assert listener.stats.snapshot()["failed"] == 2
    kind = error_type(json.JSONDecodeError("x", "y", 0)) if mode == "per_message" else None
    failures = otel.total(HANDLER_FAILURES.name, **dest)
    assert failures == 2
    if kind is not None:
        assert otel.total(HANDLER_FAILURES.name, **dest, **{"error.type": kind}) == 2
    attrs = {body: found for body, (found, _) in seen.items()}
    assert attrs['{"kind": "binary"}'] == {"blob": NOT_UTF8, "blob2": b"\x00"}
    assert attrs['{"kind": "plain"}'] == {}
    for kind_name in ("bad traceparent", "binary traceparent", "bad xray"):
        assert seen[f'{{"kind": "{kind_name}"}}'][1] is False  # no context, no crash
    reason = {"sqsobs.propagation.reason": "malformed"}
    malformed = otel.total(PROPAGATION_SKIPPED.name, **dest, **reason)
    assert malformed >= 2


def spent_handle_code(client: Any, queue_url: str, handle: str) -> str:
    """The code this server gives a ChangeMessageVisibilityBatch entry for a deleted message.

    Measured, not assumed: moto says ReceiptHandleIsInvalid, AWS and LocalStack answer the single
    call with InvalidParameterValue ("Message does not exist or is not available for visibility
    timeout change"), and LocalStack names the batch entry InvalidParameterValueException.
    """
    answer = client.change_message_visibility_batch(
        QueueUrl=queue_url, Entries=[{"Id": "0", "ReceiptHandle": handle, "VisibilityTimeout": 5}]
    )
    assert not answer.get("Successful"), answer
    return str(answer["Failed"][0]["Code"])


@pytest.mark.parametrize("server_blames_itself", [False, True], ids=["as-served", "blame-server"])
def test_expired_receipt_handle_is_counted_and_the_worker_goes_on(
    request: pytest.FixtureRequest,
    sqs_server: SqsServer,
    sqs_client: Any,
    make_client: ClientFactory,
    queue_url: str,
    *,
    otel: Any,
    server_blames_itself: bool,
) -> None:
    """Heartbeats fail (proxy), the message's visibility runs out, another consumer takes and
    deletes it (one worker: the listener does not receive it again meanwhile); the heartbeat's
    next call with the old handle fails per entry, is counted and dropped; the handler still
    returns and the same worker handles what comes next.

    ``blame-server``: the proxy marks that entry ``SenderFault: false``, as LocalStack does; its
    code still says the handle is spent, so retrying it cannot help and it must be dropped too.
    """
    sqs_client.send_message(QueueUrl=queue_url, MessageBody="held")
    release = threading.Event()
    started = threading.Event()
    handled: list[str] = []
    handles: list[str] = []

    def handle(message: SqsMessage) -> bool:
        if message.body == "held":
            handles.append(message.receipt_handle)
            started.set()
            release.wait(20)
        handled.append(message.body)
        return True

    with FaultProxy(sqs_server.endpoint_url, seed=3) as proxy:
        proxy.add(Fault("error500", operations={"ChangeMessageVisibilityBatch"}))
        listener = Listener(
            handle,
            queue_url=queue_url,
            mode="per_message",
            worker_threads=1,
            visibility_secs=1,
            max_extend=60,
            client=make_client(endpoint_url=proxy.endpoint_url),
            **FAST,
        )
        with listener, contextlib.ExitStack() as on_exit:
            on_exit.callback(release.set)  # a failed assert must not keep the handler 20 s
            assert started.wait(10)
            taken: list[dict[str, Any]] = []

            def someone_else_takes_it() -> bool:
                taken.extend(
                    sqs_client.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get(
                        "Messages", []
                    )
                )
                return bool(taken)

            assert wait_for(someone_else_takes_it, timeout=10)
            sqs_client.delete_message(QueueUrl=queue_url, ReceiptHandle=taken[0]["ReceiptHandle"])
            code = spent_handle_code(sqs_client, queue_url, handles[0])
            proxy.clear()  # the heartbeat gets through again, with a handle SQS no longer knows
            if server_blames_itself:
                proxy.add(Fault("blame_server", operations={"ChangeMessageVisibilityBatch"}))
            dest = {"messaging.destination.name": listener.telemetry.queue}
            expired = {**dest, "error.type": code}
            assert wait_for(lambda: otel.total(HEARTBEATS.name, **expired) >= 1, timeout=10)
            # Dropped, not retried until max_extend: nothing is left to hold.
            assert wait_for(lambda: listener._engine.heartbeat.held() == 0, timeout=2)
            release.set()
            sqs_client.send_message(QueueUrl=queue_url, MessageBody="next")
            assert wait_for(lambda: "next" in handled, timeout=10)
            alive = threads_alive(listener)
            time.sleep(0.2)
    assert alive
    assert handled.count("held") == 1
    assert otel.total(HEARTBEATS.name, **dest, **{"error.type": "InternalError"}) >= 1
    assert otel.total(HEARTBEATS.name, **expired) == 1  # counted once: not retried
    assert queue_counts(sqs_client, queue_url) == (0, 0)
