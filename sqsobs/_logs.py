"""Readable logs with trace ids: colorlog on a terminal, plain text or JSON lines elsewhere.

:func:`configure_logging` installs one handler on the root logger (calling it again replaces it,
never adds a second). Settings resolve argument > environment > default when it is called:

=================  ======================================================  =====================
variable           default                                                 meaning
=================  ======================================================  =====================
LOG_LEVEL          ``INFO``                                                DEBUG, INFO, WARN(ING),
                                                                           ERROR, CRITICAL
LOG_USE_COLOR      ``1``                                                   ANSI colours, only
                                                                           ever on a TTY
LOG_FORMAT         :data:`DEFAULT_FORMAT` (colorlog pattern)               colour format
LOG_PLAIN_FORMAT   ``[%(levelname)s] %(message)s (%(name)s:%(lineno)d)``   format without colour
LOG_DATEFMT        ``%Y-%m-%d %H:%M:%S``                                   ``%(asctime)s`` format
LOG_JSON           ``0``                                                   one JSON object a line
=================  ======================================================  =====================

Every record emitted inside a recording span gets ``trace_id`` and ``span_id`` attributes (hex,
as trace backends show them); text lines end with ``trace_id=... span_id=...`` unless the format
already uses them, JSON lines carry them as keys. The library itself never adds handlers: only
this function, called by the application (or by ``run_listeners()``), does.

Example::

    from sqsobs import configure_logging

    configure_logging(level="DEBUG")     # or LOG_LEVEL=DEBUG in the environment
"""

from __future__ import annotations

import json as _json
import logging
import sys
import threading
from datetime import datetime, timezone
from typing import Any, TextIO

import colorlog
from opentelemetry import trace

from sqsobs._config import bool_setting, str_setting
from sqsobs.errors import ConfigError

__all__ = [
    "DEFAULT_DATEFMT",
    "DEFAULT_FORMAT",
    "DEFAULT_PLAIN_FORMAT",
    "LOG_COLORS",
    "JsonFormatter",
    "TraceContextFilter",
    "configure_logging",
    "owns",
]

#: The colour pattern (colorlog): level and message coloured by level.
DEFAULT_FORMAT = (
    "%(log_color)s[%(levelname)s]%(reset)s %(message_log_color)s%(message)s%(reset)s "
    "(%(name)s:%(lineno)d)"
)
#: The pattern used when there is no colour (not a TTY, or LOG_USE_COLOR=0).
DEFAULT_PLAIN_FORMAT = "[%(levelname)s] %(message)s (%(name)s:%(lineno)d)"
#: Timestamp format for ``%(asctime)s``.
DEFAULT_DATEFMT = "%Y-%m-%d %H:%M:%S"
#: Colour per level name.
LOG_COLORS = {
    "DEBUG": "cyan",
    "INFO": "white",
    "WARNING": "yellow",
    "ERROR": "red",
    "CRITICAL": "bold_red",
}

_LEVELS = {
    "CRITICAL": logging.CRITICAL,
    "FATAL": logging.CRITICAL,
    "ERROR": logging.ERROR,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "INFO": logging.INFO,
    "DEBUG": logging.DEBUG,
    "NOTSET": logging.NOTSET,
}

# LogRecord attributes that are not caller-supplied ``extra`` fields.
_RECORD_BUILTINS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "trace_id", "span_id", "trace_sampled", "taskName"}
)

_lock = threading.Lock()
_installed: logging.Handler | None = None


class TraceContextFilter(logging.Filter):
    """Adds ``trace_id`` / ``span_id`` / ``trace_sampled`` of the current span to each record.

    Outside a span both ids are empty strings, so formats may always reference them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate ``record``; never drops it."""
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            record.trace_id = f"{span_context.trace_id:032x}"
            record.span_id = f"{span_context.span_id:016x}"
            record.trace_sampled = span_context.trace_flags.sampled
        else:
            record.trace_id = ""
            record.span_id = ""
            record.trace_sampled = False
        return True


class _TraceSuffixFormatter(logging.Formatter):
    """Formats with ``inner`` and appends the trace ids when the pattern does not show them."""

    def __init__(self, inner: logging.Formatter, pattern: str) -> None:
        super().__init__()
        self._inner = inner
        self._append = "%(trace_id)" not in pattern and "%(span_id)" not in pattern

    def format(self, record: logging.LogRecord) -> str:
        text = self._inner.format(record)
        trace_id = getattr(record, "trace_id", "")
        if self._append and trace_id:
            return f"{text} trace_id={trace_id} span_id={getattr(record, 'span_id', '')}"
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, line, trace ids, extras."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single-line JSON object."""
        stamp = datetime.fromtimestamp(record.created, tz=timezone.utc)
        entry: dict[str, Any] = {
            "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "line": record.lineno,
        }
        trace_id = getattr(record, "trace_id", "")
        if trace_id:
            entry["trace_id"] = trace_id
            entry["span_id"] = getattr(record, "span_id", "")
        for key, value in vars(record).items():
            if key not in _RECORD_BUILTINS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return _json.dumps(entry, default=str)


