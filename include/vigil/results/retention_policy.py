"""How long the results store keeps raw results and their daily rollups, from configuration.

Two settings, each an environment variable of the process that runs the maintenance
(the Airflow worker): VIGIL_RETENTION_RAW_DAYS (default 90) and
VIGIL_RETENTION_ROLLUP_DAYS (default 730). They are read and checked at once, every
problem reported together, naming the variable and what is wrong with its value.

Raw results are what every per-run query, alert rule and report reads. The floor on
`raw_days` is the longest window any of them reads from raw rows, so pruning can never
take a row a report or an alert still needs:
- the monthly review compares its 30 days with the 30 days before (vigil.reports.review:
  family counts over both windows, a pass-rate chart over 60 days) — 60 calendar days;
- the weekly trend reads 7 days, the UI's overview pass rates 30 days;
- plus today (a window includes the running day) and one day for a report's time zone
  (a window's days are local days, pruning counts UTC days).
Alert rules with a time window (`window_failure_rate`, `window.last`) are checked per spec
by the maintenance task (vigil.airflow.maintenance), against the policy in force.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, TypeGuard

from vigil.config_errors import ConfigError

if TYPE_CHECKING:
    from vigil.spec.models import Spec

RAW_DAYS_VAR = "VIGIL_RETENTION_RAW_DAYS"
ROLLUP_DAYS_VAR = "VIGIL_RETENTION_ROLLUP_DAYS"

DEFAULT_RAW_DAYS = 90
DEFAULT_ROLLUP_DAYS = 730
# The review's two 30-day windows, today, and a day of time-zone offset (module docstring).
REVIEW_WINDOW_DAYS = 30
MIN_RAW_DAYS = 2 * REVIEW_WINDOW_DAYS + 2
# Longer is a typo (a number of hours, or of seconds): a century of results is not a policy.
MAX_DAYS = 36_500


class RetentionConfigError(ConfigError):
    """The retention settings cannot be used; the message names each variable and why."""


@dataclass(frozen=True)
class RetentionPolicy:
    """Keep raw results `raw_days` full UTC days (plus today), daily rollups `rollup_days`."""

    raw_days: int = DEFAULT_RAW_DAYS
    rollup_days: int = DEFAULT_ROLLUP_DAYS

    def __post_init__(self) -> None:
        problems = _problems(self.raw_days, self.rollup_days)
        if problems:
            raise RetentionConfigError("; ".join(problems))

    @property
    def raw(self) -> timedelta:
        return timedelta(days=self.raw_days)

    def describe(self) -> str:
        return f"raw results {self.raw_days} days, daily rollups {self.rollup_days} days"


def windows_beyond(policy: RetentionPolicy, spec: Spec) -> list[str]:
    """The spec's alert rules whose time window reaches past the raw results the policy
    keeps (they would judge a window that pruning has emptied), each saying how to fix it.
    A window of `last_runs` is a count of runs, whatever their age: not checked here."""
    # A window ending now reaches back into the day `last` before today: whole days kept.
    limit = policy.raw
    found = []
    for rule in spec.alerts.rules:
        span = getattr(getattr(rule, "window", None), "last", None)
        if isinstance(span, timedelta) and span > limit:
            found.append(
                f"{spec.source or spec.environment}: alert rule {rule.id!r} reads a window of "
                f"{span.days} days, longer than the {policy.raw_days} days of raw results "
                f"{RAW_DAYS_VAR} keeps; raise {RAW_DAYS_VAR} or shorten the window"
            )
    return found


def policy_from_env(environ: Mapping[str, str] | None = None) -> RetentionPolicy:
    """The policy the environment sets (defaults where a variable is unset or empty)."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    raw = _days(env, RAW_DAYS_VAR, DEFAULT_RAW_DAYS, problems)
    rollup = _days(env, ROLLUP_DAYS_VAR, DEFAULT_ROLLUP_DAYS, problems)
    if raw is None or rollup is None:
        # The one that parsed is still range-checked, so every problem shows at once.
        raw_or = DEFAULT_RAW_DAYS if raw is None else raw
        rollup_or = DEFAULT_ROLLUP_DAYS if rollup is None else rollup
        problems += [p for p in _problems(raw_or, rollup_or) if "out of range" in p]
        raise RetentionConfigError("; ".join(problems))
    return RetentionPolicy(raw, rollup)  # checks the values, every problem at once


def _days(env: Mapping[str, str], name: str, default: int, problems: list[str]) -> int | None:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text, 10)
    except ValueError:
        problems.append(f"{name}={text[:40]!r} is not a whole number of days (e.g. {default})")
        return None


def _problems(raw_days: object, rollup_days: object) -> list[str]:
    problems = [
        f"{name} must be a whole number of days, got {value!r}"
        if not _is_days(value)
        else f"{name}={value} is out of range; use 1 to {MAX_DAYS} days"
        for name, value in ((RAW_DAYS_VAR, raw_days), (ROLLUP_DAYS_VAR, rollup_days))
        if not (_is_days(value) and 1 <= value <= MAX_DAYS)
    ]
    if problems or not (_is_days(raw_days) and _is_days(rollup_days)):
        return problems
    if raw_days < MIN_RAW_DAYS:
        problems.append(
            f"{RAW_DAYS_VAR}={raw_days} is too short: the monthly review reads "
            f"{2 * REVIEW_WINDOW_DAYS} days of raw results (its month and the one before), "
            f"so keep at least {MIN_RAW_DAYS}"
        )
    if rollup_days < raw_days:
        problems.append(
            f"{ROLLUP_DAYS_VAR}={rollup_days} is shorter than {RAW_DAYS_VAR}={raw_days}: "
            "rollups are the long history, keep them at least as long as raw results"
        )
    return problems


def _is_days(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
