"""Loading a Great Expectations 1.x suite from its own JSON format, failing closed.

GX's `ExpectationSuite(**json)` quietly drops an expectation it cannot build (it logs and
moves on), so a typo would silently shrink a suite. This loader builds every expectation
itself, collects every problem in the file, and raises one `SuiteError` that names the
file, the expectation (index and type) and what is wrong, with "did you mean" for
misspelt expectation types.

Vigil reads three keys from an expectation's `meta` (GX keeps `meta` as it is, so the
file stays one GX's own tools load):
- `severity`: `critical` (default) or `warning` (GX's own top-level `severity` is read
  too when `meta` has none; its `info` counts as `warning`);
- `id`: the stable check id. Default: `<suite>.<expectation_type>.<column>` (or a short
  hash of the kwargs when the expectation has no column); when two expectations would get
  the same default id, each gets the kwargs hash appended, so ids stay deterministic;
- `row_count_change` (on a row-count expectation only): `{"max_pct": 25, "severity":
  "warning"}` — the row count may move at most ±25% against the previous run's
  (`vigil.quality.volume`).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vigil.quality.volume import RowCountChange, parse_change
from vigil.result import Severity
from vigil.spec.validators import check_single_sql

SUITE_KEYS = frozenset({"name", "id", "expectations", "suite_parameters", "meta", "notes"})
EXPECTATION_KEYS = frozenset(
    {
        "type",
        "kwargs",
        "meta",
        "id",
        "notes",
        "description",
        "severity",
        "rendered_content",
        "expectation_context",
    }
)
# Vigil plans its own result formats and reads errors itself: these would fight it.
RESERVED_KWARGS = frozenset({"result_format", "catch_exceptions"})
_GX_SEVERITY = {
    "critical": Severity.CRITICAL,
    "warning": Severity.WARNING,
    "info": Severity.WARNING,
}


class SuiteError(ValueError):
    """A suite file that cannot be used; the message lists every problem found, and
    `problems` holds them one by one (`expectations[3] (type): what is wrong`)."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


@dataclass(frozen=True)
class Check:
    """One expectation of a suite, with what Vigil needs to report it."""

    index: int
    check_id: str
    type: str
    kwargs: dict[str, Any]
    severity: Severity
    meta: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    severity_set: bool = False  # the suite says; else the spec check's severity applies
    row_count_change: RowCountChange | None = None

    @property
    def column(self) -> str | None:
        return column_of(self.kwargs)


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    checks: list[Check]


def load_suite(path: str | Path) -> Suite:
    """Read and check a suite file; raise SuiteError listing every problem in it."""
    path = Path(path)
    data = _read_json(path)
    problems: list[str] = []
    if not isinstance(data, dict):
        raise SuiteError(
            f"{path}: a suite is a JSON object with 'name' and 'expectations', "
            f"not a {type(data).__name__}"
        )
    problems += [
        f"unknown suite key {k!r} (allowed: {', '.join(sorted(SUITE_KEYS))})"
        for k in data
        if k not in SUITE_KEYS
    ]
    name = data.get("name") or path.stem
    if not isinstance(name, str):
        problems.append(f"'name' must be a string, not {type(name).__name__}")
        name = path.stem
    raw = data.get("expectations")
    if not isinstance(raw, list) or not raw:
        problems.append("'expectations' must be a non-empty list")
        raw = []
    checks: list[Check] = []
    for index, item in enumerate(raw):
        check, errors = _parse_expectation(name, index, item)
        problems += [f"expectations[{index}]{_label(item)}: {e}" for e in errors]
        if check is not None:
            checks.append(check)
    checks = _disambiguate(checks)
    problems += _duplicate_ids(checks)
    if problems:
        raise SuiteError(
            f"{path}: {len(problems)} problem(s):\n  - " + "\n  - ".join(problems), problems
        )
    return Suite(name=name, path=path, checks=checks)


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read suite file: {exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        line = text.splitlines()[exc.lineno - 1] if text.splitlines() else ""
        caret = " " * (exc.colno - 1) + "^"
        raise SuiteError(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}\n    {line}\n    {caret}"
        ) from exc


def _label(item: Any) -> str:
    return (
        f" ({item['type']})" if isinstance(item, dict) and isinstance(item.get("type"), str) else ""
    )