def _level(level: str | int | None) -> int:
    raw, source = (level, "level") if level is not None else (None, "LOG_LEVEL")
    if raw is None:
        raw = str_setting("level", None, env="LOG_LEVEL", default="INFO")
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    text = str(raw).strip().upper()
    if text.isdigit():
        return int(text)
    if text not in _LEVELS:
        raise ConfigError(source, f"unknown level {raw!r}; use one of {', '.join(_LEVELS)}")
    return _LEVELS[text]


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _pattern_formatter(
    pattern: str, datefmt: str, *, color: bool, stream: TextIO | None = None
) -> logging.Formatter:
    """The formatter of one pattern: colorlog's with colour, the standard one without."""
    if not color:
        return logging.Formatter(pattern, datefmt=datefmt)
    return colorlog.ColoredFormatter(
        pattern,
        datefmt=datefmt,
        log_colors=LOG_COLORS,
        secondary_log_colors={"message": LOG_COLORS},
        reset=True,
        style="%",
        stream=stream,
    )


def _formatter(
    *, json: bool, color: bool, fmt: str, plain_fmt: str, datefmt: str, stream: TextIO
) -> logging.Formatter:
    if json:
        return JsonFormatter()
    pattern = fmt if color else plain_fmt
    inner = _pattern_formatter(pattern, datefmt, color=color, stream=stream)
    return _TraceSuffixFormatter(inner, pattern)


def _check_format(setting: str, pattern: str, datefmt: str, *, color: bool = False) -> None:
    """Format a probe record with ``pattern``; raise ConfigError naming ``setting`` if it fails."""
    probe = logging.LogRecord("sqsobs", logging.INFO, __file__, 1, "probe", None, None)
    probe.trace_id, probe.span_id = "0" * 32, "0" * 16
    try:
        _pattern_formatter(pattern, datefmt, color=color).format(probe)
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise ConfigError(setting, f"invalid log format {pattern!r}: {error!r}") from None


def configure_logging(
    *,
    level: str | int | None = None,
    use_color: bool | None = None,
    fmt: str | None = None,
    plain_fmt: str | None = None,
    datefmt: str | None = None,
    json: bool | None = None,
    stream: TextIO | None = None,
) -> None:
    """Send all logs to ``stream`` (default: stderr) through one sqsobs handler on the root logger.

    Arguments win over the ``LOG_*`` environment variables, which win over the defaults; all are
    read now, at call time. Colour needs both ``use_color`` and a TTY; ``json`` wins over colour.
    Calling it again replaces the handler it installed before. Bad values raise
    :class:`~sqsobs.ConfigError` naming the argument or variable.

    Example::

        sqsobs.configure_logging(level="DEBUG")    # or LOG_LEVEL=DEBUG in the environment
        sqsobs.configure_logging(json=True)        # one JSON object a line, trace ids as keys
    """
    resolved_level = _level(level)
    wants_json = bool_setting("json", json, env="LOG_JSON", default=False)
    wants_color = bool_setting("use_color", use_color, env="LOG_USE_COLOR", default=True)
    target = stream if stream is not None else sys.stderr
    color_fmt = str_setting("fmt", fmt, env="LOG_FORMAT", default=DEFAULT_FORMAT)
    plain = str_setting(
        "plain_fmt", plain_fmt, env="LOG_PLAIN_FORMAT", default=DEFAULT_PLAIN_FORMAT
    )
    date = str_setting("datefmt", datefmt, env="LOG_DATEFMT", default=DEFAULT_DATEFMT)
    # Both formats are checked now, whichever this stream uses: a bad one must fail at start-up,
    # not on every record once the process runs where the other one applies.
    _check_format("fmt" if fmt is not None else "LOG_FORMAT", color_fmt, date, color=True)
    _check_format("plain_fmt" if plain_fmt is not None else "LOG_PLAIN_FORMAT", plain, date)
    formatter = _formatter(
        json=wants_json,
        color=wants_color and _is_tty(target),
        fmt=color_fmt,
        plain_fmt=plain,
        datefmt=date,
        stream=target,
    )
    handler = logging.StreamHandler(target)
    handler.addFilter(TraceContextFilter())
    handler.setFormatter(formatter)
    _install(handler, resolved_level)


def owns(handler: logging.Handler) -> bool:
    """True for the handler :func:`configure_logging` installed."""
    return handler is _installed


def _install(handler: logging.Handler, level: int) -> None:
    global _installed  # noqa: PLW0603 - one sqsobs handler per process, replaced on each call
    root = logging.getLogger()
    with _lock:
        if _installed is not None:
            root.removeHandler(_installed)
            _installed.close()
        root.addHandler(handler)
        root.setLevel(level)
        _installed = handler
