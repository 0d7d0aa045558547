"""Pure parts of the producer: packing, flush decisions, backoff, result classification,
settings resolution, the send pool."""

from __future__ import annotations

import dataclasses
import inspect
import threading
from concurrent.futures import Future
from typing import Any

import pytest

from sqsobs import BatchProducer
from sqsobs._backoff import Backoff
from sqsobs._settings import markdown_table
from sqsobs.errors import ConfigError
from sqsobs.producer._classify import classify
from sqsobs.producer._messages import FlushReason, PendingMessage
from sqsobs.producer._packing import pack
from sqsobs.producer._policy import NEVER, due_reason
from sqsobs.producer._pool import SendPool
from sqsobs.producer._queue_buffer import QueueBuffer
from sqsobs.producer._resolve import QueueInfo
from sqsobs.producer._settings import ProducerSettings
from sqsobs.producer._stats import QueueStats
from sqsobs.producer._telemetry import QueueTelemetry
from sqsobs.telemetry._instruments import get_instruments

MIB = 1_048_576


def test_pack_respects_count_and_bytes_and_counts_splits() -> None:
    batches, splits = pack(list(range(25)), max_entries=10, max_bytes=MIB, size=lambda _: 1)
    assert [len(b) for b in batches] == [10, 10, 5] and splits == 0
    sizes = [600_000, 600_000, 10, 500_000, 500_000, 48_576, 1]
    batches, splits = pack(sizes, max_entries=10, max_bytes=MIB, size=lambda n: n)
    assert batches == [[600_000], [600_000, 10], [500_000, 500_000, 48_576], [1]]
    assert splits == 3
    assert all(sum(b) <= MIB for b in batches)
    assert [x for b in batches for x in b] == sizes  # order preserved
    assert pack([], max_entries=10, max_bytes=MIB, size=lambda n: n) == ([], 0)


def _state(*, interval: float = 1.0, idle: float = 0.1, fifo: bool = False) -> QueueBuffer:
    info = QueueInfo(url="http://x/q", name="q", fifo=fifo, max_message_bytes=MIB)
    telemetry = QueueTelemetry("q", info.url, get_instruments())
    return QueueBuffer(
        key="q",
        info=info,
        telemetry=telemetry,
        batch_interval=interval,
        idle_timeout=idle,
        stats=QueueStats(),
    )


def _add(state: QueueBuffer, at: float, size: int = 10, seq: int = 0) -> None:
    message = PendingMessage({"Id": "", "MessageBody": "x"}, size, Future(), None, at)
    message.seq = seq or len(state.pending) + 1
    state.pending.append(message)
    state.pending_bytes += size
    state.newest = at


def test_due_reason_timers() -> None:
    state = _state(interval=1.0, idle=0.1)
    assert due_reason(state, 0.0, batch_size=10, max_batch_bytes=MIB) == (None, NEVER)
    _add(state, 100.0)
    assert due_reason(state, 100.05, batch_size=10, max_batch_bytes=MIB) == (None, 100.1)
    assert due_reason(state, 100.1, batch_size=10, max_batch_bytes=MIB)[0] is FlushReason.IDLE
    for t in (100.08, 100.16, 100.24, 100.32, 100.40, 100.48, 100.56, 100.64, 100.72):
        _add(state, t)
    assert due_reason(state, 100.75, batch_size=10, max_batch_bytes=MIB)[0] is FlushReason.SIZE
    state = _state(interval=1.0, idle=0.5)
    for t in (0.0, 0.4, 0.8):
        _add(state, t)
    assert due_reason(state, 0.9, batch_size=10, max_batch_bytes=MIB) == (None, 1.0)
    assert due_reason(state, 1.0, batch_size=10, max_batch_bytes=MIB)[0] is FlushReason.INTERVAL


