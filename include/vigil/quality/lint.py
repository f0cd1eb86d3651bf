"""Deep checks of a spec's quality section, for `vigil check-spec`: what the spec loader
cannot see because it lives in other files.

- a suite file that is missing, or not valid JSON (with its line and column);
- a suite GX cannot build: unknown expectation type (with "did you mean"), unknown or
  missing kwargs, a bad `meta` (everything `vigil.quality.suites.load_suite` refuses);
- a GX 0.x suite, once, with the command that converts it (`vigil suites migrate`);
- an expectation or a row condition GX's SQL engine cannot run (`vigil.quality.runnable`,
  which asks GX), with what to write instead where there is something;
- a column or table a suite names that the target's committed schema snapshot does not
  have, when the spec has a schema_drift check for that target (also with "did you mean");
- a schema snapshot file that is missing or unreadable.

Each is a `vigil.spec.errors.Problem` naming the file it is in (the spec file for a missing
file, the suite file otherwise) and the reason. A warning, not a problem: an expectation
whose default check id depends on its place in the suite (`vigil.quality.ids`). Great
Expectations is imported only when the spec has suite checks: building each expectation is
how its kwargs are checked.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from vigil.quality.models import SchemaDriftCheck, SuiteCheck
from vigil.spec.errors import Problem, did_you_mean, format_path
from vigil.spec.locate import walk
from vigil.spec.models import Spec

# Kwargs that hold column names, one or a list.
_COLUMN_KWARGS = ("column", "column_A", "column_B")
_COLUMN_LISTS = ("column_list", "column_set")


def lint_spec(
    spec: Spec, expectations: Path | None = None, warn: Callable[[Problem], None] | None = None
) -> list[Problem]:
    """Every deep problem of `spec`'s quality checks (none when it has no such checks).
    Things worth knowing that are not problems (a check id that depends on the order of
    the suite) go to `warn`, by default printed to stderr as `warning: ...`."""
    from vigil.quality.paths import expectations_dir

    folder = expectations or expectations_dir()
    spec_file = str(spec.source) if spec.source else f"<spec {spec.environment}>"
    where = _Where(spec_file, warn or _print_warning)
    problems: list[Problem] = []
    snapshots: dict[str, tuple[str, dict[str, Any]] | None] = {}
    for index, check in enumerate(spec.checks_of("quality")):
        if isinstance(check, SchemaDriftCheck):
            found, snap_problems = _snapshot(check, index, folder, where)
            problems += snap_problems
            snapshots.setdefault(check.target, found)
    for index, check in enumerate(spec.checks_of("quality")):
        if isinstance(check, SuiteCheck):
            problems += _suite(check, index, folder, where, snapshots.get(check.target))
    return problems


def _print_warning(problem: Problem) -> None:
    print(f"warning: {problem.render()}", file=sys.stderr)


class _Where:
    """Lines of the spec file, for pointing at a check's field; where warnings go."""

    def __init__(self, spec_file: str, warn: Callable[[Problem], None]) -> None:
        self.file = spec_file
        self.warn = warn
        try:
            self._text = Path(spec_file).read_text(encoding="utf-8")
            self._root = yaml.compose(self._text)
        except (OSError, yaml.YAMLError):
            self._text, self._root = "", None

    def problem(self, loc: tuple[str | int, ...], message: str, hint: str | None = None) -> Problem:
        path = format_path(loc)
        if self._root is None:
            return Problem(self.file, None, None, path, message, hint=hint)
        spot = walk(self._root, loc)
        lines = self._text.splitlines()
        return Problem(
            self.file,
            spot.line,
            spot.column,
            path,
            message,
            hint=hint,
            source_line=lines[spot.line - 1] if spot.line <= len(lines) else None,
            end_column=spot.end_column(),
        )


# --- schema snapshots ---------------------------------------------------------------


def _snapshot(
    check: SchemaDriftCheck, index: int, folder: Path, where: _Where
) -> tuple[tuple[str, dict[str, Any]] | None, list[Problem]]:
    from vigil.quality.schema_drift import SnapshotError, load_snapshot

    path = folder / check.snapshot
    loc = ("checks", "quality", index, "snapshot")
    if not path.is_file():
        text = f"schema snapshot {check.snapshot} not found in {folder}"
        hint = f"write it with `vigil snapshot-schema --target {check.target}`"
        return None, [where.problem(loc, text, hint)]
    try:
        return (check.snapshot, load_snapshot(path)), []
    except SnapshotError as exc:
        return None, [Problem(str(path), None, None, "", str(exc).removeprefix(f"{path}: "))]


