"""What is wrong with one expectation's kwargs, in words, without running it.

Each expectation is built as GX builds it (its pydantic model checks the kwargs); GX's
errors are turned into one line each: missing and unknown kwargs (with "did you mean"
among the expectation's own arguments only, not GX's bookkeeping fields such as
`severity` or `notes`), invalid values. An `unexpected_rows_query` is checked as SQL, and
for the two ways GX substitutes `{batch}` into it.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from vigil.spec.validators import check_single_sql

# Fields every GX expectation has: not arguments a suite author would mean.
_BOOKKEEPING = frozenset({"batch_id", "library_metadata", "windows", "rendered_content"})


def build_errors(kind: str, kwargs: dict[str, Any]) -> list[str]:
    """What is wrong with expectation `kind` built from `kwargs` (empty: it builds)."""
    from vigil.quality._gx import gx

    gx()
    from great_expectations.exceptions.exceptions import ExpectationNotFoundError
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
        return _explain(exc, impl, kind)
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


def _explain(exc: Exception, impl: type, kind: str) -> list[str]:
    errors_of = getattr(exc, "errors", None)
    if not callable(errors_of):
        return [f"invalid kwargs: {exc}"]
    fields = own_arguments(impl)
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
        takes = f" ({kind} takes: {', '.join(fields)})"
        out.append(
            f"unknown kwarg {name!r}" + (f"; did you mean {close[0]!r}?" if close else takes)
        )
    out += [(f"{loc}: {msg}" if loc != "__root__" else msg) for loc, msg in invalid.items()]
    return out


def own_arguments(impl: type) -> list[str]:
    """An expectation's own arguments: its fields less those every expectation has."""
    from great_expectations.expectations.expectation import Expectation

    common = set(getattr(Expectation, "__fields__", {})) | _BOOKKEEPING
    return [name for name in getattr(impl, "__fields__", {}) if name not in common]
