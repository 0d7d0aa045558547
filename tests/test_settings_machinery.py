"""sqsobs._settings: one dataclass declares every option; resolve() applies arg > env > default."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from sqsobs._settings import markdown_table, resolve, setting
from sqsobs.errors import ConfigError


def _names(setting_name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(setting_name, "must be a list of names")
    return tuple(value)


@dataclass(frozen=True)
class Example:
    workers: int = setting(4, env="WORKERS", minimum=1, maximum=64, doc="threads")
    pollers: int = setting(
        lambda v: min(2, v["workers"]), env="POLLERS", minimum=1, maximum=lambda v: v["workers"]
    )
    interval: float = setting(1.0, env="INTERVAL", minimum=0.0, doc="seconds")
    enabled: bool = setting(False, env="ENABLED")
    mode: str = setting("batch", choices=("batch", "per_message"))
    names: tuple[str, ...] = setting(lambda v: (), parse=_names)
    hook: Any = None


def test_argument_beats_environment_beats_default() -> None:
    env = {"WORKERS": "8", "INTERVAL": "0.5"}
    got = resolve(Example, {"workers": 3}, environ=env)
    assert (got.workers, got.interval, got.enabled, got.mode) == (3, 0.5, False, "batch")


def test_defaults_and_bounds_may_depend_on_earlier_fields() -> None:
    assert resolve(Example, {"workers": 1}, environ={}).pollers == 1
    assert resolve(Example, {}, environ={}).pollers == 2
    with pytest.raises(ConfigError, match="POLLERS"):
        resolve(Example, {"workers": 2}, environ={"POLLERS": "3"})


@pytest.mark.parametrize(
    ("overrides", "environ", "named"),
    [
        ({"workers": 0}, {}, "workers"),
        ({}, {"WORKERS": "many"}, "WORKERS"),
        ({"interval": float("nan")}, {}, "interval"),
        ({}, {"ENABLED": "perhaps"}, "ENABLED"),
        ({"mode": "stream"}, {}, "mode"),
        ({"names": "a,b"}, {}, "names"),
    ],
)
def test_a_bad_value_names_its_setting(
    overrides: dict[str, Any], environ: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        resolve(Example, overrides, environ=environ)


def test_an_unknown_setting_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="worker_count"):
        resolve(Example, {"worker_count": 3}, environ={})


def test_plain_fields_pass_through_and_mutable_defaults_are_fresh() -> None:
    hook = object()
    first = resolve(Example, {"hook": hook, "names": ["a"]}, environ={})
    assert first.hook is hook and first.names == ("a",)
    assert resolve(Example, {}, environ={}).names == ()


def test_the_table_lists_every_declared_setting() -> None:
    table = markdown_table(Example)
    assert "| `workers` | `WORKERS` | `4` | threads |" in table
    assert "`pollers`" in table and "`hook`" not in table
