"""Two narrow variants of GX's UnexpectedRowsExpectation, for the two passes of a run.

GX's own UnexpectedRowsExpectation resolves two metrics, so it runs the user's query twice
(`SELECT COUNT(*) FROM (q)` and `q` itself, whose every row psycopg2 then downloads before
GX keeps 200). On a clean 1M-row table that is two full anti-joins where one answers.
- `VigilUnexpectedRowCount` (cheap pass) resolves only the count: one execution.
- `VigilUnexpectedRowSample` (evidence pass, failures only) resolves only the rows, of a
  query the planner has already capped with LIMIT, so a million bad rows cost 20.

Importing this module imports Great Expectations (tamed by `_gx`); only `plan` imports it,
lazily. Defining the classes registers them in GX's expectation registry under their
snake_case names.
"""

from __future__ import annotations

from typing import Any, ClassVar

from vigil.quality._gx import gx

gx()

from great_expectations.expectations.core.unexpected_rows_expectation import (  # noqa: E402
    UnexpectedRowsExpectation,
)

COUNT_METRIC = "unexpected_rows_query.row_count"
ROWS_METRIC = "unexpected_rows_query.table"


class VigilUnexpectedRowCount(UnexpectedRowsExpectation):
    """Passes when the query returns no row; observes how many it returns."""

    metric_dependencies: ClassVar[tuple[str, ...]] = (COUNT_METRIC,)

    def _validate(
        self,
        metrics: dict[str, Any],
        runtime_configuration: dict[str, Any] | None = None,
        execution_engine: Any = None,
    ) -> dict[str, Any]:
        count = metrics[COUNT_METRIC]
        return {"success": count == 0, "result": {"observed_value": count}}


class VigilUnexpectedRowSample(UnexpectedRowsExpectation):
    """The first rows of an (already LIMITed) unexpected-rows query, as evidence."""

    metric_dependencies: ClassVar[tuple[str, ...]] = (ROWS_METRIC,)

    def _validate(
        self,
        metrics: dict[str, Any],
        runtime_configuration: dict[str, Any] | None = None,
        execution_engine: Any = None,
    ) -> dict[str, Any]:
        rows = metrics[ROWS_METRIC]
        return {
            "success": not rows,
            "result": {"observed_value": len(rows), "details": {"unexpected_rows": rows}},
        }
