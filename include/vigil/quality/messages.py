"""One readable line per expectation outcome: where, how many, and what was found.

    orders.total_amount: 3 of 4,000 rows (0.075%) outside [0, 100000]; e.g. -5.00, 250000.00

Pure formatting over plain values (no GX import), so it is unit-tested on its own.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Sequence
from typing import Any

SAMPLES_IN_MESSAGE = 5
SET_ITEMS_SHOWN = 8


def value(v: Any) -> str:
    """A sample value as a person reads it: numbers bare, text quoted, NULL for None."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int | float | decimal.Decimal):
        return str(v)
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    return repr(str(v))


def count(n: Any) -> str:
    return f"{n:,}" if isinstance(n, int) else str(n)


def percent(part: float, whole: float) -> str:
    """Two significant digits under 1%, one decimal above: 0.075%, 12.5%."""
    if not whole:
        return "n/a"
    pct = 100.0 * part / whole
    if pct == 0 or pct >= 1:
        return f"{pct:.1f}%".replace(".0%", "%")
    return f"{pct:.2g}%"


def bounds(kwargs: dict[str, Any], low: str = "min_value", high: str = "max_value") -> str:
    lo, hi = kwargs.get(low), kwargs.get(high)
    if lo is None and hi is not None:
        return f"{'<' if kwargs.get('strict_max') else '<='} {value(hi)}"
    if hi is None:
        return f"{'>' if kwargs.get('strict_min') else '>='} {value(lo)}"
    left = "(" if kwargs.get("strict_min") else "["
    right = ")" if kwargs.get("strict_max") else "]"
    return f"{left}{value(lo)}, {value(hi)}{right}"


def a_set(values: Any) -> str:
    items = list(values) if isinstance(values, list | tuple | set) else [values]
    shown = ", ".join(value(v) for v in items[:SET_ITEMS_SHOWN])
    more = f", … {len(items) - SET_ITEMS_SHOWN} more" if len(items) > SET_ITEMS_SHOWN else ""
    return "{" + shown + more + "}"


# What a passing row satisfies, and what a failing row does instead.
_PHRASES: dict[str, tuple[Callable[[dict[str, Any]], str], Callable[[dict[str, Any]], str]]] = {
    "expect_column_values_to_be_between": (
        lambda k: f"within {bounds(k)}",
        lambda k: f"outside {bounds(k)}",
    ),
    "expect_column_values_to_not_be_null": (lambda k: "not NULL", lambda k: "NULL"),
    "expect_column_values_to_be_null": (lambda k: "NULL", lambda k: "not NULL"),
    "expect_column_values_to_be_unique": (lambda k: "unique", lambda k: "with duplicated values"),
    "expect_column_values_to_be_in_set": (
        lambda k: f"in {a_set(k.get('value_set'))}",
        lambda k: f"not in {a_set(k.get('value_set'))}",
    ),
    "expect_column_values_to_not_be_in_set": (
        lambda k: f"not in {a_set(k.get('value_set'))}",
        lambda k: f"in {a_set(k.get('value_set'))}",
    ),
    "expect_column_values_to_match_regex": (
        lambda k: f"matching /{k.get('regex')}/",
        lambda k: f"not matching /{k.get('regex')}/",
    ),
    "expect_column_values_to_not_match_regex": (
        lambda k: f"not matching /{k.get('regex')}/",
        lambda k: f"matching /{k.get('regex')}/",
    ),
    "expect_column_values_to_match_like_pattern": (
        lambda k: f"like {value(k.get('like_pattern'))}",
        lambda k: f"not like {value(k.get('like_pattern'))}",
    ),
    "expect_column_value_lengths_to_be_between": (
        lambda k: f"of length {bounds(k)}",
        lambda k: f"of length outside {bounds(k)}",
    ),
    "expect_column_value_lengths_to_equal": (
        lambda k: f"of length {k.get('value')}",
        lambda k: f"not of length {k.get('value')}",
    ),
    "expect_column_pair_values_to_be_equal": (
        lambda k: "equal in both columns",
        lambda k: "different in the two columns",
    ),
    "expect_compound_columns_to_be_unique": (
        lambda k: "unique together",
        lambda k: "with duplicated combinations",
    ),
}

_AGGREGATES: dict[str, Callable[[dict[str, Any]], str]] = {
    "expect_table_row_count_to_be_between": lambda k: f"row count {bounds(k)}",
    "expect_table_row_count_to_equal": lambda k: f"row count = {value(k.get('value'))}",
    "expect_table_column_count_to_equal": lambda k: f"column count = {value(k.get('value'))}",
    "expect_table_columns_to_match_set": lambda k: f"columns {a_set(k.get('column_set'))}",
    "expect_table_columns_to_match_ordered_list": lambda k: (
        f"columns in order {a_set(k.get('column_list'))}"
    ),
    "expect_column_to_exist": lambda k: "column exists",
    "expect_column_values_to_be_of_type": lambda k: f"of type {k.get('type_')}",
    "expect_column_values_to_be_in_type_list": lambda k: (
        f"of a type in {a_set(k.get('type_list'))}"
    ),
    "expect_column_distinct_values_to_be_in_set": lambda k: (
        f"distinct values in {a_set(k.get('value_set'))}"
    ),
    "expect_column_unique_value_count_to_be_between": lambda k: f"distinct count {bounds(k)}",
    "expect_column_proportion_of_unique_values_to_be_between": lambda k: (
        f"proportion of unique values {bounds(k)}"
    ),
    "expect_column_mean_to_be_between": lambda k: f"mean {bounds(k)}",
    "expect_column_median_to_be_between": lambda k: f"median {bounds(k)}",
    "expect_column_min_to_be_between": lambda k: f"min {bounds(k)}",
    "expect_column_max_to_be_between": lambda k: f"max {bounds(k)}",
    "expect_column_sum_to_be_between": lambda k: f"sum {bounds(k)}",
    "expect_column_stdev_to_be_between": lambda k: f"stdev {bounds(k)}",
    "unexpected_rows_expectation": lambda k: "no row returned by the unexpected-rows query",
}