def test_due_reason_bytes_manual_zero_interval_and_fifo_blocking() -> None:
    state = _state(interval=10, idle=0)  # idle 0: no idle trigger
    _add(state, 0.0, size=600_000)
    assert due_reason(state, 5.0, batch_size=10, max_batch_bytes=MIB) == (None, 10.0)
    _add(state, 0.1, size=600_000)
    assert due_reason(state, 0.2, batch_size=10, max_batch_bytes=MIB)[0] is FlushReason.SIZE
    manual = _state(interval=10, idle=0)
    _add(manual, 0.0)
    manual.flush_upto, manual.flush_reason = 1, FlushReason.CLOSE
    assert due_reason(manual, 0.0, batch_size=10, max_batch_bytes=MIB)[0] is FlushReason.CLOSE
    at_once = _state(interval=0, idle=0)
    _add(at_once, 3.0)
    assert due_reason(at_once, 3.0, batch_size=10, max_batch_bytes=MIB)[0] is FlushReason.INTERVAL
    fifo = _state(interval=0, fifo=True)
    _add(fifo, 0.0)
    fifo.inflight_tasks = 1
    assert due_reason(fifo, 1.0, batch_size=10, max_batch_bytes=MIB) == (None, NEVER)


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    policy = Backoff(0.2, 20)
    assert policy.delay(1, rand=lambda: 1.0) == pytest.approx(0.2)
    assert policy.delay(4, rand=lambda: 1.0) == pytest.approx(1.6)
    assert policy.delay(20, rand=lambda: 1.0) == 20
    assert policy.delay(3, rand=lambda: 0.0) == 0
    assert 0 <= policy.delay(2) <= 0.4
    assert Backoff(30, 600, jitter=False).delay(10**6) == 600  # no overflow on huge attempts


def test_classify_per_entry_results() -> None:
    batch = []
    for i in range(5):
        message = PendingMessage({"Id": str(i)}, 1, Future(), None, 0.0)
        batch.append(message)
    response: dict[str, Any] = {
        "Successful": [{"Id": "0", "MessageId": "m0"}, {"Id": "3", "MessageId": "m3"}],
        "Failed": [
            {"Id": "1", "SenderFault": True, "Code": "InvalidParameterValue", "Message": "bad"},
            {"Id": "2", "SenderFault": False, "Code": "InternalError"},
            {"Id": "4", "SenderFault": True, "Code": "RequestThrottled"},
        ],
    }
    delivered, failures = classify(batch, response)
    assert [(m.entry["Id"], mid) for m, mid in delivered] == [("0", "m0"), ("3", "m3")]
    verdicts = {m.entry["Id"]: (f.code, f.sender_fault, f.retryable) for m, f in failures}
    assert verdicts == {
        "1": ("InvalidParameterValue", True, False),
        "2": ("InternalError", False, True),
        "4": ("RequestThrottled", True, True),
    }
    _, missing = classify(batch[:1], {"Successful": []})
    assert missing[0][1].retryable and missing[0][1].code == "MissingResult"


def test_settings_argument_beats_environment_beats_default() -> None:
    env = {"SQSOBS_BATCH_INTERVAL": "0.25", "SQSOBS_MAX_RETRY_ATTEMPTS": "5"}
    settings = ProducerSettings.resolve(max_retry_attempts=1, environ=env)
    assert settings.default_batch_interval == 0.25 and settings.max_retry_attempts == 1
    defaults = ProducerSettings.resolve(environ={})
    assert (defaults.default_batch_interval, defaults.default_idle_timeout) == (1.0, 0.1)
    assert (defaults.batch_size, defaults.max_buffer_size_per_queue) == (10, 5000)
    assert defaults.max_retry_attempts == 3 and defaults.flush_at_exit is True
    assert defaults.xray_trace_header is True  # AWSTraceHeader by default (issue 17)
    with pytest.raises(ConfigError, match="batch_size"):
        ProducerSettings.resolve(batch_size=11, environ={})
    with pytest.raises(ConfigError, match="SQSOBS_IDLE_TIMEOUT"):
        ProducerSettings.resolve(environ={"SQSOBS_IDLE_TIMEOUT": "soon"})
    with pytest.raises(ConfigError, match=r"group_batch_intervals\['q'\]"):
        ProducerSettings.resolve(group_batch_intervals={"q": -1}, environ={})
    overrides = ProducerSettings.resolve(group_batch_intervals={"q": 0}, environ={})
    assert overrides.batch_interval("url", "q") == 0 and overrides.batch_interval("x") == 1.0


