"""Data-quality validation with Great Expectations against a real PostgreSQL: a small shop
schema (quality_fixtures/schema.sql) and its orders suite (quality_fixtures/orders.json).
Clean data passes everything; each planted defect fails exactly the checks it should, with
counts and sample values; the read-only session refuses writes; broken inputs and broken
databases become `error` results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from vigil.context import ConnectionInfo
from vigil.quality.runner import validate_table
from vigil.result import CheckResult, Severity, Status
from vigil.stack.postgres import free_port

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent / "quality_fixtures"
SUITE = FIXTURES / "orders.json"
ROWS = 4000
IDS = [
    "orders.row_count",
    "orders.columns",
    "orders.expect_column_values_to_not_be_null.id",
    "orders.expect_column_values_to_be_unique.id",
    "orders.expect_column_values_to_not_be_null.customer_id",
    "orders.expect_column_values_to_be_in_set.status",
    "orders.expect_column_values_to_be_between.total_amount",
    "orders.expect_column_values_to_be_in_set.currency",
    "orders.orphans",
    "orders.total_matches_items",
]


def sql(dsn: str, statements: str) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statements)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


@pytest.fixture
def shop(fresh_db: str) -> str:
    sql(fresh_db, (FIXTURES / "schema.sql").read_text())
    return fresh_db


def validate(
    dsn: Any, suite: Path = SUITE, table: str = "orders", **kw: Any
) -> dict[str, CheckResult]:
    kw.setdefault("target", "shop-db")
    results = validate_table(dsn, suite, table, **kw)
    for result in results:
        json.dumps(result.to_row())  # every result is storable as it is
    by_id = {r.check_id: r for r in results}
    assert len(by_id) == len(results), "check ids must be unique"
    return by_id


def statuses(results: dict[str, CheckResult]) -> dict[str, str]:
    return {check_id: r.status.value for check_id, r in results.items()}


def test_clean_data_passes_every_expectation(shop: str) -> None:
    results = validate(shop)
    assert list(results) == IDS
    assert set(statuses(results).values()) == {"passed"}, [
        r.message for r in results.values() if r.status is not Status.PASSED
    ]
    for result in results.values():
        assert result.family == "quality" and result.target == "shop-db"
        assert result.details["table"] == "public.orders"
        assert result.details["suite"] == "orders"
    assert results["orders.expect_column_values_to_be_in_set.currency"].severity is Severity.WARNING
    assert results["orders.row_count"].severity is Severity.CRITICAL
    # Passes carry their figures too (history and trends want them).
    assert results["orders.row_count"].observed == {"observed_value": ROWS}
    between = results["orders.expect_column_values_to_be_between.total_amount"]
    assert between.observed["unexpected_count"] == 0
    assert between.observed["element_count"] == ROWS
    assert between.message == "orders.total_amount: all 4,000 rows within [0, 100000]"
    assert between.expected == {"column": "total_amount", "min_value": 0, "max_value": 100000}
    assert results["orders.expect_column_values_to_be_unique.id"].observed["unexpected_count"] == 0
    assert results["orders.orphans"].observed == {"observed_value": 0}


OUT_OF_RANGE = """
UPDATE order_items SET quantity = 1,
       unit_price = CASE id WHEN 5 THEN -5 WHEN 7 THEN 250000 ELSE 0 END
