"""One settings dataclass per component: every option declared once, as data.

A field made with :func:`setting` carries its environment variable, bounds, choices and a line
of documentation. :func:`resolve` builds the dataclass from keyword overrides, then the
environment, then the defaults (argument > environment > default), validating every value with
:mod:`sqsobs._config` so a bad one raises :class:`~sqsobs.errors.ConfigError` naming the argument
or variable. Fields resolve in declaration order, and a bound or default may be a function of the
fields resolved before it. :func:`markdown_table` renders the documentation table.

Example::

    @dataclass(frozen=True)
    class Settings:
        wait_time: int = setting(20, env="WAIT_TIME", minimum=0, maximum=20, doc="long poll, s")

    resolve(Settings, {"wait_time": None}, environ={"WAIT_TIME": "5"})   # wait_time=5
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqsobs._config import bool_setting, float_setting, int_setting, str_setting

__all__ = ["SettingSpec", "markdown_table", "resolve", "setting"]

T = TypeVar("T")
#: A value, or a function of the values resolved so far (``{field name: value}``).
Dynamic = Any
_KEY = "sqsobs.setting"


@dataclass(frozen=True)
class SettingSpec:
    """How one field resolves: environment variable, bounds, choices, parser, documentation."""

    env: str | None = None
    minimum: Dynamic = None
    maximum: Dynamic = None
    choices: tuple[str, ...] | None = None
    #: Custom check-and-convert ``(setting name, value) -> value`` (mappings, callables ...).
    parse: Callable[[str, Any], Any] | None = None
    #: Shown instead of the default in the documentation table.
    shown_default: str | None = None
    doc: str = ""


def setting(
    default: Any,
    *,
    env: str | None = None,
    minimum: Dynamic = None,
    maximum: Dynamic = None,
    choices: tuple[str, ...] | None = None,
    parse: Callable[[str, Any], Any] | None = None,
    shown_default: str | None = None,
    doc: str = "",
) -> Any:
    """A dataclass field with its resolution rules; ``default`` may depend on earlier fields."""
    spec = SettingSpec(env, minimum, maximum, choices, parse, shown_default, doc)
    if isinstance(default, (dict, list, set)):
        # A fresh copy per instance, also when the dataclass is built without resolve().
        fresh = functools.partial(type(default), default)
        metadata = {_KEY: spec, "dynamic_default": default}
        return dataclasses.field(default_factory=fresh, metadata=metadata)
    if callable(default):
        # Resolved by resolve(); the dataclass default itself is never used for these.
        return dataclasses.field(default=None, metadata={_KEY: spec, "dynamic_default": default})
    return dataclasses.field(default=default, metadata={_KEY: spec})


def _default(field: dataclasses.Field[Any], values: Mapping[str, Any]) -> Any:
    dynamic = field.metadata.get("dynamic_default")
    if dynamic is None:
        return field.default
    if callable(dynamic):
        return dynamic(values)
    return type(dynamic)(dynamic)  # a fresh copy of a mutable default


def _bound(bound: Dynamic, values: Mapping[str, Any]) -> Any:
    return bound(values) if callable(bound) else bound


def _resolve_one(
    field: dataclasses.Field[Any],
    value: Any,
    values: Mapping[str, Any],
    environ: Mapping[str, str] | None,
) -> Any:
    spec: SettingSpec | None = field.metadata.get(_KEY)
    default = _default(field, values)
    if spec is None:
        return default if value is None else value
    if spec.parse is not None:
        return spec.parse(field.name, default if value is None else value)
    low, high = _bound(spec.minimum, values), _bound(spec.maximum, values)
    common: dict[str, Any] = {"env": spec.env, "default": default, "environ": environ}
    if isinstance(default, bool):
        return bool_setting(field.name, value, **common)
    if isinstance(default, int):
        return int_setting(field.name, value, minimum=low, maximum=high, **common)
    if isinstance(default, float):
        return float_setting(field.name, value, minimum=low, maximum=high, **common)
    if isinstance(default, str):
        return str_setting(field.name, value, choices=spec.choices, **common)
    raise TypeError(f"setting {field.name!r} has a default of unsupported type {type(default)}")


def resolve(
    cls: type[T], overrides: Mapping[str, Any], *, environ: Mapping[str, str] | None = None
) -> T:
    """``cls`` from ``overrides`` (None: not given) > ``environ`` (os.environ) > the defaults.

    An override that names no field raises ``TypeError``, as a wrong keyword argument does.
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    unknown = set(overrides) - {f.name for f in fields}
    if unknown:
        raise TypeError(f"{cls.__name__} has no setting(s) {sorted(unknown)}")
    values: dict[str, Any] = {}
    for field in fields:
        values[field.name] = _resolve_one(field, overrides.get(field.name), values, environ)
    return cls(**values)


def markdown_table(cls: type[Any]) -> str:
    """The documentation table of ``cls``'s settings: argument, variable, default, meaning."""
    lines = ["| argument | variable | default | meaning |", "| --- | --- | --- | --- |"]
    for field in dataclasses.fields(cls):
        spec: SettingSpec | None = field.metadata.get(_KEY)
        if spec is None:
            continue
        shown = spec.shown_default
        if shown is None:
            shown = f"`{field.default!r}`" if "dynamic_default" not in field.metadata else "—"
        env = f"`{spec.env}`" if spec.env else ""
        lines.append(f"| `{field.name}` | {env} | {shown} | {spec.doc} |")
    return "\n".join(lines) + "\n"
