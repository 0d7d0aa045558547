"""Every setting and environment variable, given a wrong type or an out-of-range value, fails at
start-up (when the producer, listener, telemetry or logging is built) with an error naming it.

The tables below are checked for completeness: every ``env="..."`` variable in sqsobs' source and
every settings parameter of BatchProducer and Listener must have a bad-value case here.
"""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from sqsobs import BatchProducer, ConfigError, Listener

ROOT = Path(__file__).resolve().parent.parent

PRODUCER_ENV: dict[str, list[str]] = {
    "SQSOBS_BATCH_INTERVAL": ["soon", "-1", "nan"],
    "SQSOBS_IDLE_TIMEOUT": ["x", "-0.5", "inf"],
    "SQSOBS_BATCH_SIZE": ["ten", "0", "11", "2.5"],
    "SQSOBS_MAX_BUFFER_SIZE_PER_QUEUE": ["lots", "0"],
    "SQSOBS_MAX_RETRY_ATTEMPTS": ["3x", "-1"],
    "SQSOBS_MAX_BATCH_BYTES": ["1MiB", "1023", "1048577"],
    "SQSOBS_BUFFER_FULL_TIMEOUT": ["forever", "-1"],
    "SQSOBS_MAX_CONCURRENT_SENDS": ["many", "0", "65"],
    "SQSOBS_RETRY_BACKOFF_BASE": ["b", "-1"],
    "SQSOBS_RETRY_BACKOFF_MAX": ["m", "-1"],
    "SQSOBS_SHUTDOWN_TIMEOUT": ["t", "-1"],
    "SQSOBS_FLUSH_AT_EXIT": ["maybe"],
    "SQSOBS_XRAY_TRACE_HEADER": ["sometimes"],
    "SQSOBS_CREATE_SPANS": ["rarely"],
    "SQSOBS_INSTALL_SIGNAL_HANDLER": ["perhaps"],
    "SQSOBS_LARGE_PAYLOAD_BUCKET": ["Not_A_Bucket", "ab", "a..b"],
    "SQSOBS_LARGE_PAYLOAD_THRESHOLD_BYTES": ["big", "-1", "1048577"],
    "SQSOBS_ALWAYS_OFFLOAD": ["often"],
    "SQSOBS_TRANSPORT": ["fast", "Lean", ""],
}

PRODUCER_ARGS: dict[str, list[Any]] = {
    "default_batch_interval": ["1", -1, float("nan")],
    "default_idle_timeout": ["0.1", -1],
    "batch_size": ["10", 0, 11, 2.5, True],
    "group_batch_intervals": [{"q": -1}, {"q": "1"}, ["q"]],
    "group_idle_timeouts": [{"q": float("inf")}, {"q": None}],
    "max_buffer_size_per_queue": [0, 1.5],
    "max_retry_attempts": [-1, "3"],
    "max_batch_bytes": [1023, 1_048_577],
    "buffer_full_timeout_seconds": [-1, "5"],
    "max_concurrent_sends": [0, 65],
    "retry_backoff_base_seconds": [-0.1],
    "retry_backoff_max_seconds": [-1],
    "shutdown_timeout_seconds": [-1, "30"],
    "flush_at_exit": ["yes", 1],
    "xray_trace_header": ["no", 0],
    "create_spans": ["off", 1],
    "install_signal_handler": ["on", 1],
    "large_payload_bucket": ["my_bucket", "x" * 64, 5],
    "large_payload_threshold_bytes": [-1, 1_048_577, "1024"],
    "always_offload": ["yes", 1],
    "transport": ["urllib3", "LEAN", 1],
}
#: Producer parameters that are objects, not settings.
PRODUCER_OBJECTS = {
    "self", "client", "on_failure", "queue_url_resolver", "tracer_provider", "meter_provider",
    "s3_client",
}  # fmt: skip

