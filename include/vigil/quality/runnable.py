"""What GX's SQL engine cannot run, asked of GX itself, so `check-spec` refuses it.

Some expectations GX 1.24 registers compute their metric in pandas or Spark only: on a
PostgreSQL table they pass `ExpectationSuite` and then error at every run ("No provider
found for column_values.json_parseable.unexpected_count using SqlAlchemyExecutionEngine").
Which ones is not a list kept here: for each expectation, GX's own validation graph is
built against a SqlAlchemyExecutionEngine (a PostgreSQL dialect, never connected), exactly
as a validation builds it, and a metric without a SQL provider is the answer. Results are
cached per expectation type and shape of kwargs (which kwargs are set, not their values).

The same goes for row conditions: the SQL engine reads only GX's own condition syntax
(`condition_parser: great_expectations`), and says so only when it runs.

Importing this module does not import GX; the first question does.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

# What to write instead, where there is something; shown after the reason.
ALTERNATIVES = {
    "expect_column_values_to_match_strftime_format": (
        "expect_column_values_to_match_regex with the format as a pattern (%Y-%m-%d: "
        "'^\\d{4}-\\d{2}-\\d{2}$'), or a date/timestamp column checked with "
        "expect_column_values_to_be_of_type"
    ),
    "expect_column_values_to_be_dateutil_parseable": (
        "a date/timestamp column checked with expect_column_values_to_be_of_type, or "
        "expect_column_values_to_match_regex"
    ),
    "expect_column_values_to_be_json_parseable": (
        "a jsonb column (expect_column_values_to_be_of_type 'JSONB'), or an "
        "unexpected_rows_expectation: SELECT * FROM {batch} WHERE NOT "
        "pg_input_is_valid(payload, 'jsonb') (PostgreSQL 16+)"
    ),
    "expect_column_values_to_match_json_schema": (
        "an unexpected_rows_expectation with jsonb operators, e.g. SELECT * FROM {batch} "
        "WHERE NOT (payload::jsonb ? 'kind')"
    ),
    "expect_column_values_to_be_increasing": (
        "a table has no row order: an unexpected_rows_expectation that names one, e.g. "
        "SELECT * FROM (SELECT x, lag(x) OVER (ORDER BY id) AS prev FROM {batch}) AS t "
        "WHERE x <= prev"
    ),
    "expect_column_values_to_be_decreasing": (
        "a table has no row order: an unexpected_rows_expectation that names one, e.g. "
        "SELECT * FROM (SELECT x, lag(x) OVER (ORDER BY id) AS prev FROM {batch}) AS t "
        "WHERE x >= prev"
    ),
}


def sql_problems(kind: str, kwargs: dict[str, Any]) -> list[str]:
    """Why GX's SQL engine cannot run expectation `kind` with `kwargs` (empty: it can).
    The expectation must build (see `vigil.quality.expectation_errors`)."""
    problems = condition_problems(kwargs)
    missing = missing_metric(kind, kwargs)
    if missing is not None:
        text = (
            "PostgreSQL cannot run it: GX computes it in pandas or Spark only "
            f"(no SQL provider for its metric {missing})"
        )
        if kind in ALTERNATIVES:
            text += f"; instead: {ALTERNATIVES[kind]}"
        problems.append(text)
    return problems


def sql_parsers() -> tuple[str, ...]:
    """The condition parsers GX's SqlAlchemyExecutionEngine reads (its own constants)."""
    from vigil.quality._gx import gx

    gx()
    from great_expectations.expectations.model_field_types import (
        CONDITION_PARSER_GREAT_EXPECTATIONS,
        CONDITION_PARSER_GREAT_EXPECTATIONS_DEPRECATED,
    )

    return (CONDITION_PARSER_GREAT_EXPECTATIONS, CONDITION_PARSER_GREAT_EXPECTATIONS_DEPRECATED)


