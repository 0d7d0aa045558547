"""``sqsobs demo``: N messages through the batching producer and the listener, then a report.

With no endpoint configured it starts an embedded SQS (moto's server on loopback, the ``local``
extra) and stops it at the end; ``--endpoint-url`` (or ``AWS_ENDPOINT_URL``) points it at any
SQS instead. The report shows messages/s in and out, SQS calls made against one call per message,
batch splits, retries, send-to-handle latency, one sample trace and the Prometheus endpoint.
The exit code is 0 only if every message was handled.

Example::

    $ sqsobs demo --messages 2000
    >>> from sqsobs.cli._demo import run_demo
    >>> from sqsobs.cli._demo_options import DemoOptions
    >>> run_demo(DemoOptions(messages=200)).ok  # doctest: +SKIP
    True
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO, cast

from sqsobs.cli._demo_flow import run_flow
from sqsobs.cli._demo_options import DemoOptions, DemoResult
from sqsobs.cli._demo_report import report
from sqsobs.cli._demo_trace import SpanRecorder

__all__ = ["run_demo"]


def run_demo(options: DemoOptions, out: TextIO = sys.stdout) -> DemoResult:
    """Run the demo, print its report to ``out``, return the measurements."""
    if options.messages < 1:
        from sqsobs.errors import ConfigError

        raise ConfigError("messages", f"must be at least 1, got {options.messages}")
    result = DemoResult(messages=options.messages)
    with _sqs_endpoint(options, out) as endpoint:
        result.endpoint = endpoint
        telemetry = _telemetry(options)
        result.metrics_url = telemetry.prometheus_url
        recorder = SpanRecorder()
        if telemetry.tracer_provider is not None:
            cast(Any, telemetry.tracer_provider).add_span_processor(recorder)
        run_flow(options, result, recorder, out)
        report(result, out)
        if options.keep_serving and result.metrics_url:
            _serve_until_signal(result.metrics_url, out)
    return result


@contextmanager
def _sqs_endpoint(options: DemoOptions, out: TextIO) -> Iterator[str]:
    """The endpoint to use: the configured one, or an embedded SQS for the demo's duration."""
    configured = (
        options.endpoint_url
        or os.environ.get("AWS_ENDPOINT_URL_SQS")
        or os.environ.get("AWS_ENDPOINT_URL")
    )
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    if configured:
        os.environ["AWS_ENDPOINT_URL_SQS"] = configured
        yield configured
        return
    try:
        from sqsobs.testing import EmbeddedSQS

        __import__("moto")
    except ImportError:
        raise SystemExit(
            'the embedded SQS needs moto: pip install -e ".[local]" (or pass --endpoint-url)'
        ) from None
    # The embedded server accepts any credentials; never reach a real account by accident.
    os.environ.update(AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo")
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    print("starting an embedded SQS (moto's server) on loopback ...", file=out, flush=True)
    with EmbeddedSQS() as server:
        os.environ["AWS_ENDPOINT_URL_SQS"] = server.endpoint_url
        yield f"{server.endpoint_url} (embedded, stopped at the end)"


def _telemetry(options: DemoOptions) -> Any:
    from sqsobs._logs import configure_logging
    from sqsobs.telemetry import configure_telemetry

    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        # No collector configured: metrics on the Prometheus endpoint only, no OTLP retries.
        os.environ.setdefault("OTEL_TRACES_EXPORTER", "none")
        os.environ.setdefault("OTEL_METRICS_EXPORTER", "none")
    configure_logging(level=None if os.environ.get("LOG_LEVEL") else "WARNING")
    port = options.prometheus_port
    if port and not _free(port):
        port = 0  # taken (another demo?): any free port, shown in the report
    return configure_telemetry("sqsobs-demo", prometheus_port=port, logs=False)


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _serve_until_signal(url: str, out: TextIO) -> None:
    # SIGINT is handled here, not left to KeyboardInterrupt, as run_listeners() does: a process
    # started from a script's `&` job inherits SIGINT ignored, and Ctrl-C must still stop it.
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set())
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    out.write(f"serving Prometheus metrics at {url}; Ctrl-C to stop\n")
    out.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