WHERE id BETWEEN 5 AND 8;
UPDATE orders SET total_amount = CASE id WHEN 3 THEN -5 ELSE 250000 END WHERE id IN (3, 4);
"""

ROW_CHECKS = {"orders.orphans", "orders.total_matches_items"}
# defect name -> (SQL planting it, {check id that must fail: (unexpected count, samples)})
DEFECTS: dict[str, tuple[str, dict[str, tuple[int, set[Any]]]]] = {
    "nulls": (
        "UPDATE orders SET customer_id = NULL WHERE id IN (5, 6, 7)",
        {"orders.expect_column_values_to_not_be_null.customer_id": (3, set())},
    ),
    "duplicates": (
        "INSERT INTO orders SELECT * FROM orders WHERE id IN (10, 20)",
        {"orders.expect_column_values_to_be_unique.id": (4, {10, 20})},
    ),
    "out_of_range": (
        OUT_OF_RANGE,
        {"orders.expect_column_values_to_be_between.total_amount": (2, {"-5.00", "250000.00"})},
    ),
    "bad_status": (
        "UPDATE orders SET status = 'refunded' WHERE id IN (30, 31, 32)",
        {"orders.expect_column_values_to_be_in_set.status": (3, {"refunded"})},
    ),
    "orphans": (
        "UPDATE orders SET customer_id = 999999 WHERE id IN (40, 41)",
        {"orders.orphans": (2, {40, 41})},
    ),
    "total_mismatch": (
        "UPDATE orders SET total_amount = total_amount + 1 WHERE id = 50",
        {"orders.total_matches_items": (1, {50})},
    ),
}


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_each_planted_defect_fails_exactly_its_checks(shop: str, defect: str) -> None:
    plant, failing = DEFECTS[defect]
    sql(shop, plant)
    results = validate(shop)
    expected = {i: ("failed" if i in failing else "passed") for i in IDS}
    assert statuses(results) == expected, [r.message for r in results.values()]
    for check_id, (count, samples) in failing.items():
        result = results[check_id]
        assert result.severity is Severity.CRITICAL
        if check_id in ROW_CHECKS:
            assert result.observed["observed_value"] == count
            rows = result.details["unexpected_rows"]
            assert {row["id"] for row in rows} == samples
            assert result.message.startswith(f"orders: {count} unexpected row")
            assert result.details["description"] in result.message
        else:
            assert result.observed["unexpected_count"] == count
            assert f"{count} of " in result.message
            assert set(result.details.get("unexpected_values", [])) - {None} == samples
            for sample in samples:
                assert str(sample) in result.message


def test_out_of_range_message_names_table_column_count_bounds_and_values(shop: str) -> None:
    sql(shop, OUT_OF_RANGE)
    result = validate(shop)["orders.expect_column_values_to_be_between.total_amount"]
    assert result.message.startswith(
        "orders.total_amount: 2 of 4,000 rows (0.05%) outside [0, 100000]; e.g. "
    )
    assert "-5.00" in result.message and "250000.00" in result.message
    assert result.observed["unexpected_percent"] == pytest.approx(0.05)
    assert sorted(result.details["unexpected_values"]) == ["-5.00", "250000.00"]


def test_duplicates_report_every_duplicated_value(shop: str) -> None:
    sql(shop, "INSERT INTO orders SELECT * FROM orders WHERE id IN (10, 20)")
    result = validate(shop)["orders.expect_column_values_to_be_unique.id"]
    assert result.message.startswith("orders.id: 4 of 4,002 rows (0.1%) with duplicated values")
    assert sorted(result.details["unexpected_values"]) == [10, 10, 20, 20]


def test_dropped_column_fails_the_column_set_and_its_checks(shop: str) -> None:
    sql(shop, "ALTER TABLE orders DROP COLUMN currency")
    results = validate(shop)
    currency = "orders.expect_column_values_to_be_in_set.currency"
    expected = {i: "passed" for i in IDS} | {"orders.columns": "failed", currency: "failed"}
    assert statuses(results) == expected
    columns = results["orders.columns"]
    assert columns.details["mismatched"] == {"missing": ["currency"]}
    assert "currency" in columns.message
    # A check of a column that is gone fails (the data changed), it does not error (retry).
    assert results[currency].message == (
        "orders.currency: column currency does not exist in table orders"
    )
    assert results[currency].details["missing_columns"] == ["currency"]


def test_row_filter_validates_only_the_matching_rows(shop: str) -> None:
    # created_at is 2026-01-01 + id minutes: the filter keeps ids 2880..4000.
    sql(shop, "UPDATE orders SET customer_id = NULL WHERE id IN (5, 3000)")
    row_filter = "created_at >= '2026-01-03 00:00:00+00'"
    results = validate(shop, row_filter=row_filter)
    assert results["orders.row_count"].observed == {"observed_value": 1121}
    nulls = results["orders.expect_column_values_to_not_be_null.customer_id"]
    assert nulls.status is Status.FAILED
    assert nulls.observed["unexpected_count"] == 1
    assert nulls.message.startswith("orders.customer_id: 1 of 1,121 rows")
    assert nulls.details["row_filter"] == row_filter
    assert results["orders.orphans"].status is Status.PASSED
    assert results["orders.total_matches_items"].status is Status.PASSED


def test_read_only_session_refuses_writes_from_queries(shop: str) -> None:
    sql(
        shop,
        """
        CREATE TABLE audit (id bigint);
        CREATE SEQUENCE vigil_test_seq;
        CREATE FUNCTION vigil_test_write(bigint) RETURNS boolean LANGUAGE sql VOLATILE
            AS $$ INSERT INTO audit VALUES ($1) RETURNING false $$;
        """,
    )
    results = validate(shop, suite=FIXTURES / "read_only.json")
    assert statuses(results) == {
        "writes.function": "error",
        "writes.sequence": "error",
        "writes.cte": "error",
        "writes.expect_column_values_to_not_be_null.id": "passed",
    }
    for check_id in ("writes.function", "writes.sequence"):
        message = results[check_id].message
        assert "refused by the database" in message and "read-only transaction" in message
    assert "data-modifying" in results["writes.cte"].message
    # Nothing was written: no audit row, the sequence never advanced, no order deleted.
    assert sql(shop, "SELECT count(*) FROM audit") == [(0,)]
    assert sql(shop, "SELECT is_called FROM vigil_test_seq") == [(False,)]
    assert sql(shop, "SELECT count(*) FROM orders") == [(ROWS,)]


def test_missing_table_is_an_error_naming_it(shop: str) -> None:
    results = validate(shop, table="no_such_table")
    assert list(results) == IDS
    for result in results.values():
        assert result.status is Status.ERROR
        assert "table public.no_such_table does not exist" in result.message


def test_database_down_is_an_error_for_every_check() -> None:
    info = ConnectionInfo(
        conn_id="shop_db",
        host="127.0.0.1",
        port=free_port(),
        login="app",
        password="s3cret-pass",
        schema="shop",
    )
    results = validate(info, target=None, connect_timeout_s=2)
    assert list(results) == IDS
    for result in results.values():
        assert result.status is Status.ERROR
        assert result.target == "shop_db"
        assert "cannot connect to PostgreSQL at 127.0.0.1:" in result.message
        assert "s3cret-pass" not in json.dumps(result.to_row())


def test_connection_info_works_like_a_dsn(shop: str, pg: Any) -> None:
    info = ConnectionInfo(
        conn_id="shop_db",
        host="127.0.0.1",
        port=pg.port,
        login="postgres",
        schema=shop.rsplit("/", 1)[1],
    )
    results = validate(info, target=None)
    assert {r.target for r in results.values()} == {"shop_db"}
    assert set(statuses(results).values()) == {"passed"}


def test_bad_suite_json_is_one_error_saying_where(shop: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken_suite.json"
    broken.write_text('{"name": "broken",\n "expectations": [\n  {"type": "x",}\n ]}\n')
    [result] = validate_table(shop, broken, "orders", target="shop-db")
    assert result.status is Status.ERROR
    assert result.check_id == "broken_suite.suite"
    assert f"{broken}:3:" in result.message and "not valid JSON" in result.message


def test_invalid_suite_lists_every_problem(shop: str, tmp_path: Path) -> None:
    suite = tmp_path / "typos.json"
    suite.write_text(
        json.dumps(
            {
                "name": "typos",
                "expectations": [
                    {"type": "expect_column_values_to_be_betwen", "kwargs": {"column": "id"}},
                    {"type": "expect_column_values_to_be_between", "kwargs": {"min_value": 1}},
                ],
            }
        )
    )
    [result] = validate_table(shop, suite, "orders", target="shop-db")
    assert result.status is Status.ERROR
    assert "did you mean 'expect_column_values_to_be_between'?" in result.message
    assert "missing required kwargs: column" in result.message


def test_unparseable_dsn_is_an_error_for_every_check() -> None:
    results = validate("not a dsn")
    assert list(results) == IDS
    assert {r.status for r in results.values()} == {Status.ERROR}
    assert "invalid connection settings" in results["orders.row_count"].message


def test_a_row_filter_with_a_second_statement_is_refused_and_writes_nothing(shop: str) -> None:
    sneaky = "true; COMMIT; BEGIN READ WRITE; DELETE FROM orders WHERE id <= 3; COMMIT; SELECT 1"
    results = validate(shop, row_filter=sneaky)
    assert {r.status for r in results.values()} == {Status.ERROR}
    assert all("without ';'" in r.message for r in results.values())
    assert sql(shop, "SELECT count(*) FROM orders") == [(ROWS,)]
