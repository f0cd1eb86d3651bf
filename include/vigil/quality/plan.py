"""The two passes of a validation, and which GX expectation each check runs in each.

Measured by benchmarks/bench_quality.py (11 checks on 1M and 5M rows, against ONE
hand-written SQL query computing the same checks in one scan, same run, interleaved):
- GX as documented (`ValidationDefinition.run`, SUMMARY) costs 3.1-3.8x the reference on
  clean 1M rows: every column check adds a `SELECT col ... LIMIT 20` for sample values,
  which scans the whole table when there is nothing to find. Plain BOOLEAN_ONLY: 1.7-2.3x.
- So the *cheap pass* runs the whole suite with BASIC and `partial_unexpected_count: 0`:
  GX still bundles all column conditions into one `sum(CASE ...)` scan and still reports
  counts and observed values (history wants them for passes too), while its sample queries
  become `LIMIT 0`, which PostgreSQL answers without reading the table. A BOOLEAN_ONLY
  cheap pass measured the same within noise (1.18x vs 1.22x) and loses those figures.
- Only the checks that failed run again, in the *evidence pass* (SUMMARY, 20 sample
  values), so clean data never pays for samples: row-by-row checks, and the three
  distinct-values-set checks (GX lists the values outside the set, or missing from it,
  only when samples are asked for).
- Two substitutions make the cheap pass cheaper, both exact where they decide:
  `expect_column_values_to_be_unique` (GX: a window function over the column, ~4x a
  `count(DISTINCT)`) becomes the equivalent "proportion of unique values >= 1" (a pass
  proves uniqueness; a failure sends the original expectation to the evidence pass, which
  decides); `unexpected_rows_expectation` (GX: runs its query twice and downloads every
  row) becomes a count-only variant, and its evidence a LIMIT 20 row sample.
- `gx_run` calls GX's v1 Validator directly: `ValidationDefinition.run` is that call plus
  serialising every result into the context's results store (`convert_decimal_to_float`
  walks `inspect.stack()` per value): 35-60% of the fixed cost on a small table.
Result on clean data: 1.1-1.3x the reference's wall time at 1M rows (0.8x at 5M, where
GX's separate statements use PostgreSQL's parallel workers and the reference's
`count(DISTINCT)` cannot), 1.2-1.7x its CPU time. With ~0.1% defects per check the
evidence pass adds GX's uniqueness window function twice: 2.3-3x wall time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vigil.quality.messages import DISTINCT_SETS
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
    sampled = is_map or check.type in DISTINCT_SETS
    return Planned(check, original, original if sampled else None, True)


def register_custom() -> None:
    """Make the Vigil variants known to GX's registry (imports GX)."""
    import vigil.quality._custom  # noqa: F401


def is_map(kind: str) -> bool:
    """Whether `kind` judges rows one by one (so a failure has sample values to show)."""
    register_custom()
    from great_expectations.expectations.registry import get_expectation_impl

    return getattr(get_expectation_impl(kind), "map_metric", None) is not None
