"""The health family's runners cover every health-check kind, and the family-neutral batch
runner keeps its promises: input order, concurrency, an outer timeout, no exception
escaping, and error results stamped with the family that ran them.

The runners here are stand-ins that misbehave on purpose (raise, hang, return garbage):
what is under test is the orchestration, not a check.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from vigil.batch import run_batch
from vigil.checks import HEALTH, runners
from vigil.checks.models import TcpCheck
from vigil.context import RunContext
from vigil.result import CheckResult, Severity, Status
from vigil.spec.models import Checks, HttpTarget, Spec

pytestmark = pytest.mark.unit


# A family that is not health: the batch runner must not assume one.
FAMILY = "toyfam"


def run_checks(checks: list[Any], ctx: RunContext, **kwargs: Any) -> list[CheckResult]:
    table = kwargs.pop("runners", None)
    return run_batch(checks, ctx, table or {}, FAMILY, **kwargs)


def test_every_health_check_kind_has_a_runner() -> None:
    assert {"http", "postgres", "tcp", "container"} <= set(HEALTH.kinds)
    assert set(runners()) == set(HEALTH.kinds)
    assert all(callable(runner) for runner in runners().values())


# --- run_checks with stand-in runners ----------------------------------------------------


def _ctx() -> RunContext:
    spec = Spec(
        environment="unit",
        targets={"t": HttpTarget(kind="http", base_url="http://x")},
        checks=Checks(),
    )
    return RunContext(spec, environ={})


def _checks(n: int, timeout_s: float = 10.0) -> list[TcpCheck]:
    # TcpCheck is only the carrier of id/kind/timeout here; the runners are stand-ins.
    return [
        TcpCheck(kind="tcp", id=f"c{i}", target="t", timeout_s=timeout_s, severity=Severity.WARNING)
        for i in range(n)
    ]


def _passing(check: Any, ctx: RunContext) -> list[CheckResult]:
    # Finish in reverse order of submission, so ordering is the collector's doing.
    time.sleep(0.02 * (10 - int(check.id[1:])) / 10)
    return [
        CheckResult(
            check_id=check.id,
            family=FAMILY,
            target=check.target,
            status=Status.PASSED,
            message=threading.current_thread().name,
        )
    ]


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Lets hanging stand-ins end when the test is over (every wait is bounded)."""
    event = threading.Event()
    yield event
    event.set()


def test_results_keep_input_order_and_run_concurrently() -> None:
    results = run_checks(_checks(10), _ctx(), max_workers=4, runners={"tcp": _passing})
    assert [r.check_id for r in results] == [f"c{i}" for i in range(10)]
    assert all(r.status is Status.PASSED for r in results)
    assert len({r.message for r in results}) > 1  # more than one worker thread ran them


def test_a_runner_may_return_several_results_kept_together() -> None:
    def two(check: Any, ctx: RunContext) -> list[CheckResult]:
        return [
            CheckResult(check_id=f"{check.id}.{i}", family=FAMILY, target="t", status=Status.PASSED)
            for i in range(2)
        ]

    results = run_checks(_checks(3), _ctx(), runners={"tcp": two})
    assert [r.check_id for r in results] == ["c0.0", "c0.1", "c1.0", "c1.1", "c2.0", "c2.1"]


def test_an_exception_becomes_an_error_result_and_the_others_still_run() -> None:
    def flaky(check: Any, ctx: RunContext) -> list[CheckResult]:
        if check.id == "c1":
            raise RuntimeError("boom in c1")
        return _passing(check, ctx)

    results = run_checks(_checks(3), _ctx(), runners={"tcp": flaky})
    assert [r.status for r in results] == [Status.PASSED, Status.ERROR, Status.PASSED]
    assert "RuntimeError" in results[1].message and "boom in c1" in results[1].message
    assert results[1].severity is Severity.WARNING  # the check's severity is kept
    assert results[1].family == FAMILY and results[1].check_kind == "tcp"


def test_a_runner_returning_garbage_is_an_error() -> None:
    results = run_checks(_checks(1), _ctx(), runners={"tcp": lambda c, x: "fine"})
    assert results[0].status is Status.ERROR
    assert "not a list of CheckResult" in results[0].message


def test_unknown_kind_is_an_error_naming_the_known_ones() -> None:
    results = run_checks(_checks(1), _ctx(), runners={"http": _passing})
    assert results[0].status is Status.ERROR
    assert "no runner for check kind 'tcp'" in results[0].message
    assert "http" in results[0].message


def test_a_hanging_check_is_timed_out_by_the_outer_bound(release: threading.Event) -> None:
    def hangs(check: Any, ctx: RunContext) -> list[CheckResult]:
        if check.id == "c0":
            release.wait(30)  # ignores its own timeout, like a runner with a bug
        return _passing(check, ctx)

    results = run_checks(_checks(2, timeout_s=0.2), _ctx(), grace_s=0.1, runners={"tcp": hangs})
    assert results[0].status is Status.ERROR
    assert results[0].message.startswith("timed out after")
    assert "timeout_s=0.2" in results[0].message
    assert results[0].check_id == "c0" and results[0].check_kind == "tcp"
    assert results[0].family == FAMILY
    assert results[1].status is Status.PASSED


def test_checks_stuck_behind_hung_workers_still_get_a_result(release: threading.Event) -> None:
    def hangs(check: Any, ctx: RunContext) -> list[CheckResult]:
        release.wait(30)
        return _passing(check, ctx)

    # One worker, three hanging checks: the batch's overall bound settles all three.
    results = run_checks(
        _checks(3, timeout_s=0.1), _ctx(), max_workers=1, grace_s=0.1, runners={"tcp": hangs}
    )
    assert [r.status for r in results] == [Status.ERROR] * 3
    assert results[0].message.startswith("timed out after")
    assert any("did not start" in r.message for r in results[1:])


def test_no_checks_no_results() -> None:
    assert run_checks([], _ctx()) == []
