"""Volume against history: a table's row count may move at most ±N% from the last run's.

A bound like "between 1,000 and 1,000,000 rows" misses a table that lost half its rows
overnight. So a row-count expectation may carry, in its GX `meta`:

    "meta": {"id": "row_count", "row_count_change": {"max_pct": 25, "severity": "warning"}}

and Vigil adds one more check, `<row-count check id>.change`: this run's observed count
against the count the same row-count check observed in the environment's most recent
earlier run (read from the results store, so nothing else is kept anywhere). No earlier
count yet → `skipped` with the reason; the store unreachable → `error`. It lives in `meta`
rather than as an expectation type of its own so that the suite file stays plain GX.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vigil.result import CheckResult, Severity, Status

if TYPE_CHECKING:
    from vigil.results.store import ResultStore

ROW_COUNT_TYPES = frozenset(
    {"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"}
)
SUFFIX = ".change"
_CARRIED = ("table", "suite", "suite_file")
_KEYS = frozenset({"max_pct", "severity"})


@dataclass(frozen=True)
class RowCountChange:
    max_pct: float
    severity: Severity | None = None  # None: the row-count check's own severity


def parse_change(kind: str, raw: Any) -> tuple[RowCountChange | None, list[str]]:
    """meta.row_count_change of one expectation: the rule, or what is wrong with it."""
    if raw is None:
        return None, []
    where = "meta.row_count_change"
    if kind not in ROW_COUNT_TYPES:
        allowed = " or ".join(sorted(ROW_COUNT_TYPES))
        return None, [f"{where} belongs on a row-count expectation ({allowed}), not on {kind}"]
    if not isinstance(raw, dict):
        return None, [f'{where} must be an object like {{"max_pct": 25}}']
    errors = [
        f"{where}: unknown key {k!r} (allowed: max_pct, severity)" for k in raw if k not in _KEYS
    ]
    pct = raw.get("max_pct")
    max_pct = float(pct) if isinstance(pct, int | float) and not isinstance(pct, bool) else 0.0
    if not 0 < max_pct < math.inf:
        errors.append(f"{where}.max_pct must be a positive number of percent, got {pct!r}")
    severity = None
    if raw.get("severity") is not None:
        try:
            severity = Severity(raw["severity"])
        except ValueError:
            errors.append(f"{where}.severity must be critical or warning, got {raw['severity']!r}")
    if errors:
        return None, errors
    return RowCountChange(max_pct, severity), []


@dataclass(frozen=True)
class Previous:
    """The row count an earlier run observed."""

    count: int
    run_id: str
    started_at: datetime


# How to find the previous count of a check id: None when no earlier run observed one;
# raises when the history cannot be read.
History = Callable[[str], Previous | None]


def change_result(
    row_count: CheckResult,
    rule: RowCountChange,
    history: History,
    fallback_severity: Severity,
) -> CheckResult:
    """The `.change` result that goes with one row-count result of this run."""
    base = CheckResult(
        check_id=row_count.check_id + SUFFIX,
        family=row_count.family,
        check_kind=row_count.check_kind,
        parent=row_count.parent,
        target=row_count.target,
        status=Status.SKIPPED,
        severity=rule.severity or fallback_severity,
        started_at=datetime.now(UTC),
        expected={"max_change_pct": rule.max_pct},
        details={k: v for k, v in row_count.details.items() if k in _CARRIED},
    )
    place = row_count.details.get("table", "the table")
    count = (row_count.observed or {}).get("observed_value")
    if row_count.status not in (Status.PASSED, Status.FAILED) or not isinstance(count, int):
        why = f"{place}: no row count this run ({row_count.check_id} {row_count.status.value})"
        return base.model_copy(update={"message": f"skipped: {why}"})
    try:
        previous = history(row_count.check_id)
    except Exception as exc:  # StoreError, ConfigError: the history is unreachable
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return base.model_copy(
            update={
                "status": Status.ERROR,
                "message": f"{place}: cannot read the previous row count: {reason}",
                "details": {**base.details, "error": reason},
            }
        )
    if previous is None:
        text = f"skipped: {place}: no earlier run recorded a row count to compare {count:,} with"
        return base.model_copy(update={"message": text, "observed": {"row_count": count}})
    pct = _change_pct(previous.count, count)
    ok = abs(pct) <= rule.max_pct
    shown = "+∞" if math.isinf(pct) else f"{pct:+.1f}%"
    text = (
        f"{place}: {count:,} rows, {shown} against {previous.count:,} in run "
        f"{previous.run_id} ({'within' if ok else 'beyond'} ±{rule.max_pct:g}%)"
    )
    observed = {
        "row_count": count,
        "previous_row_count": previous.count,
        "change_pct": None if math.isinf(pct) else round(pct, 3),
        "previous_run_id": previous.run_id,
    }
    return base.model_copy(
        update={
            "status": Status.PASSED if ok else Status.FAILED,
            "message": text,
            "observed": observed,
        }
    )


def _change_pct(before: int, now: int) -> float:
    if before == 0:
        return 0.0 if now == 0 else math.inf
    return (now - before) * 100.0 / before


# Index: check_results_env_check_started_idx, read newest first. This run's own results are
# left out, so a retried task compares with the run before, not with its first attempt.
_PREVIOUS = """
SELECT c.observed, r.run_id, c.started_at
FROM vigil.check_results c JOIN vigil.runs r ON r.id = c.run
WHERE c.environment = %(env)s AND c.check_id = %(check_id)s
  AND c.status IN ('passed', 'failed')
  AND NOT (r.dag_id = %(dag_id)s AND r.run_id = %(run_id)s)
ORDER BY c.started_at DESC, c.id DESC
LIMIT 1
"""


def store_history(store: ResultStore, environment: str, dag_id: str, run_id: str) -> History:
    """A History reading the results store: the newest earlier passed/failed result."""

    def previous(check_id: str) -> Previous | None:
        params = {"env": environment, "check_id": check_id, "dag_id": dag_id, "run_id": run_id}
        rows = store.read(f"read the previous row count of {check_id!r}", _PREVIOUS, params)
        if not rows:
            return None
        row = rows[0]
        count = (row["observed"] or {}).get("observed_value")
        if not isinstance(count, int):
            return None
        return Previous(count, str(row["run_id"]), row["started_at"])

    return previous
