"""Identifiers reach PostgreSQL exactly as the suite's check spells them (issue 13, §1).

A table `public."Twin"` next to a lower-case `public.twin`, a mixed-case schema `"Sales"`
next to `sales`, and mixed-case columns next to lower-case ones. Each validation runs as a
role that may read only the mixed-case object, so reading its lower-case twin is a
`permission denied` error, not a quiet pass; and the twin's own data would give other
counts. Without the twin, every expectation must run (no `error` results).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from vigil.quality.runner import validate_table
from vigil.result import CheckResult, Status

pytestmark = pytest.mark.integration

# public."Twin": 1,000 rows; v < 0 on ids 1-10; "Name" NULL on ids 1-3, 'bad<id>' on
# 4-7, 'Ok<id>' elsewhere. public.twin: 5 clean rows, same columns.
TWIN = """
CREATE TABLE public."Twin" (id int PRIMARY KEY, v int NOT NULL, "Name" text);
INSERT INTO public."Twin"
SELECT g, CASE WHEN g <= 10 THEN -g ELSE g END,
       CASE WHEN g <= 3 THEN NULL WHEN g <= 7 THEN 'bad' || g ELSE 'Ok' || g END
FROM generate_series(1, 1000) g;
"""
LOWER_TWIN = """
CREATE TABLE public.twin (id int PRIMARY KEY, v int NOT NULL, "Name" text);
INSERT INTO public.twin SELECT g, g, 'Ok' FROM generate_series(1, 5) g;
"""


def sql(dsn: str, statements: str) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statements)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def reader(dsn: str, grants: str) -> str:
    """A DSN for a new login role that may read only what `grants` grants it."""
    role = "r_" + uuid.uuid4().hex[:10]
    sql(dsn, f"CREATE ROLE {role} LOGIN; {grants.format(role=role)}")
    return dsn.replace("postgres@", f"{role}@", 1)


def suite(tmp_path: Path, expectations: list[dict[str, Any]]) -> Path:
    path = tmp_path / f"s_{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps({"name": "ids", "expectations": expectations}))
    return path


def by_id(results: list[CheckResult]) -> dict[str, CheckResult]:
    for result in results:
        json.dumps(result.to_row())
    return {r.check_id: r for r in results}


def expectation(check_id: str, kind: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "meta": {"id": check_id}}


def scans(dsn: str, schema: str, table: str) -> int:
    rows = sql(
        dsn,
        "SELECT pg_stat_clear_snapshot(); "
        "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables "
        f"WHERE schemaname = '{schema}' AND relname = '{table}'",
    )
    return int(rows[0][0]) if rows else 0


ROWS_AND_V = [
    expectation("rows", "expect_table_row_count_to_be_between", min_value=100, max_value=100000),
    expectation("v", "expect_column_values_to_be_between", column="v", min_value=0),
    expectation(
        "neg",
        "unexpected_rows_expectation",
        unexpected_rows_query="SELECT id, v FROM {batch} WHERE v < 0 ORDER BY id",
    ),
]


def test_twin_is_never_read_and_its_clean_rows_never_pass_the_check(
    fresh_db: str, tmp_path: Path
) -> None:
    sql(fresh_db, TWIN + LOWER_TWIN)
    dsn = reader(fresh_db, 'GRANT SELECT ON public."Twin" TO {role}')
    # Building each primary key scans its table once: count from here.
    before, twin_before = scans(fresh_db, "public", "Twin"), scans(fresh_db, "public", "twin")

    results = by_id(validate_table(dsn, suite(tmp_path, ROWS_AND_V), "Twin"))

    assert {k: r.status for k, r in results.items()} == {
        "rows": Status.PASSED,
        "v": Status.FAILED,
        "neg": Status.FAILED,
    }, [r.message for r in results.values()]
    assert results["rows"].observed["observed_value"] == 1000
    v = results["v"]
    assert v.observed["element_count"] == 1000 and v.observed["unexpected_count"] == 10
    assert sorted(v.details["unexpected_values"]) == list(range(-10, 0))
    assert [r["id"] for r in v.details["unexpected_index"]] == list(range(1, 11))
    assert v.message.startswith("Twin.v: 10 of 1,000 rows")
    neg = results["neg"]
    assert neg.observed["observed_value"] == 10
    assert [r["id"] for r in neg.details["unexpected_rows"]] == list(range(1, 11))

    # The statistics collector agrees: "Twin" was scanned, twin never.
    deadline = time.monotonic() + 20
    while scans(fresh_db, "public", "Twin") == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert scans(fresh_db, "public", "Twin") > before
    assert scans(fresh_db, "public", "twin") == twin_before


def test_without_a_twin_every_expectation_runs(fresh_db: str, tmp_path: Path) -> None:
    sql(fresh_db, TWIN)
    dsn = reader(fresh_db, 'GRANT SELECT ON public."Twin" TO {role}')
    checks = [
        *ROWS_AND_V,
        expectation("count", "expect_table_row_count_to_equal", value=1000),
        expectation(
            "cols",
            "expect_table_columns_to_match_ordered_list",
            column_list=["id", "v", "Name"],
        ),
        expectation("exists", "expect_column_to_exist", column="Name"),
        expectation("unique", "expect_column_values_to_be_unique", column="Name"),
        expectation("max", "expect_column_max_to_be_between", column="v", max_value=999),
        expectation("regex", "expect_column_values_to_match_regex", column="Name", regex="^Ok"),
        expectation("nulls", "expect_column_values_to_not_be_null", column="Name"),
    ]

    results = by_id(validate_table(dsn, suite(tmp_path, checks), "Twin"))

    errors = [r.message for r in results.values() if r.status is Status.ERROR]
    assert errors == []
    assert {k: r.status for k, r in results.items()} == {
        "rows": Status.PASSED,
        "v": Status.FAILED,
        "neg": Status.FAILED,
        "count": Status.PASSED,
        "cols": Status.PASSED,
        "exists": Status.PASSED,
        "unique": Status.PASSED,
        "max": Status.FAILED,
        "regex": Status.FAILED,
        "nulls": Status.FAILED,
    }
    assert results["v"].observed["unexpected_count"] == 10
    assert results["max"].observed["observed_value"] == 1000
    assert results["regex"].observed["unexpected_count"] == 4
    assert sorted(results["regex"].details["unexpected_values"]) == ["bad4", "bad5", "bad6", "bad7"]
    assert results["nulls"].observed["unexpected_count"] == 3
    assert [r["id"] for r in results["nulls"].details["unexpected_index"]] == [1, 2, 3]


def test_mixed_case_schema_and_key_are_read_exactly(fresh_db: str, tmp_path: Path) -> None:
    sql(
        fresh_db,
        """
        CREATE SCHEMA "Sales";
        CREATE TABLE "Sales"."Orders" ("OrderId" int PRIMARY KEY, "Amount" numeric NOT NULL);
        INSERT INTO "Sales"."Orders" SELECT g, g - 3 FROM generate_series(1, 200) g;
        CREATE SCHEMA sales;
        CREATE TABLE sales.orders ("OrderId" int PRIMARY KEY, "Amount" numeric NOT NULL);
        INSERT INTO sales.orders SELECT g, g FROM generate_series(1, 5) g;
        """,
    )
    dsn = reader(
        fresh_db,
        'GRANT USAGE ON SCHEMA "Sales" TO {role}; GRANT SELECT ON "Sales"."Orders" TO {role}',
    )
    checks = [
        expectation("rows", "expect_table_row_count_to_equal", value=200),
        expectation("amount", "expect_column_values_to_be_between", column="Amount", min_value=1),
        expectation("key", "expect_column_values_to_be_unique", column="OrderId"),
        expectation(
            "neg",
            "unexpected_rows_expectation",
            unexpected_rows_query='SELECT "OrderId" FROM {batch} WHERE "Amount" < 1',
        ),
    ]

    results = by_id(validate_table(dsn, suite(tmp_path, checks), "Orders", schema="Sales"))

    assert {k: r.status for k, r in results.items()} == {
        "rows": Status.PASSED,
        "amount": Status.FAILED,
        "key": Status.PASSED,
        "neg": Status.FAILED,
    }, [r.message for r in results.values()]
    amount = results["amount"]
    assert amount.observed["unexpected_count"] == 3 and amount.observed["element_count"] == 200
    assert amount.message.startswith("Sales.Orders.Amount: 3 of 200 rows")
    # Evidence names failing rows by the mixed-case primary key.
    assert [r["OrderId"] for r in amount.details["unexpected_index"]] == [1, 2, 3]
    assert sorted(results["neg"].details["unexpected_rows"], key=str) == [
        {"OrderId": 1},
        {"OrderId": 2},
        {"OrderId": 3},
    ]
    assert results["rows"].details["table"] == "Sales.Orders"


def test_mixed_case_column_next_to_its_lower_case_twin(fresh_db: str, tmp_path: Path) -> None:
    """Columns "Name" and name differ only in case: each expectation, and its evidence, reads
    exactly its own column (GX hands PostgreSQL column names to SQLAlchemy as
    case-insensitive strings; SQLAlchemy's quoting and statement caches then mixed them up)."""
    sql(
        fresh_db,
        """
        CREATE TABLE public."People" (id int PRIMARY KEY, "Name" text, name text);
        INSERT INTO public."People"
        SELECT g,
               CASE WHEN g <= 3 THEN NULL WHEN g <= 7 THEN 'bad' || g ELSE 'Ok' || g END,
               CASE WHEN g = 50 THEN NULL WHEN g > 48 THEN 'lower' || g ELSE 'Ok' END
        FROM generate_series(1, 50) g;
        """,
    )
    dsn = reader(fresh_db, 'GRANT SELECT ON public."People" TO {role}')
    checks = [
        expectation("lower.nulls", "expect_column_values_to_not_be_null", column="name"),
        expectation(
            "lower.regex", "expect_column_values_to_match_regex", column="name", regex="^Ok"
        ),
        expectation("Name.nulls", "expect_column_values_to_not_be_null", column="Name"),
        expectation(
            "Name.regex", "expect_column_values_to_match_regex", column="Name", regex="^Ok"
        ),
    ]

    results = by_id(validate_table(dsn, suite(tmp_path, checks), "People"))

    assert all(r.status is Status.FAILED for r in results.values()), [
        r.message for r in results.values()
    ]
    assert results["Name.nulls"].observed["unexpected_count"] == 3
    assert [r["id"] for r in results["Name.nulls"].details["unexpected_index"]] == [1, 2, 3]
    assert results["Name.nulls"].details["unexpected_values"] == [None, None, None]
    assert results["Name.regex"].observed["unexpected_count"] == 4
    assert sorted(results["Name.regex"].details["unexpected_values"]) == [
        "bad4",
        "bad5",
        "bad6",
        "bad7",
    ]
    assert results["lower.nulls"].observed["unexpected_count"] == 1
    assert [r["id"] for r in results["lower.nulls"].details["unexpected_index"]] == [50]
    assert results["lower.regex"].observed["unexpected_count"] == 1
    assert results["lower.regex"].details["unexpected_values"] == ["lower49"]


def test_row_filter_and_batch_queries_on_the_mixed_case_table(
    fresh_db: str, tmp_path: Path
) -> None:
    sql(fresh_db, TWIN + LOWER_TWIN)
    dsn = reader(fresh_db, 'GRANT SELECT ON public."Twin" TO {role}')
    checks = [
        expectation("count", "expect_table_row_count_to_equal", value=995),
        expectation("v", "expect_column_values_to_be_between", column="v", min_value=0),
        expectation("nulls", "expect_column_values_to_not_be_null", column="Name"),
        expectation("regex", "expect_column_values_to_match_regex", column="Name", regex="^Ok"),
        expectation(
            "neg",
            "unexpected_rows_expectation",
            unexpected_rows_query='SELECT id, "Name" FROM {batch} WHERE v < 0 ORDER BY id',
        ),
        expectation(
            "joined",
            "unexpected_rows_expectation",
            unexpected_rows_query=(
                'SELECT b.id FROM {batch} AS b JOIN public."Twin" t ON t.id = b.id + 1 '
                "WHERE t.v < 0 ORDER BY b.id"
            ),
        ),
    ]

    results = by_id(
        validate_table(
            dsn, suite(tmp_path, checks), "Twin", row_filter='id > 5 AND "Name" IS NOT NULL'
        )
    )

    assert {k: r.status for k, r in results.items()} == {
        "count": Status.PASSED,
        "v": Status.FAILED,
        "nulls": Status.PASSED,
        "regex": Status.FAILED,
        "neg": Status.FAILED,
        "joined": Status.FAILED,
    }, [r.message for r in results.values()]
    assert results["count"].observed["observed_value"] == 995
    assert results["v"].observed["unexpected_count"] == 5
    assert sorted(results["v"].details["unexpected_values"]) == [-10, -9, -8, -7, -6]
    assert sorted(results["regex"].details["unexpected_values"]) == ["bad6", "bad7"]
    assert results["neg"].details["unexpected_rows"] == [
        {"id": 6, "Name": "bad6"},
        {"id": 7, "Name": "bad7"},
        {"id": 8, "Name": "Ok8"},
        {"id": 9, "Name": "Ok9"},
        {"id": 10, "Name": "Ok10"},
    ]
    # b.id + 1 negative: ids 6-9 of the filtered batch (id 10's successor is positive).
    assert [r["id"] for r in results["joined"].details["unexpected_rows"]] == [6, 7, 8, 9]
