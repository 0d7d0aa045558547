"""The ``sqsobs`` command as a container runs it: the installed script, in a real subprocess.

``sqsobs listen`` runs against the session's SQS server; the applications it loads are small
modules written into the test's own directory, which is the subprocess's working directory
(and is not on ``PYTHONPATH``): ``sqsobs listen`` must find them as ``python -m`` would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import sqsobs
from sqsobs import cli
from sqsobs.testing import free_port
from tests.helpers import drain_queue, wait_for
from tests.listener_support import queue_counts, send_bodies

SQSOBS = Path(sys.executable).with_name("sqsobs")

_RECORDING_HANDLER = """
    import os
    import threading
    import time

    from sqsobs import sqs_listener

    LOG = os.environ["CLIAPP_LOG"]
    SECONDS = float(os.environ.get("CLIAPP_HANDLER_SECONDS", "0"))
    _lock = threading.Lock()


    def record(event, message):
        with _lock, open(LOG, "a", encoding="utf-8") as log:
            log.write(f"{event} {message.body}\\n")


    def handle(message):
        record("start", message)
        time.sleep(SECONDS)
        record("done", message)
        return True
"""

APPS = {
    # Registered at import, as most applications do.
    "decorated_app": _RECORDING_HANDLER
    + """
    sqs_listener(mode="per_message")(handle)
    """,
    # Registered by a function the command line names.
    "factory_app": _RECORDING_HANDLER
    + """

    def setup():
        sqs_listener(mode="per_message")(handle)
    """,
    "empty_app": """
    VALUE = 1
    """,
    "broken_app": """
    raise RuntimeError("the application's configuration is missing")
    """,
    "needs_a_dependency_app": """
    import no_such_dependency_xyz
    """,
}


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    for name, source in APPS.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return tmp_path


def environment(sqs_server: Any, queue_url: str, app_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTHONPATH"))}
    env.update(
        QUEUE_URL=queue_url,
        AWS_ENDPOINT_URL_SQS=sqs_server.endpoint_url,
        WORKER_THREADS="3",
        WAIT_TIME="1",
        IDLE_SLEEP_MAX="0",
        VISIBILITY_SECS="30",
        LOG_USE_COLOR="0",
        CLIAPP_LOG=str(app_dir / "events.log"),
        **extra,
    )
    return env


def sqsobs_command(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    assert SQSOBS.is_file(), f"the sqsobs script is not installed next to {sys.executable}"
    return subprocess.Popen(
        [str(SQSOBS), *args],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def listen_until_exit(app: str, app_dir: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """``sqsobs listen APP`` that exits on its own: (exit code, stdout, stderr)."""
    process = sqsobs_command("listen", app, cwd=app_dir, env=env)
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def events(app_dir: Path, kind: str) -> list[str]:
    log = app_dir / "events.log"
    if not log.exists():
        return []
    lines = log.read_text(encoding="utf-8").splitlines()
    return [line.split(" ", 1)[1] for line in lines if line.startswith(f"{kind} ")]


def stop(process: subprocess.Popen[str], signum: int = signal.SIGTERM) -> tuple[str, str]:
    try:
        os.kill(process.pid, signum)
        return process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_version_prints_the_package_version() -> None:
    result = subprocess.run(
        [str(SQSOBS), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"sqsobs {sqsobs.__version__}\n"


@pytest.mark.parametrize("app", ["factory_app:setup", "decorated_app"])
def test_listen_handles_messages_then_drains_on_sigterm_and_exits_0(
    app: str, sqs_server: Any, sqs_client: Any, queue_url: str, app_dir: Path
) -> None:
    bodies = [f"job{i}" for i in range(12)]
    send_bodies(sqs_client, queue_url, bodies)
    process = sqsobs_command(
        "listen", app, cwd=app_dir, env=environment(sqs_server, queue_url, app_dir)
    )
    try:
        assert wait_for(lambda: len(events(app_dir, "done")) == len(bodies), timeout=30)
    finally:
        _, err = stop(process)
    assert process.returncode == 0, err
    assert sorted(events(app_dir, "done")) == sorted(bodies)
    assert queue_counts(sqs_client, queue_url) == (0, 0)  # every handled message was deleted


def test_listen_drains_in_flight_handlers_on_sigterm(
    sqs_server: Any, sqs_client: Any, queue_url: str, app_dir: Path
) -> None:
    bodies = [f"job{i}" for i in range(30)]
    send_bodies(sqs_client, queue_url, bodies)
    env = environment(sqs_server, queue_url, app_dir, CLIAPP_HANDLER_SECONDS="1.5")
    process = sqsobs_command("listen", "decorated_app", cwd=app_dir, env=env)
    try:
        assert wait_for(lambda: len(events(app_dir, "start")) >= 3, timeout=30)
    finally:
        _, err = stop(process)
    assert process.returncode == 0, err
    started, done = events(app_dir, "start"), events(app_dir, "done")
    assert sorted(started) == sorted(done)  # every in-flight handler finished
    assert len(done) < len(bodies)  # it really was stopped mid-work
    assert queue_counts(sqs_client, queue_url) == (len(bodies) - len(done), 0)
    remaining = [m["Body"] for m in drain_queue(sqs_client, queue_url)]
    assert sorted(remaining + done) == sorted(bodies)  # nothing lost, nothing handled twice


def test_shutdown_timeout_bounds_the_drain(
    sqs_server: Any, sqs_client: Any, queue_url: str, app_dir: Path
) -> None:
    send_bodies(sqs_client, queue_url, ["endless"])
    env = environment(sqs_server, queue_url, app_dir, CLIAPP_HANDLER_SECONDS="60")
    process = sqsobs_command(
        "listen", "--shutdown-timeout", "1", "decorated_app", cwd=app_dir, env=env
    )
    try:
        assert wait_for(lambda: len(events(app_dir, "start")) == 1, timeout=30)
        begun = time.monotonic()
    finally:
        _, err = stop(process)
    # Without the option the drain would wait for the listener's default of 30 s.
    assert time.monotonic() - begun < 5
    assert process.returncode == 0, err
    assert events(app_dir, "done") == []
    assert queue_counts(sqs_client, queue_url) == (0, 1)  # not handled, so not deleted


def test_telemetry_option_serves_the_listener_metrics(
    sqs_server: Any, sqs_client: Any, queue_url: str, app_dir: Path
) -> None:
    port = free_port()
    env = environment(
        sqs_server,
        queue_url,
        app_dir,
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="prometheus",
        OTEL_EXPORTER_PROMETHEUS_PORT=str(port),
    )
    send_bodies(sqs_client, queue_url, ["a", "b", "c"])
    process = sqsobs_command(
        "listen", "--telemetry", "cli-orders", "decorated_app", cwd=app_dir, env=env
    )
    try:
        assert wait_for(lambda: len(events(app_dir, "done")) == 3, timeout=30)
        scraped = ""

        def deletes_counted() -> bool:
            nonlocal scraped
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
                scraped = answer.read().decode()
            return "sqsobs_listener_deletes_total{" in scraped

        assert wait_for(deletes_counted, timeout=15), scraped
    finally:
        _, err = stop(process)
    assert process.returncode == 0, err
    assert 'service_name="cli-orders"' in scraped


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("no_such_module_xyz", "cannot import 'no_such_module_xyz': No module named"),
        ("decorated_app:missing", "module 'decorated_app' has no attribute 'missing'"),
        ("decorated_app:LOG", "'decorated_app:LOG' is not callable (it is a str)"),
        ("empty_app", "no listeners registered by empty_app"),
        ("empty_app:", "'empty_app:' is not MODULE or MODULE:FUNCTION"),
    ],
)
def test_an_app_that_cannot_run_exits_2_with_one_line(
    app: str, message: str, sqs_server: Any, queue_url: str, app_dir: Path
) -> None:
    code, out, err = listen_until_exit(app, app_dir, environment(sqs_server, queue_url, app_dir))
    assert code == 2, err
    [line] = err.splitlines()
    assert line.startswith("sqsobs listen: error: ")
    assert message in line
    assert out == ""


@pytest.mark.parametrize(
    ("app", "failure"),
    [
        ("broken_app", "RuntimeError: the application's configuration is missing"),
        (
            "needs_a_dependency_app",
            "ModuleNotFoundError: No module named 'no_such_dependency_xyz'",
        ),
    ],
)
def test_an_app_that_raises_at_import_shows_its_traceback_and_exits_2(
    app: str, failure: str, sqs_server: Any, queue_url: str, app_dir: Path
) -> None:
    code, _, err = listen_until_exit(app, app_dir, environment(sqs_server, queue_url, app_dir))
    assert code == 2, err
    lines = err.splitlines()
    assert "Traceback (most recent call last):" in lines
    assert f'{app}.py", line 2' in err  # the application's own line
    assert lines[-1] == f"sqsobs listen: error: importing {app!r} failed: {failure}"


def test_a_missing_queue_exits_1_with_one_line(
    sqs_server: Any, queue_url: str, app_dir: Path
) -> None:
    env = environment(sqs_server, queue_url + "-does-not-exist", app_dir)
    code, _, err = listen_until_exit("decorated_app", app_dir, env)
    assert code == 1, err
    assert err.splitlines()[-1].startswith("sqsobs listen: error: QueueDoesNotExist: ")


@pytest.mark.parametrize("value", ["-1", "soon", "inf"])
def test_a_bad_shutdown_timeout_is_a_usage_error(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["listen", "--shutdown-timeout", value, "decorated_app"])
    assert exit_info.value.code == 2
    assert "--shutdown-timeout" in capsys.readouterr().err
