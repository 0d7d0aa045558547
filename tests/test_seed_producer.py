"""dramatiq-sqs-batch 1.0.0's README snippets run as written, with our import path,
against the test server: Quick Start, Basic and Per-Queue Configuration, Monitoring, Manual Queue
Management and Basic Shutdown."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from typing import Any

import dramatiq
import dramatiq.broker
import pytest

from sqsobs.dramatiq import BatchSQSBroker, FailedMessage
from tests.helpers import wait_for

QUICK_START = """
from batch_sqs_broker import BatchSQSBroker
import dramatiq

# Create broker
broker = BatchSQSBroker(
    namespace="my-app-",
    default_batch_interval=1.0,  # Max 1 second wait
    default_idle_timeout=0.1,    # 100ms idle timeout
)

# Set as default broker
dramatiq.set_broker(broker)

# Define a task
@dramatiq.actor
def my_task(data):
    print(f"Processing: {data}")

# Enqueue messages
for i in range(100):
    my_task.send(f"message-{i}")
"""

BASIC_CONFIGURATION = """
broker = BatchSQSBroker(
    namespace="myapp-",
    default_batch_interval=2.0,    # Wait up to 2 seconds
    default_idle_timeout=0.5,      # Send after 500ms of no new messages
    batch_size=10,                 # Max 10 messages per batch (SQS limit)
    max_buffer_size_per_queue=1000, # Memory protection
    max_retry_attempts=3,          # Retry failed messages 3 times
)
"""

PER_QUEUE_CONFIGURATION = """
broker = BatchSQSBroker(
    group_batch_intervals={
        "high_priority": 0,      # Send immediately
        "low_priority": 5.0,     # Wait up to 5 seconds
    },
    group_idle_timeouts={
        "high_priority": 0,      # No idle timeout
        "low_priority": 1.0,     # Send after 1s idle
    }
)
"""

MONITORING = """
# Get overall metrics
metrics = broker.get_metrics()
print(metrics)

# Get specific queue status
status = broker.get_queue_status("my_queue")
print(status)
"""

MANUAL_QUEUE_MANAGEMENT = """
# Force flush a specific queue
broker.force_flush_queue("urgent_queue")

# Clear queue buffer (emergency use)
cleared_count = broker.clear_queue_buffer("problematic_queue")

# Flush all queues
broker.flush_all()
"""

BASIC_SHUTDOWN = """
# Always call close() before application exits
broker.close()
"""


def run(snippet: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """Execute a README snippet as written, with our import path for dramatiq-sqs-batch's."""
    code = snippet.replace("from batch_sqs_broker import", "from sqsobs.dramatiq import")
    exec(compile(code, "<dramatiq-sqs-batch README>", "exec"), namespace)
    return namespace


@pytest.fixture
def readme_env(sqs_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The snippets pass no endpoint: boto3 reads it from AWS_ENDPOINT_URL, as in production."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", sqs_server.endpoint_url)
    previous = dramatiq.broker.global_broker
    brokers: list[Any] = []
    yield brokers
    dramatiq.broker.global_broker = previous
    for broker in brokers:
        broker.close()
        for queue in broker.queues.values():
            with contextlib.suppress(Exception):
                queue.delete()


def test_quick_start_monitoring_manual_management_and_shutdown(
    readme_env: list[Any], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    namespace = run(QUICK_START, {})
    broker: BatchSQSBroker = namespace["broker"]
    readme_env.append(broker)
    assert dramatiq.get_broker() is broker
    assert broker.queues["default"].url.endswith("/my-app-_default")  # dramatiq-sqs's naming
    worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=100)
    worker.start()
    try:
        processed: set[str] = set()

        def all_processed() -> bool:
            processed.update(re.findall(r"Processing: (message-\d+)", capsys.readouterr().out))
            return len(processed) == 100

        assert wait_for(all_processed, timeout=30)
    finally:
        worker.stop(timeout=5000)
    assert processed == {f"message-{i}" for i in range(100)}

    run(MONITORING, namespace)
    metrics, status = namespace["metrics"], namespace["status"]
    assert set(metrics) >= {
        "buffer_sizes",
        "failed_message_counts",
        "metrics",
        "max_buffer_size_per_queue",
        "max_retry_attempts",
        "background_thread_alive",
    }
    assert metrics["buffer_sizes"] == {"default": 0}
    assert metrics["failed_message_counts"] == {"default": 0}
    counters = metrics["metrics"]
    assert counters["messages_sent"] == {"default": 100}
    assert counters["messages_failed"] == {"default": 0}
    assert counters["oversized_message_dropped"] == {"default": 0}
    assert "batch_split_count" in counters
    assert metrics["max_buffer_size_per_queue"] == 5000 and metrics["max_retry_attempts"] == 3
    assert metrics["background_thread_alive"] is True
    assert status["queue_name"] == "my_queue" and status["buffer_size"] == 0
    assert status["messages_sent"] == 0 and status["batch_interval"] == 1.0
    assert status["idle_timeout"] == 0.1 and status["last_flush_time"] is None
    printed = capsys.readouterr().out
    assert "'buffer_sizes'" in printed and "'queue_name': 'my_queue'" in printed

    run(MANUAL_QUEUE_MANAGEMENT, namespace)
    assert namespace["cleared_count"] == 0

    caplog.set_level(logging.INFO, logger="sqsobs")
    run(BASIC_SHUTDOWN, namespace)
    assert broker.get_metrics()["background_thread_alive"] is False
    messages = [r.getMessage() for r in caplog.records]
    assert "Closing BatchSQSBroker..." in messages
    assert any(m.startswith("BatchSQSBroker closed. Final metrics: {") for m in messages)


def test_basic_configuration(readme_env: list[Any]) -> None:
    namespace = run(BASIC_CONFIGURATION, {"BatchSQSBroker": BatchSQSBroker})
    broker = namespace["broker"]
    readme_env.append(broker)
    assert broker.namespace == "myapp-"
    assert broker.default_batch_interval == 2.0 and broker.default_idle_timeout == 0.5
    assert broker.batch_size == 10 and broker.max_buffer_size_per_queue == 1000
    assert broker.max_retry_attempts == 3
    metrics = broker.get_metrics()
    assert metrics["max_buffer_size_per_queue"] == 1000 and metrics["max_retry_attempts"] == 3


def test_per_queue_configuration(readme_env: list[Any]) -> None:
    namespace = run(PER_QUEUE_CONFIGURATION, {"BatchSQSBroker": BatchSQSBroker})
    broker = namespace["broker"]
    readme_env.append(broker)
    high, low = broker.get_queue_status("high_priority"), broker.get_queue_status("low_priority")
    assert (high["batch_interval"], high["idle_timeout"]) == (0, 0)
    assert (low["batch_interval"], low["idle_timeout"]) == (5.0, 1.0)
    other = broker.get_queue_status("anything_else")
    assert (other["batch_interval"], other["idle_timeout"]) == (1.0, 0.1)


def test_failed_message_dataclass_matches_dramatiq_sqs_batch() -> None:
    failed = FailedMessage(entry={"Id": "1", "MessageBody": "b"})
    assert failed.retry_count == 0
    assert failed.first_failure_time > 0 and failed.last_failure_time > 0
    assert FailedMessage({"Id": "2"}, 2, 1.0, 2.0).retry_count == 2
