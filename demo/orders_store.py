"""The orders tables as orders-api and the worker read and change them (asyncpg)."""

from __future__ import annotations

from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A connection of its own, or one borrowed from a pool (`async with pool.acquire()`).
Conn = asyncpg.Connection | PoolConnectionProxy

ORDER_COLUMNS = """o.id, o.status, o.customer_id, o.total, o.currency, o.idempotency_key,
    o.cancel_reason, o.created_at, o.updated_at, o.shipped_at, o.cancelled_at"""
OPEN_STATUSES = ("pending", "reserved", "paid")


async def fetch_order(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: int | None, order_id: int
) -> dict[str, Any] | None:
    """One order of this tenant with its items and payments, or None.

    tenant_id None: of any tenant. Only the tenant-leak fault asks for that; every real
    lookup names the caller's tenant.
    """
    if tenant_id is None:
        row = await conn.fetchrow(f"SELECT {ORDER_COLUMNS} FROM orders o WHERE o.id = $1", order_id)
    else:
        row = await conn.fetchrow(
            f"SELECT {ORDER_COLUMNS} FROM orders o WHERE o.id = $1 AND o.tenant_id = $2",
            order_id,
            tenant_id,
        )
    if row is None:
        return None
    items = await conn.fetch(
        "SELECT p.sku, i.product_id, i.quantity, i.unit_price FROM order_items i"
        " JOIN products p ON p.id = i.product_id WHERE i.order_id = $1 ORDER BY i.id",
        order_id,
    )
    payments = await conn.fetch(
        "SELECT id, amount, currency, status, provider_ref, created_at FROM payments"
        " WHERE order_id = $1 ORDER BY id",
        order_id,
    )
    return {**dict(row), "items": [dict(i) for i in items], "payments": [dict(p) for p in payments]}


async def list_orders(
    pool: asyncpg.Pool, tenant_id: int, status: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"SELECT {ORDER_COLUMNS} FROM orders o WHERE o.tenant_id = $1"
        " AND ($2::text IS NULL OR o.status = $2) ORDER BY o.id DESC LIMIT $3 OFFSET $4",
        tenant_id,
        status,
        limit,
        offset,
    )
    return [dict(r) for r in rows]


async def find_by_key(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: int, key: str
) -> int | None:
    found = await conn.fetchval(
        "SELECT id FROM orders WHERE tenant_id = $1 AND idempotency_key = $2", tenant_id, key
    )
    return int(found) if found is not None else None


async def products_for(conn: Conn, tenant_id: int, skus: list[str]) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT id, sku, price, active FROM products WHERE tenant_id = $1 AND sku = ANY($2)",
        tenant_id,
        skus,
    )
    return {r["sku"]: r for r in rows}


async def customer_exists(conn: Conn, tenant_id: int, customer_id: int) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM customers WHERE tenant_id = $1 AND id = $2)",
            tenant_id,
            customer_id,
        )
    )


async def insert_order(
    conn: Conn,
    tenant_id: int,
    customer_id: int,
    lines: list[tuple[int, int, Any]],
    currency: str,
    key: str | None,
    order_id: int | None = None,
) -> int:
    """Insert a pending order and its lines (product_id, quantity, unit_price).

    The id comes from the orders id sequence, unless `order_id` names one (the
    duplicate-ids fault's allocator, racy_next_order_id, does).
    """
    total = sum(qty * price for _, qty, price in lines)
    values = [tenant_id, customer_id, total, currency, key]
    columns, placeholders = "", ""
    if order_id is not None:
        columns, placeholders = ", id", ", $6"
        values.append(order_id)
    new_id: int = await conn.fetchval(
        "INSERT INTO orders (tenant_id, customer_id, status, total, currency, idempotency_key"
        f"{columns}) VALUES ($1, $2, 'pending', $3, $4, $5{placeholders}) RETURNING id",
        *values,
    )
    await conn.executemany(
        "INSERT INTO order_items (order_id, product_id, quantity, unit_price)"
        " VALUES ($1, $2, $3, $4)",
        [(new_id, pid, qty, price) for pid, qty, price in lines],
    )
    return new_id


async def racy_next_order_id(conn: Conn) -> int:
    """The duplicate-ids fault's allocator: max(id) + 1, read without any lock, so two
    concurrent callers can get the same number (the caller waits before inserting with it).

    It also draws one value from the orders id sequence, so the sequence always stays at
    or past every number handed out here: normal inserts (nextval) never run into an id
    this allocator gave away, without a setval that could move the sequence backwards
    under concurrency. The drawn value is discarded, a gap like a rolled-back insert's.
    """
    racy: int = await conn.fetchval("SELECT coalesce(max(id), 0) + 1 FROM orders")
    # The sequence is at or past max(id) (seed setval, then only nextval and this), so
    # racy <= last_value + 1 and one nextval reaches it.
    await conn.fetchval("SELECT nextval(pg_get_serial_sequence('orders', 'id'))")
    return racy


async def items_by_sku(conn: Conn, order_id: int) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT p.sku, i.quantity FROM order_items i JOIN products p ON p.id = i.product_id"
        " WHERE i.order_id = $1",
        order_id,
    )
    return {r["sku"]: r["quantity"] for r in rows}


async def set_status(conn: Conn, order_id: int, status: str, reason: str | None = None) -> None:
    await conn.execute(
        "UPDATE orders SET status = $2, cancel_reason = $3,"
        " shipped_at = CASE WHEN $2 = 'shipped' THEN now() END,"
        " cancelled_at = CASE WHEN $2 = 'cancelled' THEN now() END WHERE id = $1",
        order_id,
        status,
        reason,
    )


async def add_payment(conn: Conn, order_id: int) -> None:
    await conn.execute(
        "INSERT INTO payments (order_id, amount, currency, status, provider_ref)"
        " SELECT id, total, currency, 'captured',"
        " 'pay_' || substr(md5('demo-payment-' || id || '-' || clock_timestamp()), 1, 16)"
        " FROM orders WHERE id = $1 AND total > 0",
        order_id,
    )


async def refund(conn: Conn, order_id: int) -> None:
    await conn.execute(
        "UPDATE payments SET status = 'refunded' WHERE order_id = $1 AND status = 'captured'",
        order_id,
    )


async def lock_open_order(
    conn: Conn, order_id: int, tenant_id: int | None = None
) -> asyncpg.Record | None:
    """Lock an order row for a state change (the worker skips rows others hold)."""
    skip = "SKIP LOCKED" if tenant_id is None else ""
    return await conn.fetchrow(
        "SELECT o.id, o.tenant_id, o.status, o.created_at, t.slug FROM orders o"
        " JOIN tenants t ON t.id = o.tenant_id WHERE o.id = $1"
        f" AND ($2::int IS NULL OR o.tenant_id = $2) FOR UPDATE OF o {skip}",
        order_id,
        tenant_id,
    )