LISTENER_ENV: dict[str, list[str]] = {
    "QUEUE_URL": ["   "],
    "WAIT_TIME": ["soon", "-1", "21"],
    "BATCH_SIZE": ["x", "0", "11"],
    "VISIBILITY_SECS": ["long", "0", "43201"],
    "MAX_EXTEND": ["x", "-1", "43201"],
    "WORKER_THREADS": ["four", "0", "1025"],
    "POLLER_THREADS": ["two", "0", "5"],  # 5 > the 4 worker threads
    "IDLE_SLEEP_MAX": ["x", "-1", "nan"],
    "SHUTDOWN_TIMEOUT": ["x", "-1"],
    "MAX_PREFETCH": ["some", "-1", "11"],
    "SQSOBS_DELETE_LARGE_PAYLOADS": ["sometimes"],
    "SQSOBS_TRANSPORT": ["crt", "LEAN"],
    "BACKLOG_METRICS": ["perhaps"],
    "BACKLOG_INTERVAL": ["minute", "0", "3601"],
    "ECS_TASK_PROTECTION": ["please"],
}

LISTENER_ARGS: dict[str, list[Any]] = {
    "queue_url": ["  "],
    "mode": ["stream", 1],
    "wait_time": [21, -1, "20"],
    "batch_size": [0, 11, "10"],
    "visibility_secs": [0, 43201, 1.5],
    "max_extend": [-1, 43201],
    "worker_threads": [0, 1025],
    "poller_threads": [0, 5],
    "idle_sleep_max": [-1, 301, "1"],
    "shutdown_timeout_seconds": [-1, 3601],
    "retry_backoff": ["yes", 1],
    "retry_backoff_base": [-1, 43201],
    "retry_backoff_max": [5],  # below retry_backoff_base (30)
    "filter_fn": [5],
    "on_success": ["print"],
    "on_failure": [object()],
    "delete_linger_seconds": [-1, "0.05", float("nan")],
    "trace_empty_receives": ["yes", 1],
    "health_check_port": ["8080", -1, 65536, True, 1.5],
    "max_prefetch": [-1, 11, "5"],
    "delete_large_payloads": ["no", 0],
    "transport": ["botocore", 0],
    "backlog_metrics": ["yes", 1],
    "backlog_interval_seconds": [0, 0.5, 3601, "60"],
    "ecs_task_protection": ["yes", 1],
}
#: Listener parameters that are objects or labels, not settings.
LISTENER_OBJECTS = {"self", "handler", "client", "s3_client", "name", "environ"}

#: Variables read by configure_telemetry() / configure_logging() (LOG_*: tests/test_logging.py
#: covers LOG_LEVEL, LOG_USE_COLOR, LOG_JSON, LOG_PLAIN_FORMAT the same way).
TELEMETRY_ENV: dict[str, list[str]] = {
    "OTEL_EXPORTER_OTLP_PROTOCOL": ["carrier-pigeon"],
    "OTEL_EXPORTER_PROMETHEUS_PORT": ["http", "-1", "65536"],
    "OTEL_SDK_DISABLED": ["perhaps"],
    "LOG_LEVEL": ["LOUD"],
    "LOG_JSON": ["perhaps"],
    "LOG_USE_COLOR": ["maybe"],
    "LOG_PLAIN_FORMAT": ["%(message", "%(no_such_field)s"],
    "LOG_FORMAT": ["%(log_color)s%(message", "%(no_such_field)s"],
    "OTEL_TRACES_EXPORTER": ["zipkin"],
    "OTEL_METRICS_EXPORTER": ["otlp,statsd"],
    "OTEL_EXPORTER_OTLP_ENDPOINT": ["localhost:4317", "ftp://collector:21"],
    "OTEL_METRICS_EXEMPLAR_FILTER": ["sometimes"],
}
#: Variables whose every value is valid (free text): nothing to reject.
FREE_TEXT_ENV = {"OTEL_EXPORTER_PROMETHEUS_HOST", "LOG_DATEFMT"}


def _cases(table: dict[str, list[Any]]) -> list[tuple[str, Any]]:
    return [(name, value) for name, values in table.items() for value in values]


def _threads(prefix: str) -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith(prefix))


