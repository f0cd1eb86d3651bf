"""What every health-check runner shares: timing, masking, and building the CheckResult.

A runner's contract is that nothing escapes it: `guarded` turns a configuration problem
(missing `${VAR}`, unknown connection) and any unexpected exception into an `error`
result that says why, so a broken check can never read as a pass or crash its task. A
configuration problem's result is marked as one (`vigil.config_errors`): its task fails
without a retry, since a retry would meet the same problem.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from vigil.config_errors import ConfigError, configuration_details
from vigil.context import RunContext
from vigil.result import CheckResult, Status

FAMILY = "health"
T = TypeVar("T")


class Timer:
    """Wall-clock start (for the record) and a monotonic clock (for durations)."""

    def __init__(self) -> None:
        self.started_at = datetime.now(UTC)
        self._t0 = time.perf_counter()

    def ms(self) -> float:
        return round((time.perf_counter() - self._t0) * 1000, 3)


def build(
    check: Any,
    ctx: RunContext,
    check_type: str,
    timer: Timer,
    status: Status,
    message: str,
    *,
    observed: Any = None,
    expected: Any = None,
    details: dict[str, Any] | None = None,
) -> CheckResult:
    """The CheckResult of `check`, with every string masked against the run's secrets."""
    return CheckResult.of(
        check,
        FAMILY,
        status,
        ctx.mask(message),
        check_kind=check_type,
        started_at=timer.started_at,
        duration_ms=timer.ms(),
        observed=ctx.masker.mask_value(observed),
        expected=ctx.masker.mask_value(expected),
        details=ctx.masker.mask_value(details or {}),
    )


def error(
    check: Any,
    ctx: RunContext,
    check_type: str,
    timer: Timer,
    message: str,
    details: dict[str, Any] | None = None,
) -> CheckResult:
    return build(check, ctx, check_type, timer, Status.ERROR, message, details=details)


def guarded(
    check: Any,
    ctx: RunContext,
    check_type: str,
    probe: Callable[[Any, RunContext, Timer], CheckResult],
) -> list[CheckResult]:
    """Run `probe`; a configuration problem (marked as one) or any exception becomes an
    `error` result."""
    timer = Timer()
    try:
        return [probe(check, ctx, timer)]
    except ConfigError as exc:
        reason = f"configuration problem: {exc.explained()}"
        return [error(check, ctx, check_type, timer, reason, configuration_details())]
    except Exception as exc:  # a runner never lets an exception escape
        reason = f"unexpected {type(exc).__name__} in the {check_type} check: {exc}"
        return [error(check, ctx, check_type, timer, reason)]


def target_of(check: Any, ctx: RunContext, expected: type[T]) -> T:
    """The check's target, which must exist and be of the kind this runner handles."""
    target = ctx.spec.targets.get(check.target)
    if target is None:
        known = ", ".join(sorted(ctx.spec.targets)) or "none"
        raise ConfigError(f"unknown target {check.target!r} (declared: {known})")
    if not isinstance(target, expected):
        raise ConfigError(
            f"target {check.target!r} is a {getattr(target, 'kind', '?')!r} target, "
            f"a {check.kind!r} check needs a {check.kind!r} target"
        )
    return target


def fmt_ms(ms: float) -> str:
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"
