"""What GX's SQL engine cannot run, as GX's own validation graph says (issue 13, §3): the
expectations whose metrics have no SqlAlchemyExecutionEngine provider, and row conditions
in pandas syntax. The integration test `test_quality_real_suites` checks each answer
against a real PostgreSQL run."""

from __future__ import annotations

from typing import Any

import pytest

from vigil.quality.runnable import condition_problems, sql_problems, translate_condition

pytestmark = pytest.mark.unit

# Expectation -> kwargs, for those GX 1.24 computes in pandas/Spark only.
NOT_ON_SQL: dict[str, dict[str, Any]] = {
    "expect_column_values_to_match_strftime_format": {"column": "d", "strftime_format": "%Y"},
    "expect_column_values_to_be_dateutil_parseable": {"column": "d"},
    "expect_column_values_to_be_json_parseable": {"column": "j"},
    "expect_column_values_to_match_json_schema": {"column": "j", "json_schema": {}},
    "expect_column_values_to_be_increasing": {"column": "n"},
    "expect_column_values_to_be_decreasing": {"column": "n", "strictly": True},
}
# Runnable on SQL, including two a hand list reading metric names would get wrong: GX runs
# the type expectations on SQL through the table's column types, not a row-by-row metric.
ON_SQL: dict[str, dict[str, Any]] = {
    "expect_column_values_to_be_of_type": {"column": "a", "type_": "INTEGER"},
    "expect_column_values_to_be_in_type_list": {"column": "a", "type_list": ["INTEGER"]},
    "expect_column_values_to_not_be_null": {"column": "a"},
    "expect_column_values_to_be_unique": {"column": "a"},
    "expect_column_values_to_match_regex": {"column": "d", "regex": "^2"},
    "expect_column_kl_divergence_to_be_less_than": {
        "column": "a",
        "partition_object": {"values": [1, 2], "weights": [0.5, 0.5]},
        "threshold": 0.1,
    },
    "expect_column_quantile_values_to_be_between": {
        "column": "a",
        "quantile_ranges": {"quantiles": [0.5], "value_ranges": [[1, 2]]},
    },
    "expect_column_distinct_values_to_be_in_set": {"column": "a", "value_set": [1]},
    "expect_select_column_values_to_be_unique_within_record": {"column_list": ["a", "b"]},
    "expect_column_pair_values_to_be_in_set": {
        "column_A": "a",
        "column_B": "b",
        "value_pairs_set": [[1, 2]],
    },
    "unexpected_rows_expectation": {"unexpected_rows_query": "SELECT * FROM {batch}"},
}


@pytest.mark.parametrize("kind", sorted(NOT_ON_SQL))
def test_expectations_without_a_sql_provider_are_named(kind: str) -> None:
    problems = sql_problems(kind, NOT_ON_SQL[kind])
    assert len(problems) == 1
    assert problems[0].startswith("PostgreSQL cannot run it: GX computes it in pandas")
    assert "no SQL provider for its metric column_values." in problems[0]
    assert "; instead: " in problems[0]  # each of these has an alternative


@pytest.mark.parametrize("kind", sorted(ON_SQL))
def test_expectations_gx_runs_in_sql_pass(kind: str) -> None:
    assert sql_problems(kind, ON_SQL[kind]) == []


def test_pandas_conditions_are_refused_with_the_condition_gx_reads() -> None:
    kwargs = {"column": "a", "row_condition": 'status == "shipped"', "condition_parser": "pandas"}
    (problem,) = sql_problems("expect_column_values_to_not_be_null", kwargs)
    assert problem.startswith("condition_parser 'pandas' is read by pandas or Spark only")
    assert problem.endswith(
        ': row_condition {"type": "comparison", "column": {"name": "status"}, '
        '"operator": "==", "parameter": "shipped"}'
    )
    for parser in ("great_expectations", "great_expectations__experimental__"):
        assert condition_problems({"row_condition": 'col("a")>1', "condition_parser": parser}) == []
    assert condition_problems({"row_condition": translate_condition("a > 1")}) == []
    spark = condition_problems({"row_condition": "a.isin([1])", "condition_parser": "spark"})
    assert len(spark) == 1 and "row_condition {" not in spark[0]  # nothing to suggest


def test_simple_pandas_conditions_translate_and_others_do_not() -> None:
    assert translate_condition("Age > 60 and Sex == 'male'") == {
        "type": "and",
        "conditions": [
            {"type": "comparison", "column": {"name": "Age"}, "operator": ">", "parameter": 60},
            {
                "type": "comparison",
                "column": {"name": "Sex"},
                "operator": "==",
                "parameter": "male",
            },
        ],
    }
    assert translate_condition("flag != True")["parameter"] is True  # type: ignore[index]
    assert translate_condition("a.isin([1, 2])") is None
    assert translate_condition("a > 1 or b < 2") is None
