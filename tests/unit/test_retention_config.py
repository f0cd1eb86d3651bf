"""The retention settings fail closed, naming the variable and what is wrong with it."""

from __future__ import annotations

import inspect

import pytest

from vigil.config_errors import ConfigError
from vigil.reports.review import review_data
from vigil.reports.trend import trend_data
from vigil.results.retention_policy import (
    MIN_RAW_DAYS,
    RAW_DAYS_VAR,
    ROLLUP_DAYS_VAR,
    RetentionConfigError,
    RetentionPolicy,
    policy_from_env,
)
from vigil.ui.data import pass_rates

pytestmark = pytest.mark.unit


def test_defaults_when_unset_or_empty() -> None:
    assert policy_from_env({}) == RetentionPolicy(90, 730)
    assert policy_from_env({RAW_DAYS_VAR: "", ROLLUP_DAYS_VAR: "  "}) == RetentionPolicy(90, 730)


def test_values_are_read() -> None:
    env = {RAW_DAYS_VAR: " 120 ", ROLLUP_DAYS_VAR: "1000"}
    assert policy_from_env(env) == RetentionPolicy(raw_days=120, rollup_days=1000)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({RAW_DAYS_VAR: "ninety"}, f"{RAW_DAYS_VAR}='ninety' is not a whole number of days"),
        ({RAW_DAYS_VAR: "90.5"}, f"{RAW_DAYS_VAR}='90.5' is not a whole number of days"),
        ({ROLLUP_DAYS_VAR: "2y"}, f"{ROLLUP_DAYS_VAR}='2y' is not a whole number of days"),
        ({RAW_DAYS_VAR: "0"}, f"{RAW_DAYS_VAR}=0 is out of range; use 1 to 36500 days"),
        ({ROLLUP_DAYS_VAR: "-5"}, f"{ROLLUP_DAYS_VAR}=-5 is out of range"),
        ({RAW_DAYS_VAR: "99999999"}, f"{RAW_DAYS_VAR}=99999999 is out of range"),
        ({RAW_DAYS_VAR: "30"}, f"{RAW_DAYS_VAR}=30 is too short: the monthly review reads 60"),
        (
            {RAW_DAYS_VAR: "200", ROLLUP_DAYS_VAR: "100"},
            f"{ROLLUP_DAYS_VAR}=100 is shorter than {RAW_DAYS_VAR}=200",
        ),
    ],
)
def test_bad_values_name_the_variable_and_the_problem(env: dict[str, str], expected: str) -> None:
    with pytest.raises(RetentionConfigError) as caught:
        policy_from_env(env)
    assert expected in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(RetentionConfigError) as caught:
        policy_from_env({RAW_DAYS_VAR: "x", ROLLUP_DAYS_VAR: "0"})
    message = str(caught.value)
    assert f"{RAW_DAYS_VAR}='x'" in message
    assert f"{ROLLUP_DAYS_VAR}=0 is out of range" in message


def test_the_minimum_is_allowed_and_one_less_is_not() -> None:
    assert RetentionPolicy(MIN_RAW_DAYS, MIN_RAW_DAYS).raw_days == MIN_RAW_DAYS
    with pytest.raises(RetentionConfigError, match=f"keep at least {MIN_RAW_DAYS}"):
        RetentionPolicy(MIN_RAW_DAYS - 1, 730)


def test_a_policy_built_in_code_is_checked_too() -> None:
    with pytest.raises(RetentionConfigError, match="must be a whole number of days"):
        RetentionPolicy(True, 730)
    with pytest.raises(RetentionConfigError, match="must be a whole number of days"):
        RetentionPolicy(90, "730")  # type: ignore[arg-type]


def test_it_is_a_configuration_error_never_retried() -> None:
    # Airflow fails a task without retry on ConfigError (vigil.airflow.tasks).
    assert issubclass(RetentionConfigError, ConfigError)


def _default(function: object, name: str) -> int:
    value = inspect.signature(function).parameters[name].default  # type: ignore[arg-type]
    assert isinstance(value, int)
    return value


def test_the_minimum_covers_every_window_read_from_raw_results() -> None:
    # The review reads its window and the one before; a window includes today, and a
    # report's local days may start a day before the UTC day pruning counts by.
    assert 2 * _default(review_data, "days") + 2 <= MIN_RAW_DAYS
    assert _default(trend_data, "days") + 2 <= MIN_RAW_DAYS
    assert _default(pass_rates, "long") + 2 <= MIN_RAW_DAYS
