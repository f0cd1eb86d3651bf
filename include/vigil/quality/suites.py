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
- `id`: the stable check id. Default: what the expectation is about, never its
  parameters: `<suite>.<expectation_type>[.<column>]`, the second and next namesakes
  numbered `.2`, `.3` (`vigil.quality.ids`; `Suite.warnings` names the numbered ones);
- `row_count_change` (on a row-count expectation only): `{"max_pct": 25, "severity":
  "warning"}` — the row count may move at most ±25% against the previous run's
  (`vigil.quality.volume`).

From the suite's own `meta`: `sensitive_columns` and `not_sensitive_columns`, lists of
column names or globs whose sampled values evidence redacts (`vigil.quality.redact`).

A GX 0.x suite gets one problem saying so, with the command that converts it
(`vigil.quality.legacy`). With `refuse_unrunnable`, an expectation GX's SQL engine cannot
run is a problem too (`vigil.quality.runnable`; `check-spec` asks for it); without, it is
kept with `Check.cannot_run` saying why, and the runner reports it as an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.quality import legacy
from vigil.quality.expectation_errors import build_errors
from vigil.quality.ids import column_of, default_id, number_namesakes
from vigil.quality.runnable import sql_problems
from vigil.quality.volume import RowCountChange, parse_change
from vigil.result import Severity

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
    id_set: bool = False  # meta.id; else the default id (`vigil.quality.ids`)
    cannot_run: str | None = None  # why GX's SQL engine cannot run it (`runnable`)

    @property
    def column(self) -> str | None:
        return column_of(self.kwargs)


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    checks: list[Check]
    # Not problems, things to know (`check-spec` prints them): ids that depend on order.
    warnings: list[str] = field(default_factory=list)
    # meta.sensitive_columns / meta.not_sensitive_columns (`vigil.quality.redact`).
    sensitive_columns: tuple[str, ...] = ()
    not_sensitive_columns: tuple[str, ...] = ()


def load_suite(path: str | Path, *, refuse_unrunnable: bool = False) -> Suite:
    """Read and check a suite file; raise SuiteError listing every problem in it.
    `refuse_unrunnable`: an expectation GX's SQL engine cannot run is a problem too."""
    path = Path(path)
    data = _read_json(path)
    problems: list[str] = []
    if not isinstance(data, dict):
        raise SuiteError(
            f"{path}: a suite is a JSON object with 'name' and 'expectations', "
            f"not a {type(data).__name__}"
        )
    if legacy.is_legacy(data):
        text = legacy.message(str(path), data)
        raise SuiteError(f"{path}: {text}", [text])
    problems += [
        f"unknown suite key {k!r} (allowed: {', '.join(sorted(SUITE_KEYS))}){legacy.key_hint(k)}"
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
        if check is not None and check.cannot_run and refuse_unrunnable:
            errors, check = [check.cannot_run], None
        problems += [f"expectations[{index}]{_label(item)}: {e}" for e in errors]
        if check is not None:
            checks.append(check)
    checks, warnings = number_namesakes(checks)
    problems += _duplicate_ids(checks)
    meta = data.get("meta")
    if meta is not None and not isinstance(meta, dict):
        problems.append(f"'meta' must be an object, not {type(meta).__name__}")
    meta = meta if isinstance(meta, dict) else {}
    sensitive, exempt = (_names(meta, key, problems) for key in _SENSITIVE_KEYS)
    if problems:
        raise SuiteError(
            f"{path}: {len(problems)} problem(s):\n  - " + "\n  - ".join(problems), problems
        )
    return Suite(
        name=name,
        path=path,
        checks=checks,
        warnings=warnings,
        sensitive_columns=sensitive,
        not_sensitive_columns=exempt,
    )


_SENSITIVE_KEYS = ("sensitive_columns", "not_sensitive_columns")


def _names(meta: dict[str, Any], key: str, problems: list[str]) -> tuple[str, ...]:
    """The column names (or globs) a suite's `meta.<key>` lists; a problem if not a list
    of non-empty strings."""
    if meta.get(key) is None:
        return ()
    names = meta[key]
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        problems.append(f"meta.{key} must be a list of column names (or globs such as '*_pin')")
        return ()
    return tuple(names)


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
        f"unknown key {k!r} (allowed: {', '.join(sorted(EXPECTATION_KEYS))}){legacy.key_hint(k)}"
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
        id_set=check_id is not None,
        cannot_run="; ".join(sql_problems(kind, kwargs)) or None,
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


def _duplicate_ids(checks: list[Check]) -> list[str]:
    """Ids shared after numbering (an explicit id used twice, or one that is another's
    default), and expectations that repeat another one exactly."""
    seen: dict[str, int] = {}
    same: dict[str, int] = {}
    problems = []
    for check in checks:
        body = json.dumps([check.type, check.kwargs], sort_keys=True, default=str)
        if body in same:
            problems.append(
                f"expectations[{check.index}] ({check.type}): the same expectation as "
                f"expectations[{same[body]}]: remove one"
            )
        elif check.check_id in seen:
            problems.append(
                f"expectations[{check.index}]: check id {check.check_id!r} is "
                f"already used by expectations[{seen[check.check_id]}] "
                "(set a distinct meta.id, or remove the duplicate)"
            )
        same.setdefault(body, check.index)
        seen.setdefault(check.check_id, check.index)
    return problems
