"""The pieces around GX, without a database: pass planning, merging the two passes into
one result, driver-error cleaning, read-only connection settings, and lazy GX import."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from vigil.context import ConnectionInfo
from vigil.quality import build
from vigil.quality.connection import database
from vigil.quality.gx_run import Outcome, clean_error
from vigil.quality.plan import (
    ROW_COUNT,
    ROW_SAMPLE,
    UNIQUE,
    UNIQUE_PROPORTION,
    plan,
)
from vigil.quality.preflight import missing_columns
from vigil.quality.suites import Check
from vigil.result import Severity, Status

pytestmark = pytest.mark.unit

WHERE = build.Where(
    target="db",
    suite="s",
    schema="public",
    table="orders",
    row_filter=None,
    started_at=datetime(2026, 1, 1, tzinfo=UTC),
    duration_ms=1.0,
)


def check(kind: str, **kwargs: Any) -> Check:
    return Check(
        index=0, check_id=f"s.{kind}", type=kind, kwargs=kwargs, severity=Severity.CRITICAL
    )


def test_unique_runs_as_a_distinct_proportion_first_and_is_decided_by_evidence() -> None:
    item = plan(
        check(
            UNIQUE,
            column="id",
            row_condition='status=="paid"',
            condition_parser="great_expectations",
        ),
        is_map=True,
    )
    assert item.cheap.type == UNIQUE_PROPORTION
    assert item.cheap.kwargs == {
        "column": "id",
        "min_value": 1.0,
        "row_condition": 'status=="paid"',
        "condition_parser": "great_expectations",
    }
    assert item.evidence is not None and item.evidence.type == UNIQUE
    assert item.cheap_decides is False


def test_unique_with_mostly_is_not_substituted() -> None:
    item = plan(check(UNIQUE, column="id", mostly=0.99), is_map=True)
    assert item.cheap.type == UNIQUE and item.cheap_decides


def test_unexpected_rows_count_first_then_sample_twenty_rows() -> None:
    item = plan(
        check(
            "unexpected_rows_expectation",
            unexpected_rows_query="SELECT * FROM {batch} WHERE x < 0;\n",
        ),
        is_map=False,
    )
    assert item.cheap.type == ROW_COUNT and item.cheap_decides
    assert item.evidence is not None and item.evidence.type == ROW_SAMPLE
    assert item.evidence.kwargs["unexpected_rows_query"] == (
        "SELECT * FROM (SELECT * FROM {batch} WHERE x < 0) AS vigil_sample LIMIT 20"
    )


def test_aggregates_need_no_evidence_pass() -> None:
    item = plan(check("expect_table_row_count_to_be_between", min_value=1), is_map=False)
    assert item.evidence is None and item.cheap_decides


def test_a_cheap_pass_alone_decides_a_pass() -> None:
    item = plan(check("expect_column_values_to_not_be_null", column="a"), is_map=True)
    cheap = Outcome(True, {"element_count": 10, "unexpected_count": 0})
    result = build.from_outcomes(item, WHERE, cheap, None)
    assert result.status is Status.PASSED
    assert result.message == "orders.a: all 10 rows not NULL"
    assert result.observed == {"element_count": 10, "unexpected_count": 0}


def test_unique_filter_failing_but_evidence_passing_is_a_pass() -> None:
    # An all-NULL column has no distinct proportion, yet nothing is duplicated.
    item = plan(check(UNIQUE, column="a"), is_map=True)
    cheap = Outcome(False, {"observed_value": None})
    evidence = Outcome(True, {"element_count": 5, "unexpected_count": 0})
    assert build.from_outcomes(item, WHERE, cheap, evidence).status is Status.PASSED


def test_unique_passing_on_the_filter_reports_zero_duplicates() -> None:
    item = plan(check(UNIQUE, column="a"), is_map=True)
    result = build.from_outcomes(item, WHERE, Outcome(True, {"observed_value": 1.0}), None)
    assert result.observed == {"unexpected_count": 0, "unique_proportion": 1.0}
    assert result.message == "orders.a: unique"


def test_evidence_failure_keeps_the_cheap_verdict_or_is_an_error() -> None:
    decided = plan(check("expect_column_values_to_not_be_null", column="a"), is_map=True)
    cheap = Outcome(False, {"element_count": 10, "unexpected_count": 2})
    broken = Outcome(False, error="timed out")
    result = build.from_outcomes(decided, WHERE, cheap, broken)
    assert result.status is Status.FAILED and result.details["evidence_error"] == "timed out"
    undecided = plan(check(UNIQUE, column="a"), is_map=True)
    result = build.from_outcomes(undecided, WHERE, Outcome(False, {"observed_value": 0.9}), broken)
    assert result.status is Status.ERROR and "timed out" in result.message


def test_unexpected_rows_merge_count_from_cheap_and_rows_from_evidence() -> None:
    item = plan(
        check("unexpected_rows_expectation", unexpected_rows_query="SELECT * FROM {batch}"),
        is_map=False,
    )
    rows = [{"id": i} for i in range(20)]
    evidence = Outcome(False, {"observed_value": 20, "details": {"unexpected_rows": rows}})
    result = build.from_outcomes(item, WHERE, Outcome(False, {"observed_value": 1234}), evidence)
    assert result.observed == {"observed_value": 1234}
    assert result.message.startswith("orders: 1,234 unexpected rows; e.g. (id=0); (id=1)")
    assert len(result.details["unexpected_rows"]) == 20


def test_errors_in_the_cheap_pass_are_errors() -> None:
    item = plan(check("expect_column_values_to_not_be_null", column="a"), is_map=True)
    result = build.from_outcomes(item, WHERE, Outcome(False, error="boom"), None)
    assert result.status is Status.ERROR
    assert result.message == "orders.a: expect_column_values_to_not_be_null could not run: boom"


def test_driver_errors_are_cleaned_and_read_only_refusals_explained() -> None:
    raw = (
        "(psycopg2.errors.ReadOnlySqlTransaction) cannot execute INSERT in a read-only "
        "transaction\n\n[SQL: SELECT 1]\n(Background on this error at: https://sqlalche.me/e/x)"
    )
    assert clean_error(raw) == (
        "refused by the database: the query tried to write, and validation runs in "
        "read-only transactions (cannot execute INSERT in a read-only transaction)"
    )
    assert clean_error('Error: The column "x" in BatchData does not exist.') == (
        'The column "x" in BatchData does not exist.'
    )
    assert clean_error(
        "(psycopg2.errors.QueryCanceled) canceling statement due to statement timeout"
    ).startswith("timed out: ")


def test_jsonable_keeps_exact_decimals_and_times() -> None:
    from decimal import Decimal

    value = {"a": Decimal("1.10"), "b": datetime(2026, 1, 1, tzinfo=UTC), "c": float("nan")}
    assert build.jsonable(value) == {"a": "1.10", "b": "2026-01-01T00:00:00+00:00", "c": None}


def test_sessions_are_read_only_with_a_statement_timeout() -> None:
    db = database(
        "postgresql://app:p%40ss@db.example:6543/shop?options=-c%20work_mem%3D8MB",
        statement_timeout_s=30,
    )
    kwargs = db.libpq_kwargs()
    assert kwargs["options"] == (
        "-c work_mem=8MB -c default_transaction_read_only=on -c statement_timeout=30000"
    )
    url = urlsplit(db.sqlalchemy_url())
    assert url.scheme == "postgresql+psycopg2" and url.hostname == "db.example"
    assert url.port == 6543 and url.password == "p%40ss"
    query = parse_qs(url.query)
    assert query["options"] == [kwargs["options"]]
    assert query["application_name"] == ["vigil-quality"]
    assert db.describe() == "db.example:6543/shop"
    assert db.mask("password p@ss leaked") == "password *** leaked"
    assert db.mask("DSN password=p%40ss") == "DSN password=***"


def test_socket_hosts_travel_as_a_query_parameter() -> None:
    info = ConnectionInfo(conn_id="c", host="/run/postgresql", port=5433, schema="shop")
    db = database(info)
    assert db.uses_socket
    query = parse_qs(urlsplit(db.sqlalchemy_url()).query)
    assert query["host"] == ["/run/postgresql"] and query["port"] == ["5433"]


def test_importing_vigil_quality_does_not_import_great_expectations() -> None:
    code = (
        "import sys, vigil.quality, vigil.quality.runner, vigil.quality.suites, "
        "vigil.quality.plan, vigil.quality.build, vigil.quality.schema_drift; "
        "assert 'great_expectations' not in sys.modules, 'GX imported'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_a_check_of_a_missing_column_fails_naming_it() -> None:
    result = build.missing_columns(
        check("expect_column_values_to_be_in_set", column="tier"), WHERE, ["tier"]
    )
    assert result.status is Status.FAILED
    assert result.message == "orders.tier: column tier does not exist in table orders"
    assert result.details["missing_columns"] == ["tier"]
    pair = check("expect_column_pair_values_to_be_equal", column_A="a", column_B="b")
    assert build.missing_columns(pair, WHERE, ["a", "b"]).message == (
        "orders.a,b: columns a, b do not exist in table orders"
    )


def test_missing_columns_skips_table_level_expectations() -> None:
    columns = ["id", "name"]
    assert missing_columns(check("expect_column_values_to_be_unique", column="tier"), columns) == [
        "tier"
    ]
    listed = check("expect_compound_columns_to_be_unique", column_list=["id", "tier"])
    assert missing_columns(listed, columns) == ["tier"]
    ordered = check("expect_table_columns_to_match_ordered_list", column_list=["id", "tier"])
    assert missing_columns(ordered, columns) == []  # GX judges which columns exist
    assert missing_columns(check("expect_column_to_exist", column="tier"), columns) == []
    assert missing_columns(check("expect_column_values_to_be_unique", column="tier"), []) == []
    # A table-level check is placed at the table, not at the columns it lists.
    assert WHERE.of(ordered) == "orders"