def test_every_environment_variable_in_the_source_has_bad_value_cases() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "sqsobs").rglob("*.py"))
    variables = set(re.findall(r'env="([A-Z_]+)"', source))
    covered = {*PRODUCER_ENV, *LISTENER_ENV, *TELEMETRY_ENV, *FREE_TEXT_ENV}
    assert variables - covered == set(), "add bad-value cases for these variables"


def test_every_settings_parameter_has_bad_value_cases() -> None:
    producer = set(inspect.signature(BatchProducer.__init__).parameters) - PRODUCER_OBJECTS
    assert producer == set(PRODUCER_ARGS)
    listener = set(inspect.signature(Listener.__init__).parameters) - LISTENER_OBJECTS
    assert listener == set(LISTENER_ARGS)


@pytest.mark.parametrize(("variable", "value"), _cases(PRODUCER_ENV))
def test_producer_environment(
    monkeypatch: pytest.MonkeyPatch, sqs_client: Any, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    before = _threads("sqsobs-producer")
    # An argument wins over its variable: leave flush_at_exit to the environment when tested.
    kwargs: dict[str, Any] = {} if variable == "SQSOBS_FLUSH_AT_EXIT" else {"flush_at_exit": False}
    with pytest.raises(ConfigError) as caught:
        BatchProducer(sqs_client, **kwargs)
    assert caught.value.setting == variable and variable in str(caught.value)
    assert _threads("sqsobs-producer") == before  # nothing started


@pytest.mark.parametrize(("argument", "value"), _cases(PRODUCER_ARGS))
def test_producer_arguments(sqs_client: Any, argument: str, value: Any) -> None:
    before = _threads("sqsobs-producer")
    kwargs = {"flush_at_exit": False, argument: value}
    with pytest.raises(ConfigError) as caught:
        BatchProducer(sqs_client, **kwargs)
    assert caught.value.setting.startswith(argument), caught.value
    assert _threads("sqsobs-producer") == before


def _handler(message: Any) -> bool:
    return True


@pytest.mark.parametrize(("variable", "value"), _cases(LISTENER_ENV))
def test_listener_environment(
    monkeypatch: pytest.MonkeyPatch, sqs_client: Any, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    if variable != "QUEUE_URL":
        monkeypatch.setenv("QUEUE_URL", "some-queue")
    if variable == "POLLER_THREADS":
        monkeypatch.setenv("WORKER_THREADS", "4")
    with pytest.raises(ConfigError) as caught:
        Listener(_handler, client=sqs_client)
    assert variable in str(caught.value)


@pytest.mark.parametrize(("argument", "value"), _cases(LISTENER_ARGS))
def test_listener_arguments(sqs_client: Any, argument: str, value: Any) -> None:
    kwargs: dict[str, Any] = {"queue_url": "some-queue", "worker_threads": 4, argument: value}
    with pytest.raises((ConfigError, TypeError)) as caught:
        Listener(_handler, client=sqs_client, environ={}, **kwargs)
    assert argument in str(caught.value), caught.value


_CHILD = """
import io, json, os, sys
import sqsobs

results = {}
for variable, value in json.loads(sys.argv[1]):
    saved = dict(os.environ)
    os.environ[variable] = value
    try:
        if variable.startswith("LOG_"):
            sqsobs.configure_logging(stream=io.StringIO())
        else:
            sqsobs.configure_telemetry("bad-input", logs=False)
        results[f"{variable}={value}"] = "accepted"
    except sqsobs.ConfigError as error:
        results[f"{variable}={value}"] = str(error)
    os.environ.clear()
    os.environ.update(saved)
print(json.dumps(results))
"""


def test_telemetry_and_logging_environment() -> None:
    """configure_telemetry() sets process-wide providers, so this runs in a child process."""
    cases = _cases(TELEMETRY_ENV)
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(cases)],
        capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "OTEL_EXPORTER_PROMETHEUS_PORT": "0"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    results: dict[str, str] = json.loads(proc.stdout)
    for variable, value in cases:
        outcome = results[f"{variable}={value}"]
        assert outcome.startswith(f"{variable}:"), (variable, value, outcome)
