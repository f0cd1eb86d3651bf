"""Schema drift against a real PostgreSQL: snapshot the shop schema, change it, and see
each change reported as one failed result naming the object."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg2
import pytest

from vigil.quality.schema_drift import (
    check_drift,
    compare,
    dump_snapshot,
    load_snapshot,
    snapshot,
)
from vigil.result import Status
from vigil.stack.postgres import free_port

pytestmark = pytest.mark.integration

SCHEMA_SQL = Path(__file__).parent / "quality_fixtures" / "schema.sql"


def run_sql(dsn: str, statements: str) -> None:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statements)
    finally:
        conn.close()


@pytest.fixture
def shop(fresh_db: str) -> str:
    run_sql(fresh_db, SCHEMA_SQL.read_text())
    return fresh_db


def test_snapshot_reads_tables_columns_indexes_and_constraints(shop: str) -> None:
    snap = snapshot(shop)
    tables = snap["schemas"]["public"]["tables"]
    assert sorted(tables) == ["customers", "order_items", "orders"]
    orders = tables["orders"]
    assert orders["kind"] == "table"
    assert list(orders["columns"]) == [
        "id",
        "customer_id",
        "status",
        "total_amount",
        "currency",
        "created_at",
    ]
    assert orders["columns"]["total_amount"] == {
        "type": "numeric(12,2)",
        "nullable": True,
        "default": None,
    }
    assert orders["columns"]["status"] == {
        "type": "text",
        "nullable": False,
        "default": "'new'::text",
    }
    assert sorted(orders["indexes"]) == ["orders_customer_idx", "orders_id_idx"]
    assert "USING btree (customer_id)" in orders["indexes"]["orders_customer_idx"]["definition"]
    assert orders["constraints"]["orders_status_not_empty"]["type"] == "check"
    assert tables["customers"]["constraints"]["customers_pkey"] == {
        "type": "primary key",
        "definition": "PRIMARY KEY (id)",
    }


def test_unchanged_database_is_one_passed_result(shop: str) -> None:
    snap = snapshot(shop)
    [result] = compare(snap, snapshot(shop), target="shop-db")
    assert result.status is Status.PASSED
    assert result.check_id == "schema_drift"
    assert result.observed == {
        "schemas": 1,
        "tables": 3,
        "columns": 13,
        "indexes": 5,
        "constraints": 5,
    }
    assert result.message.startswith("no schema drift in ")


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_snapshot_round_trips_through_a_file(shop: str, tmp_path: Path, suffix: str) -> None:
    snap = snapshot(shop)
    path = tmp_path / f"expected{suffix}"
    dump_snapshot(snap, path)
    assert load_snapshot(path) == snap
    [result] = check_drift(shop, path, target="shop-db")
    assert result.status is Status.PASSED, result.message


def test_each_change_is_one_failed_result_naming_it(shop: str, tmp_path: Path) -> None:
    expected = tmp_path / "expected.json"
    dump_snapshot(snapshot(shop), expected)
    run_sql(
        shop,
        """
        ALTER TABLE orders ADD COLUMN discount numeric(5, 2);
        ALTER TABLE orders DROP COLUMN currency;
        ALTER TABLE order_items ALTER COLUMN quantity TYPE bigint;
        DROP INDEX orders_customer_idx;
        """,
    )
    results = {r.check_id: r for r in check_drift(shop, expected, target="shop-db")}
    assert {k: (r.status.value, r.details["change"]) for k, r in results.items()} == {
        "schema_drift.public.orders.column.discount": ("failed", "added"),
        "schema_drift.public.orders.column.currency": ("failed", "removed"),
        "schema_drift.public.order_items.column.quantity": ("failed", "changed"),
        "schema_drift.public.orders.index.orders_customer_idx": ("failed", "removed"),
    }
    assert results["schema_drift.public.orders.column.discount"].message == (
        "orders: column discount added (numeric(5,2))"
    )
    assert results["schema_drift.public.orders.column.currency"].message == (
        "orders: column currency removed (was character(3) NOT NULL DEFAULT 'EUR'::bpchar)"
    )
    quantity = results["schema_drift.public.order_items.column.quantity"]
    assert quantity.message == 'order_items: column quantity changed: type "integer" → "bigint"'
    assert quantity.expected["type"] == "integer" and quantity.observed["type"] == "bigint"
    index = results["schema_drift.public.orders.index.orders_customer_idx"]
    assert index.message.startswith("orders: index orders_customer_idx removed (was CREATE INDEX")
    for result in results.values():
        assert result.target == "shop-db" and result.family == "quality"
        json.dumps(result.to_row())


def test_dropped_and_added_tables_are_one_result_each(shop: str) -> None:
    before = snapshot(shop)
    run_sql(shop, "DROP TABLE order_items; CREATE TABLE refunds (id bigint, amount numeric)")
    results = {r.check_id: r.message for r in compare(before, snapshot(shop))}
    assert results == {
        "schema_drift.public.order_items": "table order_items removed",
        "schema_drift.public.refunds": "table refunds added (id, amount)",
    }


def test_other_schemas_are_snapshotted_when_asked(shop: str) -> None:
    run_sql(shop, "CREATE SCHEMA billing; CREATE VIEW billing.totals AS SELECT 1 AS one")
    snap = snapshot(shop, schemas=["public", "billing", "absent"])
    assert sorted(snap["schemas"]) == ["billing", "public"]
    assert snap["schemas"]["billing"]["tables"]["totals"]["kind"] == "view"
    run_sql(shop, "DROP SCHEMA billing CASCADE")
    [result] = compare(snap, snapshot(shop, schemas=["public", "billing"]))
    assert result.check_id == "schema_drift.billing"
    assert result.message == "schema billing removed (had 1 tables)"


def test_unreachable_database_or_unreadable_snapshot_is_an_error(shop: str, tmp_path: Path) -> None:
    down = f"postgresql://postgres:hunter2hunter2@127.0.0.1:{free_port()}/shop"
    [result] = check_drift(down, snapshot(shop), target="shop-db")
    assert result.status is Status.ERROR
    assert "could not run" in result.message and "hunter2hunter2" not in result.message
    missing = tmp_path / "missing.yaml"
    [result] = check_drift(shop, missing, target="shop-db")
    assert result.status is Status.ERROR
    assert f"{missing}: cannot read schema snapshot" in result.message
