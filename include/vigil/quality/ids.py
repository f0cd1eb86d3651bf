"""The default check id of an expectation: what it is about, never its parameters.

An expectation's id is its `meta.id` when it has one. Otherwise:

    <suite>.<type>.<column>     a column expectation (a pair: `a,b`; a column list: `a,b,c`)
    <suite>.<type>              a table expectation (row count, column set, SQL query)

and when several expectations of a suite would get the same default id (two bounds on one
column, two SQL queries), the first keeps it and the next ones get `.2`, `.3`, in the
order of the file. Bounds, sets, patterns, `mostly`, conditions and queries are never part
of an id, so changing a threshold keeps the check's history and alert state. What a
numbered id does depend on is its place among its namesakes: `number_namesakes` says so
(`vigil check-spec` prints it as a warning), suggesting a `meta.id` for each.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigil.quality.suites import Check


def column_of(kwargs: dict[str, Any]) -> str | None:
    """The column(s) an expectation is about, as one readable string, or None."""
    if isinstance(kwargs.get("column"), str):
        return str(kwargs["column"])
    if isinstance(kwargs.get("column_A"), str) and isinstance(kwargs.get("column_B"), str):
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    columns = kwargs.get("column_list")
    if isinstance(columns, list) and columns and all(isinstance(c, str) for c in columns):
        return ",".join(columns)
    return None


def default_id(suite: str, kind: str, kwargs: dict[str, Any]) -> str:
    """`<suite>.<type>[.<column>]`: the id before namesakes are numbered."""
    column = column_of(kwargs)
    return f"{suite}.{kind}.{column}" if column else f"{suite}.{kind}"


def number_namesakes(checks: list[Check]) -> tuple[list[Check], list[str]]:
    """Checks whose default ids coincide: the first keeps it, the others get `.2`, `.3`.
    Also one warning per such check (`expectations[3] (type): ...`, the form of a suite's
    problems): its id depends on its place in the file."""
    groups: dict[str, list[int]] = {}
    for position, check in enumerate(checks):
        if not check.id_set:
            groups.setdefault(check.check_id, []).append(position)
    out = list(checks)
    warnings: list[str] = []
    for base, positions in groups.items():
        if len(positions) < 2:
            continue
        for number, position in enumerate(positions[1:], start=2):
            out[position] = replace(out[position], check_id=f"{base}.{number}")
        for position in positions:
            check = out[position]
            others = ", ".join(f"[{out[p].index}]" for p in positions if p != position)
            warnings.append(
                f"expectations[{check.index}] ({check.type}): id {check.check_id!r} is told "
                f"apart from expectations{others} (same default id) only by their order: "
                f"reordering them swaps their histories; set a meta.id, e.g. "
                f"{suggest_id(check)!r}"
            )
    return out, warnings


def suggest_id(check: Check) -> str:
    """A readable meta.id for a check: its column and what it bounds or checks."""
    column = column_of(check.kwargs)
    bounds = [k for k in ("min_value", "max_value") if check.kwargs.get(k) is not None]
    if bounds == ["min_value"]:
        what = "min"
    elif bounds == ["max_value"]:
        what = "max"
    else:
        what = check.type.removeprefix("expect_").removeprefix("column_")
        what = what.removeprefix("table_").removeprefix("values_to_").removeprefix("to_")
    return f"{column}.{what}" if column else what