def _parse_expectation(suite: str, index: int, item: Any) -> tuple[Check | None, list[str]]:
    if not isinstance(item, dict):
        return None, [f"an expectation is a JSON object, not {type(item).__name__}"]
    errors = [
        f"unknown key {k!r} (allowed: {', '.join(sorted(EXPECTATION_KEYS))})"
        for k in item
        if k not in EXPECTATION_KEYS
    ]
    kind, kwargs, meta = item.get("type"), item.get("kwargs", {}), item.get("meta") or {}
    if not isinstance(kind, str) or not kind:
        return None, [*errors, "missing 'type' (the expectation's snake_case name)"]
    if not isinstance(kwargs, dict):
        return None, [*errors, f"'kwargs' must be an object, not {type(kwargs).__name__}"]
    if not isinstance(meta, dict):
        return None, [*errors, f"'meta' must be an object, not {type(meta).__name__}"]
    errors += [
        f"kwarg {k!r} is set by Vigil at run time; remove it"
        for k in kwargs
        if k in RESERVED_KWARGS
    ]
    errors += build_errors(kind, kwargs)
    severity, problem = _severity(meta, item.get("severity"))
    if problem:
        errors.append(problem)
    change, change_errors = parse_change(kind, meta.get("row_count_change"))
    errors += change_errors
    check_id = meta.get("id")
    if check_id is not None and (not isinstance(check_id, str) or not check_id.strip()):
        errors.append("meta.id must be a non-empty string")
    if errors:
        return None, errors
    description = item.get("description") or meta.get("description")
    return Check(
        index=index,
        check_id=check_id or default_id(suite, kind, kwargs),
        type=kind,
        kwargs=kwargs,
        severity=severity,
        meta=meta,
        description=str(description) if description else None,
        severity_set=meta.get("severity") is not None or item.get("severity") is not None,
        row_count_change=change,
    ), []


def _severity(meta: dict[str, Any], gx_severity: Any) -> tuple[Severity, str | None]:
    raw = meta.get("severity")
    if raw is None:
        return _GX_SEVERITY.get(str(gx_severity or "critical"), Severity.CRITICAL), None
    try:
        return Severity(raw), None
    except ValueError:
        allowed = ", ".join(s.value for s in Severity)
        return Severity.CRITICAL, f"meta.severity {raw!r} is not one of: {allowed}"


def build_errors(kind: str, kwargs: dict[str, Any]) -> list[str]:
    """What is wrong with expectation `kind` built from `kwargs` (empty: it builds)."""
    from vigil.quality._gx import gx

    gx()
    from great_expectations.exceptions import ExpectationNotFoundError
    from great_expectations.expectations.registry import (
        _registered_expectations,
        get_expectation_impl,
    )

    try:
        impl = get_expectation_impl(kind)
    except ExpectationNotFoundError:
        close = difflib.get_close_matches(kind, _registered_expectations, n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return [f"unknown expectation type {kind!r}{hint}"]
    errors = _query_errors(kind, kwargs)
    if errors:  # GX would print its own warning to stdout while building it
        return errors
    try:
        impl(**kwargs)
    except Exception as exc:  # GX raises pydantic v1 ValidationError (and a few others)
        return _explain(exc, impl)
    return []


def _query_errors(kind: str, kwargs: dict[str, Any]) -> list[str]:
    query = kwargs.get("unexpected_rows_query")
    if kind != "unexpected_rows_expectation" or not isinstance(query, str):
        return []
    # Without {batch} the query ignores the table and row filter being validated (GX only
    # prints a warning to stdout); Vigil refuses it.
    if "{batch}" not in query:
        return ["unexpected_rows_query must select from {batch} (the table being validated)"]
    try:
        check_single_sql(query, "unexpected_rows_query")
    except ValueError as exc:
        return [str(exc)]
    return _batch_alias_errors(query)


# Words that may follow `{batch}` without being an alias for it.
_NOT_ALIAS = frozenset(
    [
        "where",
        "group",
        "order",
        "limit",
        "offset",
        "union",
        "except",
        "intersect",
        "having",
        "window",
        "fetch",
        "for",
        "on",
        "join",
        "left",
        "right",
        "inner",
        "full",
        "cross",
        "natural",
        "using",
        "tablesample",
    ]
)
_AFTER_BATCH = re.compile(r"\{batch\}(?:\s+(?:AS\s+)?([A-Za-z_][A-Za-z0-9_]*))?", re.IGNORECASE)
_JOIN = re.compile(r"\bJOIN\b", re.IGNORECASE)
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.DOTALL)


