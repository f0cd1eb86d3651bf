"""Run a batch of independent checks concurrently, each bounded; any family may use it.

Runners bound their own waits (connect, read, statement timeouts); `run_batch` adds an
outer bound per check (its `timeout_s` plus a grace period) so that even a runner that
hangs produces an `error` result in time. A hung runner's thread is abandoned, not killed
(Python cannot kill threads): it ends when its own socket timeout fires.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vigil.config_errors import ConfigError, configuration_details
from vigil.result import CheckResult

if TYPE_CHECKING:
    from vigil.context import RunContext

Runner = Callable[[Any, "RunContext"], list[CheckResult]]

# Checks that wait on the network, not the CPU: against a service answering in 50 ms,
# 1,000 checks took 3.6 s with 16 threads and 2.0 s with 32 (benchmarks/bench_http_checks.py).
# Small batches start only as many threads as they have checks.
DEFAULT_WORKERS = 32
# How long past its own timeout a check may run before it is declared hung.
GRACE_S = 2.0
# Upper bound on one wait of the collector, so a check that starts late is still
# timed out close to its own deadline.
_POLL_S = 0.25

__all__ = ["DEFAULT_WORKERS", "GRACE_S", "Runner", "run_batch"]


@dataclass
class _Slot:
    check: Any
    started: float | None = None  # monotonic, set by the worker when the check starts
    started_at: datetime | None = None
    future: Future[list[CheckResult]] | None = field(default=None, repr=False)


def run_batch(
    checks: Sequence[Any],
    ctx: RunContext,
    runners: Mapping[str, Runner],
    family: str,
    *,
    max_workers: int = DEFAULT_WORKERS,
    grace_s: float = GRACE_S,
) -> list[CheckResult]:
    """Run `checks` of `family` concurrently, each by `runners[check.kind]`; their results,
    in the order of `checks`.

    Never raises for a check's sake: an unknown kind, an exception or a hang each
    becomes an `error` result of `family` naming the reason; a `ConfigError` a runner lets
    escape becomes one marked as a configuration problem (not retried).
    """
    if not checks:
        return []
    registry = runners
    workers = max(1, min(max_workers, len(checks)))
    slots = [_Slot(check) for check in checks]
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vigil-check")
    try:
        for slot in slots:
            slot.future = pool.submit(_call, registry, slot, ctx, family)
        outcomes = _collect(slots, family, grace_s, _worst_case_s(checks, grace_s, workers))
    finally:
        # Do not wait for abandoned (hung) checks; drop the ones never started.
        pool.shutdown(wait=False, cancel_futures=True)
    return [result for outcome in outcomes for result in outcome]


def _call(
    registry: Mapping[str, Runner], slot: _Slot, ctx: RunContext, family: str
) -> list[CheckResult]:
    slot.started_at = datetime.now(UTC)
    slot.started = time.monotonic()
    check = slot.check
    kind = getattr(check, "kind", "?")
    runner = registry.get(kind)
    if runner is None:
        return [
            _error(slot, family, f"no runner for check kind {kind!r}; known: {sorted(registry)}")
        ]
    try:
        results = runner(check, ctx)
    except ConfigError as exc:  # not transient: marked, so its task is not retried
        reason = f"configuration problem: {exc.explained()}"
        return [_error(slot, family, reason, configuration_details())]
    except Exception as exc:  # a runner's bug must not take the batch down
        return [
            _error(slot, family, f"unexpected {type(exc).__name__} in the {kind} runner: {exc}")
        ]
    if not isinstance(results, list) or not all(isinstance(r, CheckResult) for r in results):
        return [
            _error(
                slot,
                family,
                f"the {kind} runner returned {type(results).__name__}, not a list of CheckResult",
            )
        ]
    return results


def _worst_case_s(checks: Sequence[Any], grace_s: float, workers: int) -> float:
    """How long the batch may take if every check used its whole timeout and grace."""
    longest = max(float(getattr(c, "timeout_s", 10.0)) for c in checks) + grace_s
    return math.ceil(len(checks) / workers) * longest + grace_s


def _collect(
    slots: list[_Slot], family: str, grace_s: float, budget_s: float
) -> list[list[CheckResult]]:
    outcomes: list[list[CheckResult] | None] = [None] * len(slots)
    pending = {slot.future: i for i, slot in enumerate(slots) if slot.future is not None}
    give_up = time.monotonic() + budget_s
    # Bounded: every pass collects, times out, or waits at most _POLL_S, and after
    # `give_up` every remaining check is settled in one pass.
    while pending:
        now = time.monotonic()
        for future, i in list(pending.items()):
            outcome = _settle(slots[i], family, future, now, grace_s, now >= give_up)
            if outcome is not None:
                outcomes[i] = outcome
                del pending[future]
        if pending:
            wait(list(pending), timeout=_POLL_S, return_when=FIRST_COMPLETED)
    return [outcome or [] for outcome in outcomes]


def _settle(
    slot: _Slot,
    family: str,
    future: Future[list[CheckResult]],
    now: float,
    grace_s: float,
    late: bool,
) -> list[CheckResult] | None:
    """The slot's results if it is done or overdue; None while it may still finish."""
    if future.done():
        return future.result()  # _call never raises
    timeout = float(getattr(slot.check, "timeout_s", 10.0))
    if slot.started is not None and now - slot.started > timeout + grace_s:
        elapsed = now - slot.started
        return [
            _error(
                slot,
                family,
                f"timed out after {elapsed:.1f}s (timeout_s={timeout:g} plus "
                f"{grace_s:g}s grace); the check was abandoned",
            )
        ]
    if late:
        if slot.started is None:
            return [
                _error(slot, family, "did not start: every worker was busy with checks that hang")
            ]
        return [_error(slot, family, f"timed out after {now - slot.started:.1f}s")]
    return None


def _error(
    slot: _Slot, family: str, message: str, details: dict[str, Any] | None = None
) -> CheckResult:
    elapsed_ms = (time.monotonic() - slot.started) * 1000 if slot.started is not None else 0.0
    return CheckResult.error_of(
        slot.check,
        family,
        message,
        started_at=slot.started_at or datetime.now(UTC),
        duration_ms=round(elapsed_ms, 3),
        details=details or {},
    )
