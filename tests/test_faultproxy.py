"""The fault proxy injects what it says, so fault tests built on it mean something."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from sqsobs.errors import Throttled, translate_client_error
from tests.conftest import ClientFactory, SqsServer
from tests.faultproxy import Fault, FaultProxy

ENTRIES = [{"Id": "a", "MessageBody": "one"}, {"Id": "b", "MessageBody": "two"}]


@pytest.fixture
def proxy(sqs_server: SqsServer) -> Iterator[FaultProxy]:
    with FaultProxy(sqs_server.endpoint_url, seed=7) as running:
        yield running


@pytest.fixture
def via_proxy(make_client: ClientFactory, proxy: FaultProxy) -> Any:
    return make_client(endpoint_url=proxy.endpoint_url)


def _count_messages(client: Any, url: str) -> int:
    attrs = client.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def test_forwards_untouched(via_proxy: Any, proxy: FaultProxy, queue_url: str) -> None:
    result = via_proxy.send_message_batch(QueueUrl=queue_url, Entries=ENTRIES)
    assert len(result["Successful"]) == 2
    assert proxy.count("SendMessageBatch") == 1


def test_throttle_is_seen_as_throttling(
    via_proxy: Any, proxy: FaultProxy, sqs_client: Any, queue_url: str
) -> None:
    proxy.add(Fault("throttle", operations={"SendMessageBatch"}, count=1))
    with pytest.raises(ClientError) as info:
        via_proxy.send_message_batch(QueueUrl=queue_url, Entries=ENTRIES)
    assert isinstance(translate_client_error(info.value), Throttled)
    assert _count_messages(sqs_client, queue_url) == 0  # never reached the server
    via_proxy.send_message_batch(QueueUrl=queue_url, Entries=ENTRIES)  # count=1: passes now
    assert _count_messages(sqs_client, queue_url) == 2


@pytest.mark.parametrize(("kind", "status"), [("error500", 500), ("error503", 503)])
def test_server_errors(
    via_proxy: Any, proxy: FaultProxy, queue_url: str, kind: Any, status: int
) -> None:
    proxy.add(Fault(kind, count=1))
    with pytest.raises(ClientError) as info:
        via_proxy.send_message_batch(QueueUrl=queue_url, Entries=ENTRIES)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert translate_client_error(info.value).retryable


def test_reset_before_and_after_forwarding(
    via_proxy: Any, proxy: FaultProxy, sqs_client: Any, queue_url: str
) -> None:
    proxy.add(Fault("reset_request", count=1))
    with pytest.raises((ConnectionClosedError, EndpointConnectionError, ConnectionError)):
        via_proxy.send_message_batch(QueueUrl=queue_url, Entries=ENTRIES)
    assert _count_messages(sqs_client, queue_url) == 0
    proxy.add(Fault("reset_response", count=1))
    with pytest.raises((ConnectionClosedError, EndpointConnectionError, ConnectionError)):
        via_proxy.send_message_batch(QueueUrl=queue_url, Entries=ENTRIES)
    assert _count_messages(sqs_client, queue_url) == 2  # stored, though the client saw a failure


def test_latency_and_stall(via_proxy: Any, proxy: FaultProxy, queue_url: str) -> None:
    proxy.add(Fault("latency", operations={"GetQueueAttributes"}, seconds=0.3, count=1))
    start = time.monotonic()
    via_proxy.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    assert time.monotonic() - start >= 0.3
    proxy.add(Fault("stall", operations={"GetQueueAttributes"}, seconds=0.4, count=1))
    start = time.monotonic()
    via_proxy.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    assert time.monotonic() - start >= 0.4
