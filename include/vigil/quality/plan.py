"""The two passes of a validation, and which GX expectation each check runs in each.

Measured on 1M and 5M rows (benchmarks/bench_quality.py), against one hand-written SQL
query computing the same checks in one scan:
- GX's SUMMARY format costs 2.2-3x: every column check adds a `SELECT col ... LIMIT 20`
  for sample values, which scans the whole table when there is nothing to find.
- So the *cheap pass* runs the whole suite with BASIC and `partial_unexpected_count: 0`:
  GX still bundles all column conditions into one `sum(CASE ...)` scan and still reports
  counts and observed values (history wants them for passes too), and its sample query
  becomes `LIMIT 0`, which PostgreSQL answers without reading the table. BOOLEAN_ONLY
  measured no faster, and loses those figures.
- Only the checks that failed run again, in the *evidence pass* (SUMMARY, 20 sample
  values), so clean data pays for samples never.
- Two substitutions make the cheap pass cheaper still, both exact where they decide:
  `expect_column_values_to_be_unique` (GX: a window function over the whole column, ~4x a
  `count(DISTINCT)`) is replaced by its equivalent `proportion of unique values >= 1`
  (a passing proportion proves uniqueness; a failing one sends the original expectation
  to the evidence pass, which then decides); `unexpected_rows_expectation` (GX: runs its
  query twice) by a count-only variant, and its evidence by a LIMIT 20 row sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vigil.quality.suites import Check

SAMPLE_SIZE = 20
CHEAP_FORMAT: dict[str, Any] = {"result_format": "BASIC", "partial_unexpected_count": 0}
EVIDENCE_FORMAT: dict[str, Any] = {
    "result_format": "SUMMARY",
    "partial_unexpected_count": SAMPLE_SIZE,
}

UNIQUE = "expect_column_values_to_be_unique"
UNIQUE_PROPORTION = "expect_column_proportion_of_unique_values_to_be_between"
UNEXPECTED_ROWS = "unexpected_rows_expectation"
ROW_COUNT = "vigil_unexpected_row_count"
ROW_SAMPLE = "vigil_unexpected_row_sample"
_CARRIED = ("row_condition", "condition_parser")


@dataclass(frozen=True)
class Step:
    """One GX expectation to run: its registered type name and kwargs."""

    type: str
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class Planned:
    check: Check
    cheap: Step
    evidence: Step | None  # None: a failure in the cheap pass already says all there is
    cheap_decides: bool  # False: the cheap step is a filter; the evidence pass decides


def plan(check: Check, *, is_map: bool) -> Planned:
    """How `check` runs. `is_map`: a row-by-row (column map) expectation, which has
    sample values to gather when it fails."""
    original = Step(check.type, check.kwargs)
    if check.type == UNEXPECTED_ROWS:
        query = str(check.kwargs["unexpected_rows_query"]).rstrip("; \t\r\n")
        sample = {
            **check.kwargs,
            "unexpected_rows_query": f"SELECT * FROM ({query}) AS vigil_sample LIMIT {SAMPLE_SIZE}",
        }
        return Planned(check, Step(ROW_COUNT, check.kwargs), Step(ROW_SAMPLE, sample), True)
    if check.type == UNIQUE and check.kwargs.get("mostly", 1) in (1, 1.0):
        cheap = {
            "column": check.kwargs["column"],
            "min_value": 1.0,
            **{k: check.kwargs[k] for k in _CARRIED if k in check.kwargs},
        }
        return Planned(check, Step(UNIQUE_PROPORTION, cheap), original, False)
    return Planned(check, original, original if is_map else None, True)


def register_custom() -> None:
    """Make the Vigil variants known to GX's registry (imports GX)."""
    import vigil.quality._custom  # noqa: F401


def is_map(kind: str) -> bool:
    """Whether `kind` judges rows one by one (so a failure has sample values to show)."""
    register_custom()
    from great_expectations.expectations.registry import get_expectation_impl

    return getattr(get_expectation_impl(kind), "map_metric", None) is not None
