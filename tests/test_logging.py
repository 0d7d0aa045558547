"""configure_logging(): LOG_* settings, colour only on a TTY, JSON lines, trace ids on records."""

from __future__ import annotations

import io
import json
import logging
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

from sqsobs import ConfigError, configure_logging
from sqsobs._logs import DEFAULT_PLAIN_FORMAT
from sqsobs.telemetry._spans import get_tracer

LOG_VARIABLES = ("LOG_LEVEL", "LOG_USE_COLOR", "LOG_FORMAT", "LOG_PLAIN_FORMAT", "LOG_DATEFMT")
ANSI = "\x1b["
log = logging.getLogger("tests.logging")


@pytest.fixture(autouse=True)
def clean_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No LOG_* from the outside; the root logger restored afterwards."""
    for name in (*LOG_VARIABLES, "LOG_JSON"):
        monkeypatch.delenv(name, raising=False)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_defaults_are_the_plain_seed_format_at_info_without_colour_off_a_tty() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    log.debug("hidden")
    log.info("hello %s", "world")
    (line,) = lines(stream)
    assert re.fullmatch(r"\[INFO\] hello world \(tests\.logging:\d+\)", line), line
    assert ANSI not in stream.getvalue()


def test_environment_is_read_at_call_time_and_arguments_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "WARN")
    monkeypatch.setenv("LOG_PLAIN_FORMAT", "%(asctime)s|%(levelname)s|%(message)s")
    monkeypatch.setenv("LOG_DATEFMT", "%Y")
    stream = io.StringIO()
    configure_logging(stream=stream)
    log.info("not at WARN")
    log.warning("shown")
    (line,) = lines(stream)
    assert re.fullmatch(r"\d{4}\|WARNING\|shown", line), line

    stream = io.StringIO()
    configure_logging(stream=stream, level="DEBUG", plain_fmt="%(levelname)s:%(message)s")
    log.debug("now visible")
    assert lines(stream) == ["DEBUG:now visible"]


def test_records_inside_a_span_carry_its_ids(otel: Any) -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    with get_tracer().start_as_current_span("work") as span:
        log.warning("inside")
    log.warning("outside")
    inside, outside = lines(stream)
    context = span.get_span_context()
    assert inside.endswith(f"trace_id={context.trace_id:032x} span_id={context.span_id:016x}")
    assert "trace_id" not in outside


def test_a_format_that_shows_the_ids_is_not_given_them_twice(otel: Any) -> None:
    stream = io.StringIO()
    configure_logging(stream=stream, plain_fmt="%(trace_id)s/%(span_id)s %(message)s")
    log.warning("outside")
    with get_tracer().start_as_current_span("work") as span:
        log.warning("inside")
    outside, inside = lines(stream)
    assert outside == "/ outside"
    context = span.get_span_context()
    assert inside == f"{context.trace_id:032x}/{context.span_id:016x} inside"


def _tty_output(**kwargs: Any) -> str:
    master, slave = os.openpty()
    try:
        with open(slave, "w", encoding="utf-8", closefd=False) as stream:
            assert stream.isatty()
            configure_logging(stream=stream, **kwargs)
            log.error("on a terminal")
            stream.flush()
            # Replace the handler before the stream closes.
            configure_logging(stream=io.StringIO())
        return os.read(master, 65536).decode()
    finally:
        os.close(master)
        os.close(slave)


def test_colour_on_a_tty_only_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    coloured = _tty_output()
    assert ANSI in coloured and "on a terminal" in coloured
    assert "[ERROR]" in coloured
    monkeypatch.setenv("LOG_USE_COLOR", "0")
    plain = _tty_output()
    assert ANSI not in plain and "[ERROR] on a terminal" in plain
    assert ANSI not in _tty_output(use_color=False, fmt="%(log_color)s%(message)s")


def test_json_lines(otel: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_JSON", "1")
    stream = io.StringIO()
    configure_logging(stream=stream)
    with get_tracer().start_as_current_span("work") as span:
        log.info("order %s", 42, extra={"message_id": "m-1"})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    first, second = (json.loads(line) for line in lines(stream))
    context = span.get_span_context()
    assert first["message"] == "order 42"
    assert first["level"] == "INFO" and first["logger"] == "tests.logging"
    assert first["message_id"] == "m-1"
    assert first["trace_id"] == f"{context.trace_id:032x}"
    assert first["span_id"] == f"{context.span_id:016x}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["timestamp"])
    assert "trace_id" not in second
    assert "ValueError: boom" in second["exception"]


def test_a_second_call_replaces_the_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(stream=first)
    configure_logging(stream=second)
    log.warning("once")
    assert first.getvalue() == ""
    assert len(lines(second)) == 1 and lines(second)[0].startswith("[WARNING] once")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LOG_LEVEL", "LOUD"),
        ("LOG_USE_COLOR", "maybe"),
        ("LOG_JSON", "perhaps"),
        ("LOG_PLAIN_FORMAT", "%(message"),
    ],
)
def test_bad_settings_name_their_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        configure_logging(stream=io.StringIO())


def test_a_bad_level_argument_names_the_argument() -> None:
    with pytest.raises(ConfigError, match="level"):
        configure_logging(level="chatty", stream=io.StringIO())


def test_numeric_levels_and_the_default_plain_format_constant() -> None:
    stream = io.StringIO()
    configure_logging(level=logging.ERROR, stream=stream)
    log.warning("below")
    log.error("at")
    (line,) = lines(stream)
    expected = DEFAULT_PLAIN_FORMAT % {
        "levelname": "ERROR",
        "message": "at",
        "name": log.name,
        "lineno": 0,
    }
    assert re.fullmatch(re.escape(expected).replace("0", r"\d+"), line), line
