"""The scenarios family's runner: one scenario per task, so one check per call.

A journey runs through `vigil.scenarios.engine`, a suite through `vigil.scenarios.suites`;
both return one or more CheckResults and never raise for the scenario's sake (anything
that escapes is an `error` result naming it, as `vigil.batch` does for the other
families).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vigil.batch import run_batch
from vigil.context import RunContext
from vigil.result import CheckResult
from vigil.scenarios import FAMILY


def _journey(check: Any, ctx: RunContext) -> list[CheckResult]:
    from vigil.scenarios.engine import run_journey

    return run_journey(check, ctx)


def _suite(check: Any, ctx: RunContext) -> list[CheckResult]:
    from vigil.scenarios.suites import run_suite

    return run_suite(check, ctx)


RUNNERS = {"journey": _journey, "suite": _suite}


def run_checks(checks: Sequence[Any], ctx: RunContext) -> list[CheckResult]:
    """Run `checks` (usually one: a task runs one scenario), each bounded by its own
    timeout plus a grace period (a journey's cleanup has its own bound on top)."""
    return run_batch(checks, ctx, RUNNERS, FAMILY, max_workers=4, grace_s=_grace(checks))


def _grace(checks: Sequence[Any]) -> float:
    # A journey's cleanup runs after its timeout, and a suite's command gets SIGTERM then,
    # SIGKILL 5 s later: the outer bound leaves room for both to report in their own words.
    cleanup = max((float(getattr(c, "cleanup_timeout_s", 0.0)) for c in checks), default=0.0)
    return 10.0 + cleanup