def condition_problems(kwargs: dict[str, Any]) -> list[str]:
    """A row_condition the SQL engine cannot read, with the condition it can, if known."""
    condition, parser = kwargs.get("row_condition"), kwargs.get("condition_parser")
    if not isinstance(condition, str) or not condition or parser in sql_parsers():
        return []
    text = (
        f"condition_parser {parser!r} is read by pandas or Spark only, not by GX's SQL "
        "engine; write the condition in GX 1.x's own form (no condition_parser)"
    )
    translated = translate_condition(condition)
    if translated is not None:
        text += f": row_condition {json.dumps(translated)}"
    return [text]


# `name OP literal`, several joined by `and`: what pandas conditions in real suites mostly
# are, and what GX 1.x's own condition objects (comparisons, `and`) say exactly.
_COMPARISON = re.compile(
    r"""^\s*`?([A-Za-z_][A-Za-z0-9_ ]*?)`?\s*(==|!=|>=|<=|>|<)\s*
    ("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|-?\d+(?:\.\d+)?|True|False)\s*$""",
    re.VERBOSE,
)


def translate_condition(condition: str) -> dict[str, Any] | None:
    """A pandas query condition as GX 1.x's JSON condition, or None when it is more than
    comparisons joined by `and`: `Sex=="male"` -> `{"type": "comparison", "column":
    {"name": "Sex"}, "operator": "==", "parameter": "male"}`."""
    parts = re.split(r"\s+(?:and|&)\s+", condition.strip())
    out = []
    for part in parts:
        match = _COMPARISON.match(part)
        if match is None:
            return None
        name, op, literal = match.groups()
        out.append(
            {
                "type": "comparison",
                "column": {"name": name.strip()},
                "operator": op,
                "parameter": _literal(literal),
            }
        )
    return out[0] if len(out) == 1 else {"type": "and", "conditions": out}


def _literal(text: str) -> Any:
    if text in ("True", "False"):
        return text == "True"
    if text.startswith("'"):
        return text[1:-1].replace("\\'", "'")
    return json.loads(text)  # a number, or a double-quoted string


Shape = tuple[str | bool, ...]
_MISSING: dict[tuple[str, Shape], str | None] = {}


def missing_metric(kind: str, kwargs: dict[str, Any]) -> str | None:
    """The metric GX cannot compute in SQL for this expectation, or None (it can).
    Cached per type, kwargs set to None (a default GX may branch on) and whether rows are
    filtered: values (bounds, sets, patterns) change what a metric is asked, not which."""
    nulls: Shape = tuple(sorted(k for k, v in kwargs.items() if v is None))
    key = (kind, (*nulls, "row_condition" in kwargs))
    if key not in _MISSING:
        _MISSING[key] = _first_missing(kind, kwargs)
    return _MISSING[key]


def _first_missing(kind: str, kwargs: dict[str, Any]) -> str | None:
    from vigil.quality._gx import gx

    gx()
    from great_expectations.exceptions.exceptions import MetricProviderError
    from great_expectations.expectations.registry import get_expectation_impl
    from great_expectations.validator.validation_graph import ValidationGraph

    engine = _engine()
    try:
        expectation = get_expectation_impl(kind)(**kwargs)
        needs = expectation.get_validation_dependencies(
            execution_engine=engine,
            runtime_configuration={"result_format": {"result_format": "SUMMARY"}},
        )
        graph = ValidationGraph(execution_engine=engine)
        for metric in needs.metric_configurations.values():
            graph.build_metric_dependency_graph(metric, runtime_configuration={})
    except MetricProviderError as exc:
        found = re.search(r"No provider found for (\S+)", str(exc))
        return found.group(1) if found else str(exc)
    except Exception:  # a graph that needs the data itself (e.g. bins): cannot tell here
        return None
    return None


class _NoConnection(RuntimeError):
    """The lint's engine never connects: a graph that wants data gets this instead."""


def _refuse() -> Any:
    raise _NoConnection("the lint does not connect to databases")


@functools.cache
def _engine() -> Any:
    """A SqlAlchemyExecutionEngine on PostgreSQL's dialect that cannot connect."""
    import sqlalchemy as sa
    from great_expectations.execution_engine.sqlalchemy_execution_engine import (
        SqlAlchemyExecutionEngine,
    )

    engine = sa.create_engine("postgresql+psycopg2://", creator=_refuse)
    return SqlAlchemyExecutionEngine(engine=engine)
