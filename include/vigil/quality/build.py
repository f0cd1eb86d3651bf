"""Turning what GX found about one expectation into its Vigil CheckResult."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from dataclasses import dataclass
from typing import Any

from vigil.quality import messages
from vigil.quality.gx_run import Outcome
from vigil.quality.plan import ROW_SAMPLE, SAMPLE_SIZE, UNEXPECTED_ROWS, UNIQUE, Planned
from vigil.quality.suites import Check
from vigil.result import CheckResult, Status

KIND = "quality"
_OBSERVED_KEYS = (
    "observed_value",
    "element_count",
    "unexpected_count",
    "unexpected_percent",
    "unexpected_percent_total",
    "missing_count",
    "missing_percent",
    "unique_proportion",
)


@dataclass(frozen=True)
class Where:
    """What every result of one validation shares."""

    target: str
    suite: str
    schema: str
    table: str
    row_filter: str | None
    started_at: dt.datetime
    duration_ms: float  # each check's share of the suite's wall time

    @property
    def label(self) -> str:
        return self.table if self.schema == "public" else f"{self.schema}.{self.table}"

    def of(self, check: Check) -> str:
        """Where a check looks: the table, or its column(s) for a column check."""
        if check.column and not check.type.startswith("expect_table_"):
            return f"{self.label}.{check.column}"
        return self.label


def error(
    check: Check,
    where: Where,
    reason: str,
    details: dict[str, Any] | None = None,
) -> CheckResult:
    text = f"{where.of(check)}: {check.type} could not run: {reason}"
    return _result(check, where, Status.ERROR, text, None, {**(details or {}), "error": reason})


def missing_columns(check: Check, where: Where, missing: list[str]) -> CheckResult:
    """A check about columns the table does not have: failed, without asking GX."""
    names = ", ".join(missing) or "?"
    noun = "column" if len(missing) == 1 else "columns"
    text = f"{where.of(check)}: {noun} {names} does not exist in table {where.label}"
    if len(missing) > 1:
        text = text.replace("does not exist", "do not exist")
    return _result(check, where, Status.FAILED, text, None, {"missing_columns": missing})


def from_outcomes(
    item: Planned, where: Where, cheap: Outcome, evidence: Outcome | None
) -> CheckResult:
    """The result of one check from its cheap-pass outcome and, if it failed, its evidence."""
    check = item.check
    if cheap.error:
        return error(check, where, cheap.error)
    if cheap.success:
        return _passed(check, where, cheap.result)
    if evidence is not None and evidence.error:
        if not item.cheap_decides:  # the cheap step only said "maybe": nobody decided
            return error(check, where, f"gathering evidence failed: {evidence.error}")
        return _failed(check, where, cheap.result, {"evidence_error": evidence.error})
    if evidence is None:
        return _failed(check, where, cheap.result, {})
    if not item.cheap_decides and evidence.success:
        return _passed(check, where, evidence.result)
    if item.evidence is not None and item.evidence.type == ROW_SAMPLE:
        merged = {**cheap.result, "details": evidence.result.get("details", {})}
        return _failed(check, where, merged, {})
    return _failed(check, where, evidence.result, {})


def _passed(check: Check, where: Where, result: dict[str, Any]) -> CheckResult:
    if check.type == UNIQUE and "unexpected_count" not in result:
        # Passed on the cheap substitute: a proportion of unique values of 1 means no
        # duplicated value, which is what the unique expectation counts.
        result = {"unexpected_count": 0, "unique_proportion": result.get("observed_value")}
    text = _message(check, where, result, passed=True)
    return _result(check, where, Status.PASSED, text, _observed(result), {})


def _failed(
    check: Check, where: Where, result: dict[str, Any], extra: dict[str, Any]
) -> CheckResult:
    text = _message(check, where, result, passed=False)
    details = {**_evidence(result), **extra}
    return _result(check, where, Status.FAILED, text, _observed(result), details)


def _message(check: Check, where: Where, result: dict[str, Any], passed: bool) -> str:
    place, kind, kwargs = where.of(check), check.type, check.kwargs
    if kind in messages.DISTINCT_SETS:
        if passed:
            return f"{place}: {messages.expectation(kind, kwargs)}"
        return messages.distinct_values(place, kind, kwargs, result)
    if kind == UNEXPECTED_ROWS:
        if passed:
            return f"{place}: {messages.expectation(kind, kwargs)}"
        rows = (result.get("details") or {}).get("unexpected_rows") or []
        return messages.unexpected_rows(
            place, result.get("observed_value"), rows, check.description
        )
    if "unexpected_count" in result:
        if passed:
            return messages.rows_passed(place, kind, kwargs, result)
        return messages.rows_failed(place, kind, kwargs, result)
    if passed and "observed_value" not in result:
        return f"{place}: {messages.expectation(kind, kwargs)}"
    return messages.observed(place, kind, kwargs, result, passed)


def _observed(result: dict[str, Any]) -> dict[str, Any] | None:
    observed = {k: jsonable(result[k]) for k in _OBSERVED_KEYS if k in result}
    return observed or None


def _evidence(result: dict[str, Any]) -> dict[str, Any]:
    evidence: dict[str, Any] = {}
    if result.get("partial_unexpected_list"):
        evidence["unexpected_values"] = jsonable(result["partial_unexpected_list"][:SAMPLE_SIZE])
    if result.get("partial_missing_list"):  # distinct values of a set that never appear
        evidence["missing_values"] = jsonable(result["partial_missing_list"][:SAMPLE_SIZE])
    if result.get("partial_unexpected_counts"):
        evidence["unexpected_value_counts"] = jsonable(result["partial_unexpected_counts"])
    if result.get("partial_unexpected_index_list"):
        evidence["unexpected_index"] = jsonable(
            result["partial_unexpected_index_list"][:SAMPLE_SIZE]
        )
    details = result.get("details") or {}
    if details.get("unexpected_rows"):
        evidence["unexpected_rows"] = jsonable(details["unexpected_rows"][:SAMPLE_SIZE])
    if details.get("mismatched"):
        evidence["mismatched"] = jsonable(details["mismatched"])
    return evidence


def _result(
    check: Check, where: Where, status: Status, message: str, observed: Any, details: dict[str, Any]
) -> CheckResult:
    context = {
        "suite": where.suite,
        "expectation_type": check.type,
        "table": f"{where.schema}.{where.table}",
    }
    if where.row_filter:
        context["row_filter"] = where.row_filter
    if check.description:
        context["description"] = check.description
    return CheckResult(
        check_id=check.check_id,
        family=KIND,
        target=where.target,
        status=status,
        severity=check.severity,
        started_at=where.started_at,
        duration_ms=where.duration_ms,
        observed=observed,
        expected=jsonable(check.kwargs),
        message=" ".join(message.split()),
        details={**context, **details},
    )


def jsonable(value: Any) -> Any:
    """Database values as JSON: exact decimals and times as text, unknown types as str."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value else None  # NaN is not JSON
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return str(value)
