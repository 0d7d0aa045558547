"""Settings resolved argument > environment > default, when an object is built.

Nothing here runs at import time. Every bad value raises :class:`~sqsobs.errors.ConfigError`
naming the argument or environment variable it came from.

Example::

    wait = int_setting("wait_time", None, env="WAIT_TIME", default=20, minimum=0, maximum=20)
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import TypeVar

from sqsobs.errors import ConfigError

__all__ = ["bool_setting", "float_setting", "int_setting", "str_setting"]

T = TypeVar("T")

_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "off", "n", "f", ""})


def _resolve(
    setting: str,
    value: T | None,
    *,
    env: str | None,
    default: T,
    parse: Callable[[str], T],
    environ: Mapping[str, str] | None,
) -> tuple[T, str]:
    """Return (value, name of its source) following argument > environment > default."""
    if value is not None:
        return value, setting
    source = environ if environ is not None else os.environ
    if env is not None and env in source:
        raw = source[env]
        try:
            return parse(raw.strip()), env
        except (TypeError, ValueError):
            raise ConfigError(env, f"cannot parse {raw!r}") from None
    return default, setting


def _check_range(name: str, number: float, minimum: float | None, maximum: float | None) -> None:
    if isinstance(number, float) and not math.isfinite(number):
        raise ConfigError(name, f"must be a finite number, got {number!r}")
    if minimum is not None and number < minimum:
        raise ConfigError(name, f"must be >= {minimum}, got {number!r}")
    if maximum is not None and number > maximum:
        raise ConfigError(name, f"must be <= {maximum}, got {number!r}")


def int_setting(
    setting: str,
    value: int | None,
    *,
    env: str | None = None,
    default: int,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """An integer setting within [minimum, maximum]."""
    result, name = _resolve(setting, value, env=env, default=default, parse=int, environ=environ)
    if isinstance(result, bool) or not isinstance(result, int):
        raise ConfigError(name, f"must be an int, got {type(result).__name__}")
    _check_range(name, result, minimum, maximum)
    return result


def float_setting(
    setting: str,
    value: float | None,
    *,
    env: str | None = None,
    default: float,
    minimum: float | None = None,
    maximum: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> float:
    """A float setting within [minimum, maximum]; ints are accepted."""
    result, name = _resolve(setting, value, env=env, default=default, parse=float, environ=environ)
    if isinstance(result, bool) or not isinstance(result, (int, float)):
        raise ConfigError(name, f"must be a number, got {type(result).__name__}")
    _check_range(name, float(result), minimum, maximum)
    return float(result)


def _parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(raw)


def bool_setting(
    setting: str,
    value: bool | None,
    *,
    env: str | None = None,
    default: bool,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """A boolean setting; the environment takes 1/0, true/false, yes/no, on/off."""
    result, name = _resolve(
        setting, value, env=env, default=default, parse=_parse_bool, environ=environ
    )
    if not isinstance(result, bool):
        raise ConfigError(name, f"must be a bool, got {type(result).__name__}")
    return result


def str_setting(
    setting: str,
    value: str | None,
    *,
    env: str | None = None,
    default: str,
    choices: tuple[str, ...] | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """A string setting, optionally one of ``choices``."""
    result, name = _resolve(setting, value, env=env, default=default, parse=str, environ=environ)
    if not isinstance(result, str):
        raise ConfigError(name, f"must be a str, got {type(result).__name__}")
    if choices is not None and result not in choices:
        raise ConfigError(name, f"must be one of {', '.join(choices)}; got {result!r}")
    return result
