"""Configuration errors: a check that cannot run because of how it is set up, not because
its target is down.

ADR 0002 tells a data failure (fail at once) from a transient error (retry); this is its
third case. A missing environment variable, an undefined connection, a suite file that is
not there, a `check_dependencies` on a body without a dependency report: a retry a minute
later meets the same problem, so such an `error` result is marked
(`details["error_class"] == "configuration"`), says what to fix, and its task fails
without retrying (`vigil.airflow.tasks.ChecksMisconfigured`).

Any family marks its own: raise `ConfigError` inside a runner the batch runner calls (it
marks what escapes), or build the result with `configuration_details(...)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vigil.result import CheckResult, Status

ERROR_CLASS = "error_class"
CONFIGURATION = "configuration"


class ConfigError(Exception):
    """The spec or the deployment is wrong in a way only a run finds (a missing variable or
    connection, a file that is not there). Not transient: never retried.

    `fix` says what to change, when the message alone does not."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.fix = fix

    def explained(self) -> str:
        """The problem and, when known, its fix: "X is not set; set X in ..."."""
        return f"{self}; {self.fix}" if self.fix else str(self)


def configuration_details(details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`details` for an `error` result caused by configuration: marked, so its task fails
    without a retry. `CheckResult.error_of(check, family, reason, details=...)`."""
    return {**(details or {}), ERROR_CLASS: CONFIGURATION}


def configuration_error_of(
    check: Any, family: str, reason: str, details: Mapping[str, Any] | None = None, **fields: Any
) -> CheckResult:
    """An `error` result for `check` whose cause is configuration; `reason` says what to fix."""
    return CheckResult.error_of(
        check, family, reason, details=configuration_details(details), **fields
    )


def is_configuration_error(result: CheckResult) -> bool:
    """An `error` result marked as caused by configuration (not worth a retry)."""
    return result.status is Status.ERROR and result.details.get(ERROR_CLASS) == CONFIGURATION


def all_configuration_errors(results: list[CheckResult]) -> bool:
    """Every one of `results` (non-empty) is a configuration error: retrying is pointless."""
    return bool(results) and all(is_configuration_error(r) for r in results)