def test_batch_producer_keywords_are_the_settings_fields() -> None:
    objects = {"self", "client", "on_failure", "queue_url_resolver"}
    objects |= {"tracer_provider", "meter_provider", "s3_client"}
    keywords = [p for p in inspect.signature(BatchProducer.__init__).parameters if p not in objects]
    assert keywords == [field.name for field in dataclasses.fields(ProducerSettings)]


def test_settings_keep_their_defaults_and_variables_and_document_each() -> None:
    defaults = dataclasses.asdict(ProducerSettings.resolve(environ={}))
    assert defaults == {
        "default_batch_interval": 1.0,
        "default_idle_timeout": 0.1,
        "batch_size": 10,
        "group_batch_intervals": {},
        "group_idle_timeouts": {},
        "max_buffer_size_per_queue": 5000,
        "max_retry_attempts": 3,
        "max_batch_bytes": 1_048_576,
        "buffer_full_timeout_seconds": 5.0,
        "max_concurrent_sends": 4,
        "retry_backoff_base_seconds": 0.2,
        "retry_backoff_max_seconds": 20.0,
        "shutdown_timeout_seconds": 30.0,
        "flush_at_exit": True,
        "xray_trace_header": True,
        "create_spans": True,
        "install_signal_handler": True,
        "large_payload_bucket": "",
        "large_payload_threshold_bytes": 0,
        "always_offload": False,
        "transport": "boto3",
    }
    assert ProducerSettings() == ProducerSettings.resolve(environ={})  # built directly, too
    rows = [line.split(" | ") for line in markdown_table(ProducerSettings).splitlines()[2:]]
    assert [row[0].strip("| `") for row in rows] == list(defaults)
    assert all(row[3].strip(" |") for row in rows)  # every setting says what it means
    assert {row[1].strip("`") for row in rows} - {""} == {
        "SQSOBS_BATCH_INTERVAL",
        "SQSOBS_IDLE_TIMEOUT",
        "SQSOBS_BATCH_SIZE",
        "SQSOBS_MAX_BUFFER_SIZE_PER_QUEUE",
        "SQSOBS_MAX_RETRY_ATTEMPTS",
        "SQSOBS_MAX_BATCH_BYTES",
        "SQSOBS_BUFFER_FULL_TIMEOUT",
        "SQSOBS_MAX_CONCURRENT_SENDS",
        "SQSOBS_RETRY_BACKOFF_BASE",
        "SQSOBS_RETRY_BACKOFF_MAX",
        "SQSOBS_SHUTDOWN_TIMEOUT",
        "SQSOBS_FLUSH_AT_EXIT",
        "SQSOBS_XRAY_TRACE_HEADER",
        "SQSOBS_CREATE_SPANS",
        "SQSOBS_INSTALL_SIGNAL_HANDLER",
        "SQSOBS_LARGE_PAYLOAD_BUCKET",
        "SQSOBS_LARGE_PAYLOAD_THRESHOLD_BYTES",
        "SQSOBS_ALWAYS_OFFLOAD",
        "SQSOBS_TRANSPORT",
    }


def test_send_pool_bounds_its_threads_and_runs_everything() -> None:
    pool = SendPool(max_workers=3, name="test-pool")
    gate = threading.Event()
    done: list[int] = []
    lock = threading.Lock()

    def task(n: int) -> None:
        gate.wait(5)
        with lock:
            done.append(n)

    for n in range(20):
        pool.submit(task, n)
    assert sum(t.name.startswith("test-pool-") for t in threading.enumerate()) == 3
    gate.set()
    assert pool.close(timeout_seconds=5)
    assert sorted(done) == list(range(20))