def _batch_alias_errors(query: str) -> list[str]:
    """GX substitutes {batch} two ways (GX 1.24, query_metric_provider): in a query with a
    JOIN as a bare `(SELECT ...)`, which the query must alias; otherwise as
    `(SELECT ...) AS subselect`, which a second alias turns into a syntax error. Both only
    show when the query runs, so they are caught when the suite loads."""
    has_join = _JOIN.search(_QUOTED.sub(" ", query)) is not None
    errors = []
    for match in _AFTER_BATCH.finditer(query):
        alias = match.group(1)
        aliased = alias is not None and alias.lower() not in _NOT_ALIAS
        if has_join and not aliased:
            errors.append(
                "unexpected_rows_query has a JOIN, so GX inserts {batch} as an unnamed "
                "subquery: give it an alias ({batch} AS b)"
            )
        elif not has_join and aliased:
            errors.append(
                f"unexpected_rows_query has no JOIN, so GX inserts {{batch}} already named "
                f"'subselect': remove the alias {alias!r} after {{batch}} (or write the check "
                "as a LEFT JOIN ... WHERE ... IS NULL)"
            )
    return errors[:1]


def _explain(exc: Exception, impl: type) -> list[str]:
    errors_of = getattr(exc, "errors", None)
    if not callable(errors_of):
        return [f"invalid kwargs: {exc}"]
    fields = getattr(impl, "__fields__", {})
    missing: list[str] = []
    unknown: list[str] = []
    invalid: dict[str, str] = {}
    for err in errors_of():
        loc = ".".join(str(part) for part in err.get("loc", ()))
        if err.get("type") == "value_error.missing":
            missing.append(loc)
        elif err.get("type") == "value_error.extra":
            unknown.append(loc)
        else:
            invalid.setdefault(loc, err.get("msg", "invalid"))  # a union lists one per type
    out = []
    if missing:
        out.append("missing required kwargs: " + ", ".join(missing))
    for name in unknown:
        close = difflib.get_close_matches(name, fields, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        out.append(f"unknown kwarg {name!r}{hint}")
    out += [(f"{loc}: {msg}" if loc != "__root__" else msg) for loc, msg in invalid.items()]
    return out


def column_of(kwargs: dict[str, Any]) -> str | None:
    """The column(s) an expectation is about, as one readable string, or None."""
    if isinstance(kwargs.get("column"), str):
        return str(kwargs["column"])
    if isinstance(kwargs.get("column_A"), str) and isinstance(kwargs.get("column_B"), str):
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    columns = kwargs.get("column_list")
    if isinstance(columns, list) and all(isinstance(c, str) for c in columns):
        return ",".join(columns)
    return None


def kwargs_hash(kwargs: dict[str, Any]) -> str:
    blob = json.dumps(kwargs, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def default_id(suite: str, kind: str, kwargs: dict[str, Any]) -> str:
    return f"{suite}.{kind}.{column_of(kwargs) or kwargs_hash(kwargs)}"


def _duplicate_ids(checks: list[Check]) -> list[str]:
    """Ids still shared after disambiguation: an explicit id used twice, or two identical
    expectations (same type and kwargs)."""
    seen: dict[str, int] = {}
    problems = []
    for check in checks:
        if check.check_id in seen:
            problems.append(
                f"expectations[{check.index}]: check id {check.check_id!r} is "
                f"already used by expectations[{seen[check.check_id]}] "
                "(set a distinct meta.id, or remove the duplicate)"
            )
        seen.setdefault(check.check_id, check.index)
    return problems


def _disambiguate(checks: list[Check]) -> list[Check]:
    counts: dict[str, int] = {}
    for check in checks:
        counts[check.check_id] = counts.get(check.check_id, 0) + 1
    out = []
    for check in checks:
        if counts[check.check_id] > 1 and "id" not in check.meta:
            check = replace(check, check_id=f"{check.check_id}.{kwargs_hash(check.kwargs)}")
        out.append(check)
    return out
