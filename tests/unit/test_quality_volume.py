"""The row-count change check, from this run's row-count result and the previous count."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vigil.quality.volume import History, Previous, RowCountChange, change_result
from vigil.result import CheckResult, Severity, Status

pytestmark = pytest.mark.unit

EARLIER = datetime(2026, 1, 1, tzinfo=UTC)


def row_count(n: int | None, status: Status = Status.PASSED) -> CheckResult:
    return CheckResult(
        check_id="orders-data.row_count",
        family="quality",
        target="db",
        status=status,
        observed=None if n is None else {"observed_value": n},
        details={"table": "public.orders", "suite": "orders", "error": "not carried"},
    )


def previous(count: int | None) -> History:
    def history(check_id: str) -> Previous | None:
        assert check_id == "orders-data.row_count"
        return None if count is None else Previous(count, "run-0", EARLIER)

    return history


RULE = RowCountChange(25.0)


@pytest.mark.parametrize(
    ("before", "now", "status", "pct"),
    [
        (1000, 1250, Status.PASSED, 25.0),  # the bound itself is allowed
        (1000, 750, Status.PASSED, -25.0),
        (1000, 1251, Status.FAILED, 25.1),
        (1000, 500, Status.FAILED, -50.0),
        (0, 0, Status.PASSED, 0.0),
    ],
)
def test_change_within_or_beyond_the_bound(
    before: int, now: int, status: Status, pct: float
) -> None:
    result = change_result(row_count(now), RULE, previous(before), Severity.CRITICAL)
    assert result.check_id == "orders-data.row_count.change"
    assert result.status is status
    assert result.observed["change_pct"] == pct
    assert result.expected == {"max_change_pct": 25.0}
    assert result.details == {"table": "public.orders", "suite": "orders"}


def test_message_says_how_much_against_which_run() -> None:
    result = change_result(row_count(500), RULE, previous(1000), Severity.CRITICAL)
    assert result.message == (
        "public.orders: 500 rows, -50.0% against 1,000 in run run-0 (beyond ±25%)"
    )


def test_from_empty_to_rows_fails_without_a_percentage() -> None:
    result = change_result(row_count(10), RULE, previous(0), Severity.CRITICAL)
    assert result.status is Status.FAILED
    assert result.observed["change_pct"] is None
    assert "+∞" in result.message


def test_rule_severity_wins_over_the_row_count_check() -> None:
    rule = RowCountChange(10.0, Severity.WARNING)
    assert change_result(row_count(1), rule, previous(1), Severity.CRITICAL).severity == "warning"
    assert change_result(row_count(1), RULE, previous(1), Severity.WARNING).severity == "warning"


def test_no_history_or_no_count_is_skipped_with_the_reason() -> None:
    first = change_result(row_count(7), RULE, previous(None), Severity.CRITICAL)
    assert first.status is Status.SKIPPED
    assert first.message == (
        "skipped: public.orders: no earlier run recorded a row count to compare 7 with"
    )
    errored = change_result(row_count(None, Status.ERROR), RULE, previous(1), Severity.CRITICAL)
    assert errored.status is Status.SKIPPED
    assert "no row count this run (orders-data.row_count error)" in errored.message


def test_unreadable_history_is_an_error() -> None:
    def broken(check_id: str) -> Previous | None:
        raise RuntimeError("results store at 127.0.0.1:5/vigil is down")

    result = change_result(row_count(7), RULE, broken, Severity.CRITICAL)
    assert result.status is Status.ERROR
    assert result.message == (
        "public.orders: cannot read the previous row count: "
        "results store at 127.0.0.1:5/vigil is down"
    )
