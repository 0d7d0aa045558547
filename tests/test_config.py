"""Settings resolve argument > environment > default and name the bad setting."""

from __future__ import annotations

import pytest

from sqsobs._config import bool_setting, float_setting, int_setting, str_setting
from sqsobs.errors import ConfigError


def test_argument_beats_environment_beats_default() -> None:
    env = {"WAIT_TIME": "5"}
    assert int_setting("wait_time", 7, env="WAIT_TIME", default=20, environ=env) == 7
    assert int_setting("wait_time", None, env="WAIT_TIME", default=20, environ=env) == 5
    assert int_setting("wait_time", None, env="WAIT_TIME", default=20, environ={}) == 20


@pytest.mark.parametrize("raw", ["abc", "1.5", ""])
def test_unparsable_environment_names_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError, match="BATCH_SIZE"):
        int_setting("batch_size", None, env="BATCH_SIZE", default=10, environ={"BATCH_SIZE": raw})


def test_out_of_range_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="BATCH_SIZE") as info:
        int_setting(
            "batch_size",
            None,
            env="BATCH_SIZE",
            default=10,
            minimum=1,
            maximum=10,
            environ={"BATCH_SIZE": "11"},
        )
    assert info.value.setting == "BATCH_SIZE"
    with pytest.raises(ConfigError, match="batch_size"):
        int_setting("batch_size", 0, default=10, minimum=1)


def test_float_bool_str_settings() -> None:
    assert float_setting("x", None, env="X", default=1.0, environ={"X": "2.5"}) == 2.5
    with pytest.raises(ConfigError, match="X"):
        float_setting("x", None, env="X", default=1.0, environ={"X": "nan"})
    assert bool_setting("c", None, env="C", default=True, environ={"C": "0"}) is False
    with pytest.raises(ConfigError, match="C"):
        bool_setting("c", None, env="C", default=True, environ={"C": "maybe"})
    with pytest.raises(ConfigError, match="mode"):
        str_setting("mode", "bogus", default="batch", choices=("batch", "per_message"))
    with pytest.raises(ConfigError, match="n"):
        int_setting("n", True, default=1)  # a bool is not an int setting


def test_config_error_is_value_error() -> None:
    assert issubclass(ConfigError, ValueError)