def expectation(kind: str, kwargs: dict[str, Any]) -> str:
    """What the expectation asks for, in words."""
    if kind in _PHRASES:
        return _PHRASES[kind][0](kwargs)
    if kind in _AGGREGATES:
        return _AGGREGATES[kind](kwargs)
    return kind.removeprefix("expect_").replace("_", " ")


def violation(kind: str, kwargs: dict[str, Any]) -> str:
    """What a failing row is, in words."""
    if kind in _PHRASES:
        return _PHRASES[kind][1](kwargs)
    return f"failing {kind}"


def samples(values: Sequence[Any], limit: int = SAMPLES_IN_MESSAGE) -> str:
    """Distinct sample values in the order found ("" when they are all NULL: no news)."""
    distinct: list[Any] = []
    for v in values:
        if v is not None and v not in distinct:
            distinct.append(v)
    return ", ".join(value(v) for v in distinct[:limit])


def row(r: dict[str, Any], limit: int = 4) -> str:
    items = list(r.items())
    text = ", ".join(f"{k}={value(v)}" for k, v in items[:limit])
    return "(" + text + (", …" if len(items) > limit else "") + ")"


def mostly(kwargs: dict[str, Any]) -> str:
    m = kwargs.get("mostly")
    return (
        f" (allowed: up to {percent(1 - float(m), 1)} with mostly={m})"
        if m not in (None, 1, 1.0)
        else ""
    )


def rows_failed(where: str, kind: str, kwargs: dict[str, Any], result: dict[str, Any]) -> str:
    """A column check that failed: how many rows of how many, and sample values."""
    bad, total = result.get("unexpected_count"), result.get("element_count")
    head = f"{where}: {count(bad)} of {count(total)} rows "
    head += f"({percent(bad or 0, total or 0)}) {violation(kind, kwargs)}{mostly(kwargs)}"
    shown = samples(result.get("partial_unexpected_list") or [])
    keys = row_keys(result.get("partial_unexpected_index_list") or [], result)
    return head + (f"; e.g. {shown}" if shown else "") + (f"; rows {keys}" if keys else "")


def row_keys(index: Sequence[Any], result: dict[str, Any], limit: int = SAMPLES_IN_MESSAGE) -> str:
    """The failing rows' primary keys, from GX's index list: `id=100, 400, 900`."""
    names = [str(n) for n in result.get("unexpected_index_column_names") or []]
    keyed = [r for r in index if isinstance(r, dict) and names and all(n in r for n in names)]
    if not keyed:
        return ""
    if len(names) == 1:
        shown = ", ".join(value(r[names[0]]) for r in keyed[:limit])
        return f"{names[0]}={shown}" + (", …" if len(keyed) > limit else "")
    parts = ["(" + ", ".join(f"{n}={value(r[n])}" for n in names) + ")" for r in keyed[:limit]]
    return ", ".join(parts) + (", …" if len(keyed) > limit else "")


def rows_passed(where: str, kind: str, kwargs: dict[str, Any], result: dict[str, Any]) -> str:
    bad, total = result.get("unexpected_count"), result.get("element_count")
    if bad:
        return (
            f"{where}: {count(bad)} of {count(total)} rows ({percent(bad, total or 0)}) "
            f"{violation(kind, kwargs)}, within mostly={kwargs.get('mostly')}"
        )
    if total is None:
        return f"{where}: {expectation(kind, kwargs)}"
    return f"{where}: all {count(total)} rows {expectation(kind, kwargs)}"


def unexpected_rows(where: str, n: Any, rows: list[dict[str, Any]], description: str | None) -> str:
    what = f" ({description})" if description else ""
    text = f"{where}: {count(n)} unexpected row{'s' if n != 1 else ''}{what}"
    return text + (f"; e.g. {'; '.join(row(r) for r in rows[:3])}" if rows else "")


def observed(
    where: str, kind: str, kwargs: dict[str, Any], result: dict[str, Any], passed: bool
) -> str:
    """An aggregate or schema expectation: what was observed against what was asked."""
    asked = expectation(kind, kwargs)
    seen = result.get("observed_value")
    mismatch = (result.get("details") or {}).get("mismatched")
    if not passed and isinstance(mismatch, dict) and mismatch:
        parts = [f"{k} {a_set(v)}" for k, v in sorted(mismatch.items()) if v]
        return f"{where}: columns differ: " + "; ".join(parts)
    if not passed and isinstance(mismatch, list) and mismatch:
        return f"{where}: columns differ from the list: " + "; ".join(
            _position(m) for m in mismatch[:SET_ITEMS_SHOWN] if isinstance(m, dict)
        )
    shown = a_set(seen) if isinstance(seen, list) else value(seen)
    if passed:
        return f"{where}: {asked} (observed {shown})"
    return f"{where}: observed {shown}, expected {asked}"


def _position(m: dict[str, Any]) -> str:
    """One entry of GX's ordered-list mismatch (0-based positions) as a person reads it."""
    at = m.get("Expected Column Position")
    place = f"column {at + 1}" if isinstance(at, int) else "a column"
    found = "none" if m.get("Found") is None else value(m.get("Found"))
    return f"{place} should be {value(m.get('Expected'))}, found {found}"
