"""The demo database: install/reset, the schema's constraints, corrupt and restore."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

import psycopg2
import psycopg2.errors
import pytest

from demo import db, defects, faults
from vigil.stack.postgres import LocalPostgres

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo_db(pg: LocalPostgres) -> str:
    """One installed database for the module: tests roll back or undo what they change."""
    name = "demo_db_" + uuid.uuid4().hex[:8]
    pg.create_database(name)
    assert db.install(pg.dsn(name)) is True
    return pg.dsn(name)


@pytest.fixture
def cur(demo_db: str) -> Iterator[psycopg2.extensions.cursor]:
    conn = psycopg2.connect(demo_db)
    try:
        with conn.cursor() as cursor:
            yield cursor
    finally:
        conn.rollback()
        conn.close()


def scalar(cur: psycopg2.extensions.cursor, sql: str, *args: object) -> object:
    cur.execute(sql, args)
    row = cur.fetchone()
    assert row is not None
    return row[0]


def test_install_is_idempotent_and_seeds_the_documented_counts(demo_db: str) -> None:
    seeded = db.checksums(demo_db)
    assert db.install(demo_db) is False
    assert db.checksums(demo_db) == seeded
    assert {table: count for table, (count, _) in seeded.items()} == db.SEED_COUNTS


def test_reset_rebuilds_the_identical_seed(demo_db: str, fresh_db: str) -> None:
    seeded = db.checksums(demo_db)
    db.install(fresh_db)
    assert db.checksums(fresh_db) == seeded  # deterministic: same rows in any database
    conn = db.connect(fresh_db, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("DELETE FROM payments WHERE id < 10")
        cur.execute("UPDATE demo_admin.faults SET enabled = true")
    conn.close()
    assert db.checksums(fresh_db) != seeded
    db.reset(fresh_db)
    assert db.checksums(fresh_db) == seeded
    assert not any(f["enabled"] for f in faults.get_faults(fresh_db).values())


def test_seed_is_consistent(cur: psycopg2.extensions.cursor) -> None:
    assert defects.detect(cur.connection.dsn) == dict.fromkeys(defects.DEFECTS, 0)
    open_orders = "SELECT count(*) FROM orders WHERE status NOT IN ('shipped', 'cancelled')"
    assert scalar(cur, open_orders) == 0
    assert (
        scalar(
            cur,
            "SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id"
            " WHERE c.tenant_id <> o.tenant_id",
        )
        == 0
    )
    assert scalar(cur, "SELECT count(DISTINCT sku) FROM products") == 400


def test_every_foreign_key_has_an_index(cur: psycopg2.extensions.cursor) -> None:
    cur.execute("""
        SELECT c.conrelid::regclass::text, c.conname FROM pg_constraint c
        WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
          AND NOT EXISTS (
              SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid
                AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] = c.conkey)""")
    assert cur.fetchall() == []
    assert (
        scalar(
            cur,
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f'"
            " AND connamespace = 'public'::regnamespace",
        )
        == 8
    )


def test_updated_at_trigger(cur: psycopg2.extensions.cursor) -> None:
    before = scalar(cur, "SELECT updated_at FROM tenants WHERE id = 1")
    cur.execute("UPDATE tenants SET name = 'Acme Renamed' WHERE id = 1")
    after = scalar(cur, "SELECT updated_at FROM tenants WHERE id = 1")
    assert isinstance(before, datetime) and isinstance(after, datetime)
    assert after > before


@pytest.mark.parametrize(
    ("sql", "error", "constraint"),
    [
        (
            "UPDATE orders SET status = 'lost', shipped_at = NULL WHERE id = 1",
            psycopg2.errors.CheckViolation,
            "orders_status_check",
        ),
        (
            "UPDATE products SET sku = 'SKU-0002' WHERE id = 1",
            psycopg2.errors.UniqueViolation,
            "products_tenant_id_sku_key",
        ),
        (
            "UPDATE inventory SET quantity_reserved = quantity_on_hand + 1 WHERE product_id = 1",
            psycopg2.errors.CheckViolation,
            "inventory_reserved_check",
        ),
        (
            "UPDATE orders SET shipped_at = NULL WHERE id = 1",
            psycopg2.errors.CheckViolation,
            "orders_shipped_at_check",
        ),
        # customer 2 belongs to globex: an acme order cannot name it.
        (
            "UPDATE orders SET customer_id = 2 WHERE id = 1",
            psycopg2.errors.ForeignKeyViolation,
            "orders_tenant_id_customer_id_fkey",
        ),
        # RESTRICT: sold products, customers with orders, paid orders, tenants with orders stay.
        (
            "DELETE FROM products WHERE id = 571",
            psycopg2.errors.ForeignKeyViolation,
            "order_items_product_id_fkey",
        ),
        (
            "DELETE FROM customers WHERE id = 186",
            psycopg2.errors.ForeignKeyViolation,
            "orders_tenant_id_customer_id_fkey",
        ),
        (
            "DELETE FROM orders WHERE id = 1",
            psycopg2.errors.ForeignKeyViolation,
            "payments_order_id_fkey",
        ),
        (
            "DELETE FROM tenants WHERE id = 1",
            psycopg2.errors.ForeignKeyViolation,
            "orders_tenant_id_fkey",
        ),
    ],
)
def test_constraints_refuse_bad_changes(
    cur: psycopg2.extensions.cursor, sql: str, error: type[psycopg2.Error], constraint: str
) -> None:
    cur.execute("SAVEPOINT s")
    with pytest.raises(error) as raised:
        cur.execute(sql)
    assert raised.value.diag.constraint_name == constraint
    cur.execute("ROLLBACK TO SAVEPOINT s")


def test_deletes_cascade_where_the_schema_says(cur: psycopg2.extensions.cursor) -> None:
    assert scalar(cur, "SELECT count(*) FROM order_items WHERE order_id = 10") == 3
    cur.execute("DELETE FROM orders WHERE id = 10")  # cancelled before payment
    assert scalar(cur, "SELECT count(*) FROM order_items WHERE order_id = 10") == 0
    # A tenant without orders goes with its customers, products and their stock.
    cur.execute("INSERT INTO tenants (id, slug, name) VALUES (99, 'trial', 'Trial')")
    cur.execute("INSERT INTO customers (tenant_id, email, name) VALUES (99, 'a@b.c', 'A')")
    cur.execute(
        "INSERT INTO products (id, tenant_id, sku, name, price)"
        " VALUES (9999, 99, 'SKU-0001', 'P', 1)"
    )
    cur.execute("INSERT INTO inventory (product_id, quantity_on_hand) VALUES (9999, 5)")
    cur.execute("DELETE FROM tenants WHERE id = 99")
    assert scalar(cur, "SELECT count(*) FROM customers WHERE tenant_id = 99") == 0
    assert scalar(cur, "SELECT count(*) FROM inventory WHERE product_id = 9999") == 0


def test_corrupt_plants_each_defect_and_restore_returns_to_the_seed(demo_db: str) -> None:
    seeded = db.checksums(demo_db)
    assert faults.corrupt(demo_db) == list(defects.DEFECTS)
    assert faults.corrupt(demo_db) == []  # already planted: no-op
    conn = psycopg2.connect(demo_db)
    with conn, conn.cursor() as cur:
        assert (
            scalar(
                cur,
                "SELECT count(*) FROM order_items i WHERE NOT EXISTS"
                " (SELECT 1 FROM orders o WHERE o.id = i.order_id)",
            )
            == 9
        )
        assert scalar(cur, "SELECT count(*) FROM customers WHERE country IS NULL") == 7
        cur.execute("SELECT provider_ref FROM payments GROUP BY 1 HAVING count(*) > 1")
        assert len(cur.fetchall()) == 4
        assert scalar(cur, "SELECT count(*) FROM products WHERE price > 10000") == 3
        assert (
            scalar(
                cur,
                "SELECT o.total - sum(i.quantity * i.unit_price) FROM orders o"
                " JOIN order_items i ON i.order_id = o.id WHERE o.id = 4201"
                " GROUP BY o.total",
            )
            == 100
        )
        assert (
            scalar(
                cur,
                "SELECT count(*) FROM information_schema.columns WHERE"
                " table_name = 'customers' AND column_name = 'loyalty_tier'",
            )
            == 0
        )
    conn.close()
    assert defects.detect(demo_db) == defects.EXPECTED_COUNTS
    assert "defects: " + ", ".join(sorted(defects.DEFECTS)) in faults.status(demo_db)

    assert sorted(faults.restore(demo_db)) == sorted(defects.DEFECTS)
    assert faults.restore(demo_db) == []
    assert db.checksums(demo_db) == seeded
    assert defects.detect(demo_db) == dict.fromkeys(defects.DEFECTS, 0)
    assert "defects: none" in faults.status(demo_db)