# --- suites -------------------------------------------------------------------------


def _suite(
    check: SuiteCheck,
    index: int,
    folder: Path,
    where: _Where,
    snapshot: tuple[str, dict[str, Any]] | None,
) -> list[Problem]:
    path = folder / check.suite
    if not path.is_file():
        loc = ("checks", "quality", index, "suite")
        return [where.problem(loc, f"suite file {check.suite} not found in {folder}")]
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        lines = text.splitlines()
        line = lines[exc.lineno - 1] if 0 < exc.lineno <= len(lines) else None
        return [
            Problem(
                str(path), exc.lineno, exc.colno, "", f"not valid JSON: {exc.msg}", source_line=line
            )
        ]
    from vigil.quality.suites import SuiteError, load_suite

    try:
        suite = load_suite(path, refuse_unrunnable=True)
    except SuiteError as exc:
        return _suite_problems(path, text, exc.problems or [str(exc).removeprefix(f"{path}: ")])
    for warning in _suite_problems(path, text, suite.warnings):
        where.warn(warning)
    if snapshot is None:
        return []
    return list(_against_snapshot(path, text, check, suite.checks, snapshot))


def _suite_problems(path: Path, text: str, items: list[str]) -> list[Problem]:
    """`expectations[3] (type): what` lines as Problems on the expectation's line."""
    if not items:
        return []
    root = _json_nodes(text)
    out = []
    for item in items:
        field, _, message = (
            item.partition(": ") if item.startswith("expectations[") else ("", "", item)
        )
        out.append(_at(path, text, root, field, message or item))
    return out


def _against_snapshot(
    path: Path,
    text: str,
    check: SuiteCheck,
    items: list[Any],
    snapshot: tuple[str, dict[str, Any]],
) -> Iterator[Problem]:
    name, snap = snapshot
    tables = (snap.get("schemas", {}).get(check.schema_name) or {}).get("tables") or {}
    label = f"{check.schema_name}.{check.table}"
    if check.table not in tables:
        hint = did_you_mean(check.table, list(tables))
        message = f"table {label} is not in schema snapshot {name}"
        yield Problem(str(path), None, None, "", message, hint=hint)
        return
    columns = list((tables[check.table] or {}).get("columns") or {})
    root = _json_nodes(text)
    for item in items:
        for column, where in _columns_named(item.kwargs):
            if column not in columns:
                message = f"column {column!r} is not in table {label} of schema snapshot {name}"
                field = f"expectations[{item.index}] ({item.type})"
                hint = did_you_mean(column, columns)
                yield _at(path, text, root, field, message, hint, ("kwargs", *where))


def _columns_named(kwargs: dict[str, Any]) -> list[tuple[str, tuple[str | int, ...]]]:
    """Column names in an expectation's kwargs, each with where it is in them."""
    named: list[tuple[str, tuple[str | int, ...]]] = [
        (str(kwargs[k]), (k,)) for k in _COLUMN_KWARGS if isinstance(kwargs.get(k), str)
    ]
    for key in _COLUMN_LISTS:
        if isinstance(kwargs.get(key), list):
            named += [(str(c), (key, i)) for i, c in enumerate(kwargs[key])]
    return named


def _json_nodes(text: str) -> Any:
    """The suite as YAML nodes (JSON is YAML), for the line of an expectation; None if not.
    libyaml's loader where installed: the pure-Python one took ~20 ms a suite."""
    try:
        return yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None


def _at(
    path: Path,
    text: str,
    root: Any,
    field: str,
    message: str,
    hint: str | None = None,
    inside: tuple[str | int, ...] = ("type",),
) -> Problem:
    """A problem in a suite file, on the line of the expectation `field` names (at its
    `inside` part: its type, or the kwarg at fault)."""
    line = column = end = None
    index = _index_of(field)
    if root is not None and index is not None:
        spot = walk(root, ("expectations", index, *inside))
        line, column, end = spot.line, spot.column, spot.end_column()
    lines = text.splitlines()
    source = lines[line - 1] if line is not None and line <= len(lines) else None
    return Problem(
        str(path), line, column, field, message, hint=hint, source_line=source, end_column=end
    )


def _index_of(field: str) -> int | None:
    if not field.startswith("expectations["):
        return None
    number = field.removeprefix("expectations[").split("]", 1)[0]
    return int(number) if number.isdigit() else None
