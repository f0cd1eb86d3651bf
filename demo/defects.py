"""Plant and remove data defects for the data-quality checks to find.

`corrupt` plants every defect below in one transaction and records, per defect, what
`restore` needs to undo it exactly (demo_admin.defects). Both run with
session_replication_role = replica: foreign-key and user triggers stay quiet, which is how
orphans can exist at all and why restored rows keep their original updated_at.
Needs a superuser connection (the demo database's owner is one in `make demo` and tests).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import psycopg2
from psycopg2.extensions import cursor as Cursor

from demo.db import DemoDbError, connect

ORPHANED_ORDERS = [1010, 2030, 3050]  # cancelled seed orders without payments, 3 lines each
NULL_COUNTRY_CUSTOMERS = [100, 400, 900, 1300, 1700, 2300, 2900]
DUPLICATED_PAYMENTS = [101, 202, 303, 404]
OUT_OF_RANGE_PRODUCTS = [7, 77, 777]
OUT_OF_RANGE_PRICE = "1000000.00"  # application range: 0.01 .. 10000.00
MISMATCHED_ORDER = 4201
LOYALTY_CHECK = "CHECK (loyalty_tier IN ('standard', 'silver', 'gold'))"

# name -> (what it is, SQL counting the defective rows: 0 when clean).
DEFECTS: dict[str, tuple[str, str]] = {
    "orphan_order_items": (
        f"order_items of orders {ORPHANED_ORDERS}, deleted behind the foreign key's back",
        "SELECT count(*) FROM order_items i LEFT JOIN orders o ON o.id = i.order_id"
        " WHERE o.id IS NULL",
    ),
    "null_country": (
        "customers.country NULL (allowed by the schema, required by the application)",
        "SELECT count(*) FROM customers WHERE country IS NULL",
    ),
    "duplicate_payments": (
        f"second copies of payments {DUPLICATED_PAYMENTS} (same order, same provider_ref)",
        "SELECT count(*) - count(DISTINCT provider_ref) FROM payments",
    ),
    "price_out_of_range": (
        f"products {OUT_OF_RANGE_PRODUCTS} priced {OUT_OF_RANGE_PRICE} (range 0.01-10000)",
        "SELECT count(*) FROM products WHERE price NOT BETWEEN 0.01 AND 10000",
    ),
    "total_mismatch": (
        f"order {MISMATCHED_ORDER}: total 100.00 above the sum of its items",
        "SELECT count(*) FROM orders o JOIN (SELECT order_id, sum(quantity * unit_price) AS s"
        " FROM order_items GROUP BY order_id) i ON i.order_id = o.id WHERE o.total <> i.s",
    ),
    "dropped_column": (
        "customers.loyalty_tier dropped",
        "SELECT 1 - count(*) FROM information_schema.columns WHERE table_schema = 'public'"
        " AND table_name = 'customers' AND column_name = 'loyalty_tier'",
    ),
}
EXPECTED_COUNTS = {
    "orphan_order_items": 9,
    "null_country": 7,
    "duplicate_payments": 4,
    "price_out_of_range": 3,
    "total_mismatch": 1,
    "dropped_column": 1,
}


def _one(cur: Cursor, sql: str, *args: Any) -> Any:
    cur.execute(sql, args)
    row = cur.fetchone()
    return row[0] if row else None


def _plant_orphans(cur: Cursor) -> Any:
    undo = _one(
        cur,
        "SELECT coalesce(jsonb_agg(to_jsonb(o) ORDER BY o.id), '[]') FROM orders o"
        " WHERE o.id = ANY(%s)",
        ORPHANED_ORDERS,
    )
    cur.execute("DELETE FROM orders WHERE id = ANY(%s)", (ORPHANED_ORDERS,))
    return undo


def _undo_orphans(cur: Cursor, undo: Any) -> None:
    cur.execute(
        "INSERT INTO orders SELECT * FROM jsonb_populate_recordset(NULL::orders, %s)",
        (json.dumps(undo),),
    )


def _column_map(cur: Cursor, table: str, column: str, ids: list[int] | None) -> Any:
    where = "WHERE id = ANY(%s)" if ids is not None else ""
    return _one(
        cur,
        f"SELECT coalesce(jsonb_object_agg(id, {column}), '{{}}') FROM {table} " + where,
        *([ids] if ids is not None else []),
    )


def _restore_column(cur: Cursor, table: str, column: str, cast: str, undo: Any) -> None:
    cur.execute(
        f"UPDATE {table} t SET {column} = u.value::{cast} FROM jsonb_each_text(%s) u"
        f" WHERE t.id = u.key::bigint AND t.{column} IS DISTINCT FROM u.value::{cast}",
        (json.dumps(undo),),
    )


def _plant_nulls(cur: Cursor) -> Any:
    undo = _column_map(cur, "customers", "country", NULL_COUNTRY_CUSTOMERS)
    cur.execute("UPDATE customers SET country = NULL WHERE id = ANY(%s)", (NULL_COUNTRY_CUSTOMERS,))
    return undo


def _plant_duplicates(cur: Cursor) -> Any:
    seq = _one(cur, "SELECT pg_get_serial_sequence('payments', 'id')")
    cur.execute(f"SELECT last_value, is_called FROM {seq}")
    last_value, is_called = cur.fetchone() or (1, False)
    cur.execute(
        "INSERT INTO payments (order_id, amount, currency, status, provider_ref,"
        " created_at, updated_at) SELECT order_id, amount, currency, status, provider_ref,"
        " created_at, updated_at FROM payments WHERE id = ANY(%s) ORDER BY id RETURNING id",
        (DUPLICATED_PAYMENTS,),
    )
    return {"ids": [r[0] for r in cur.fetchall()], "seq": [last_value, is_called]}


def _undo_duplicates(cur: Cursor, undo: Any) -> None:
    cur.execute("DELETE FROM payments WHERE id = ANY(%s)", (undo["ids"],))
    seq = _one(cur, "SELECT pg_get_serial_sequence('payments', 'id')")
    # Rewind the id sequence only if nothing else drew from it since the plant.
    if undo["ids"] and _one(cur, f"SELECT last_value FROM {seq}") == max(undo["ids"]):
        cur.execute("SELECT setval(%s, %s, %s)", (seq, *undo["seq"]))


def _plant_prices(cur: Cursor) -> Any:
    undo = _column_map(cur, "products", "price", OUT_OF_RANGE_PRODUCTS)
    cur.execute(
        "UPDATE products SET price = %s WHERE id = ANY(%s)",
        (OUT_OF_RANGE_PRICE, OUT_OF_RANGE_PRODUCTS),
    )
    return undo


def _plant_mismatch(cur: Cursor) -> Any:
    undo = _column_map(cur, "orders", "total", [MISMATCHED_ORDER])
    cur.execute("UPDATE orders SET total = total + 100 WHERE id = %s", (MISMATCHED_ORDER,))
    return undo


def _plant_dropped_column(cur: Cursor) -> Any:
    undo = _column_map(cur, "customers", "loyalty_tier", None)
    cur.execute("ALTER TABLE customers DROP COLUMN loyalty_tier")
    return undo


def _undo_dropped_column(cur: Cursor, undo: Any) -> None:
    # customers.loyalty_tier is the table's last column, so re-adding it restores the order.
    cur.execute(
        "ALTER TABLE customers ADD COLUMN loyalty_tier text NOT NULL DEFAULT 'standard'"
        f" CONSTRAINT customers_loyalty_tier_check {LOYALTY_CHECK}"
    )
    _restore_column(cur, "customers", "loyalty_tier", "text", undo)


Plant = Callable[[Cursor], Any]
Undo = Callable[[Cursor, Any], None]
ACTIONS: dict[str, tuple[Plant, Undo]] = {
    "orphan_order_items": (_plant_orphans, _undo_orphans),
    "null_country": (
        _plant_nulls,
        lambda cur, u: _restore_column(cur, "customers", "country", "char(2)", u),
    ),
    "duplicate_payments": (_plant_duplicates, _undo_duplicates),
    "price_out_of_range": (
        _plant_prices,
        lambda cur, u: _restore_column(cur, "products", "price", "numeric", u),
    ),
    "total_mismatch": (
        _plant_mismatch,
        lambda cur, u: _restore_column(cur, "orders", "total", "numeric", u),
    ),
    "dropped_column": (_plant_dropped_column, _undo_dropped_column),
}


def planted(dsn: str) -> list[str]:
    conn = connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT name FROM demo_admin.defects ORDER BY name")
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def _replica_transaction(dsn: str, work: Callable[[Cursor], list[str]]) -> list[str]:
    conn = connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            try:
                cur.execute("SET LOCAL session_replication_role = replica")
            except psycopg2.errors.InsufficientPrivilege as exc:
                raise DemoDbError(
                    "planting or removing defects needs a superuser "
                    f"connection (session_replication_role): {exc}"
                ) from exc
            cur.execute("LOCK TABLE demo_admin.defects IN EXCLUSIVE MODE")
            return work(cur)
    finally:
        conn.close()


def corrupt(dsn: str) -> list[str]:
    """Plant every defect; returns their names, or [] if they are planted already."""

    def work(cur: Cursor) -> list[str]:
        if _one(cur, "SELECT count(*) FROM demo_admin.defects"):
            return []
        for name, (plant, _) in ACTIONS.items():
            cur.execute(
                "INSERT INTO demo_admin.defects (name, undo) VALUES (%s, %s)",
                (name, json.dumps(plant(cur))),
            )
        return list(ACTIONS)

    return _replica_transaction(dsn, work)


def restore(dsn: str) -> list[str]:
    """Undo every planted defect, newest first; returns the names undone ([] if none)."""

    def work(cur: Cursor) -> list[str]:
        cur.execute("SELECT name, undo FROM demo_admin.defects")
        found = dict(cur.fetchall())
        undone = []
        for name in reversed(ACTIONS):
            if name in found:
                ACTIONS[name][1](cur, found[name])
                undone.append(name)
        cur.execute("DELETE FROM demo_admin.defects")
        return undone

    return _replica_transaction(dsn, work)


def detect(dsn: str) -> dict[str, int]:
    """How many defective rows each DEFECTS query finds now (all 0 on the seed)."""
    conn = connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            return {name: int(_one(cur, sql)) for name, (_, sql) in DEFECTS.items()}
    finally:
        conn.close()
