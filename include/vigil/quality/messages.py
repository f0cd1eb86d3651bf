"""One readable line per expectation outcome: where, how many, and what was found.

    orders.total_amount: 3 of 4,000 rows (0.075%) outside [0, 100000]; e.g. -5.00, 250000.00

Pure formatting over plain values (no GX import), so it is unit-tested on its own; how a
single value is written is `vigil.quality.values`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from vigil.quality.values import SAMPLES_IN_MESSAGE as SAMPLES_IN_MESSAGE
from vigil.quality.values import SET_ITEMS_SHOWN as SET_ITEMS_SHOWN
from vigil.quality.values import a_set as a_set
from vigil.quality.values import bounds as bounds
from vigil.quality.values import columns as columns
from vigil.quality.values import count as count
from vigil.quality.values import listed as listed
from vigil.quality.values import percent as percent
from vigil.quality.values import row as row
from vigil.quality.values import samples as samples
from vigil.quality.values import value as value

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
    "expect_column_distinct_values_to_contain_set": lambda k: (
        f"distinct values include {a_set(k.get('value_set'))}"
    ),
    "expect_column_distinct_values_to_equal_set": lambda k: (
        f"distinct values exactly {a_set(k.get('value_set'))}"
    ),
    "expect_column_kl_divergence_to_be_less_than": lambda k: (
        f"KL divergence from the expected partition <= {value(k.get('threshold'))}"
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
    shown = samples(result.get("partial_unexpected_list") or [], names=columns(kwargs))
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
    if kind == KL_DIVERGENCE:
        return kl_divergence(where, kwargs, seen, passed)
    shown = a_set(seen) if isinstance(seen, list) else value(seen)
    if seen is None:
        shown = "nothing (no non-NULL value to measure)"
    if passed:
        return f"{where}: {asked} (observed {shown})"
    return f"{where}: observed {shown}, expected {asked}"


KL_DIVERGENCE = "expect_column_kl_divergence_to_be_less_than"


def kl_divergence(where: str, kwargs: dict[str, Any], seen: Any, passed: bool) -> str:
    """GX reports an infinite divergence (a value the partition gives no weight) as None."""
    bound = value(kwargs.get("threshold"))
    if seen is None:
        measured = "infinite (the column has a value the expected partition gives no weight)"
    else:
        measured = f"{float(seen):.4g}"
    verdict = "within" if passed else "above"
    return (
        f"{where}: KL divergence from the expected partition is {measured}, "
        f"{verdict} the threshold {bound}"
    )


DISTINCT_SETS = (
    "expect_column_distinct_values_to_be_in_set",
    "expect_column_distinct_values_to_contain_set",
    "expect_column_distinct_values_to_equal_set",
)


def distinct_values(where: str, kind: str, kwargs: dict[str, Any], result: dict[str, Any]) -> str:
    """A set-of-distinct-values check that failed: the values outside the set, and the
    ones of the set that never appear (GX counts distinct values, not rows)."""
    wanted = a_set(kwargs.get("value_set"))
    parts = []
    extra, missing = result.get("unexpected_count"), result.get("missing_count")
    if kind != DISTINCT_SETS[1] and extra:
        found = listed(result.get("partial_unexpected_list"))
        noun = "value" if extra == 1 else "values"
        parts.append(f"{count(extra)} distinct {noun} not in {wanted}{found}")
    if kind != DISTINCT_SETS[0] and missing:
        found = listed(result.get("partial_missing_list"))
        noun = "value" if missing == 1 else "values"
        parts.append(
            f"{count(missing)} {noun} of {wanted} never appear{'s' * (missing == 1)}{found}"
        )
    return f"{where}: " + ("; ".join(parts) or f"distinct values not as expected ({wanted})")


def _position(m: dict[str, Any]) -> str:
    """One entry of GX's ordered-list mismatch (0-based positions) as a person reads it."""
    at = m.get("Expected Column Position")
    place = f"column {at + 1}" if isinstance(at, int) else "a column"
    found = "none" if m.get("Found") is None else value(m.get("Found"))
    return f"{place} should be {value(m.get('Expected'))}, found {found}"
