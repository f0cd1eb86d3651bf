"""The results table written to task logs, and its summary line."""

from __future__ import annotations

import pytest

from vigil.result import CheckResult, Status
from vigil.result_table import format_duration, format_table, summarize

pytestmark = pytest.mark.unit


def _result(
    check_id: str, status: Status, ms: float = 12.0, message: str = "ok", target: str = "orders"
) -> CheckResult:
    return CheckResult(
        check_id=check_id,
        family="health",
        target=target,
        status=status,
        duration_ms=ms,
        message=message,
    )


def test_summary_counts_every_status() -> None:
    results = [_result(f"p{i}", Status.PASSED) for i in range(5)]
    results += [_result("f", Status.FAILED), _result("e", Status.ERROR)]
    assert summarize(results) == "7 checks: 5 passed, 1 failed, 1 error"


def test_summary_mentions_skipped_only_when_present_and_says_check_for_one() -> None:
    assert summarize([_result("a", Status.PASSED)]) == "1 check: 1 passed, 0 failed, 0 error"
    assert summarize([_result("a", Status.SKIPPED)]) == (
        "1 check: 0 passed, 0 failed, 0 error, 1 skipped"
    )
    assert summarize([]) == "0 checks: 0 passed, 0 failed, 0 error"


def test_table_has_aligned_columns_and_ends_with_the_summary() -> None:
    results = [
        _result("orders-health", Status.PASSED, 12.4, "GET /health answered 200 in 12 ms"),
        _result("db", Status.FAILED, 1530, "missing schemas in shop: sales", target="shop-db"),
        _result("inventory-tcp", Status.ERROR, 0.4, "connection refused", target="inv"),
    ]
    lines = format_table(results).splitlines()
    assert lines[0].split() == ["CHECK", "TARGET", "STATUS", "DURATION", "MESSAGE"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[-1] == "3 checks: 1 passed, 1 failed, 1 error"
    rows = lines[2:-1]
    assert len(rows) == 3
    # Every row starts its columns where the header does.
    for column in ("TARGET", "STATUS", "MESSAGE"):
        start = lines[0].index(column)
        assert all(row[start - 2 : start] == "  " and row[start] != " " for row in rows)
    # Problems first: failed, then error, then passed.
    assert "FAILED" in rows[0] and "ERROR" in rows[1] and "passed" in rows[2]
    assert "1.5 s" in rows[0] and "0 ms" in rows[1] and "12 ms" in rows[2]
    assert rows[0].endswith("missing schemas in shop: sales")


def test_long_cells_are_cut_and_multiline_messages_flattened() -> None:
    long_id = "a-very-long-check-identifier-that-goes-on-and-on-and-on"
    message = "line one\n\tline two " + "x" * 300
    table = format_table([_result(long_id, Status.ERROR, message=message)])
    row = table.splitlines()[2]
    assert long_id not in row and long_id[:39] + "…" in row
    assert "line one line two" in row and "\n" not in row.strip()
    assert row.endswith("…") and len(row) < 250


def test_empty_message_shows_a_dash() -> None:
    row = format_table([_result("a", Status.PASSED, message="")]).splitlines()[2]
    assert row.rstrip().endswith("-")


@pytest.mark.parametrize(
    ("ms", "shown"),
    [(0.4, "0 ms"), (999, "999 ms"), (1000, "1.0 s"), (59_999, "60.0 s"), (90_000, "1.5 min")],
)
def test_durations_read_in_the_right_unit(ms: float, shown: str) -> None:
    assert format_duration(ms) == shown
