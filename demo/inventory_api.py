"""inventory-api: a tenant's products and stock, and stock reservations for orders.

Reservations move `quantity_reserved` (reserve, release) and, when an order ships,
`quantity_on_hand` (fulfil); all three lock the stock rows they touch.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from demo import web as shared
from demo.orders_store import Conn
from demo.web import POOL, ApiError, json_response, paging, read_json, tenant_of

SERVICE = "inventory-api"
STOCK_COLUMNS = """p.sku, p.name, p.price, p.active, i.quantity_on_hand AS on_hand,
    i.quantity_reserved AS reserved, i.quantity_on_hand - i.quantity_reserved AS available"""


async def health(request: web.Request) -> web.Response:
    faults = await request.app[shared.FAULTS].get(request.app[POOL])
    down = "fault inventory-down is on" if faults["inventory-down"].enabled else None
    database = await shared.check_database(request.app[POOL])
    return shared.health_response(SERVICE, {"database": database}, down=down)


async def list_products(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    limit, offset = paging(request)
    pool = request.app[POOL]
    rows = await pool.fetch(
        f"SELECT {STOCK_COLUMNS} FROM products p JOIN inventory i ON i.product_id = p.id"
        " WHERE p.tenant_id = $1 ORDER BY p.sku LIMIT $2 OFFSET $3",
        tenant.id,
        limit,
        offset,
    )
    total = await pool.fetchval("SELECT count(*) FROM products WHERE tenant_id = $1", tenant.id)
    return json_response(
        {"items": [dict(r) for r in rows], "total": total, "limit": limit, "offset": offset}
    )


async def get_stock(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    sku = request.match_info["sku"]
    row = await request.app[POOL].fetchrow(
        f"SELECT {STOCK_COLUMNS} FROM products p JOIN inventory i ON i.product_id = p.id"
        " WHERE p.tenant_id = $1 AND p.sku = $2",
        tenant.id,
        sku,
    )
    if row is None:
        raise ApiError(404, f"no product with sku {sku!r}")
    return json_response(dict(row))


def parse_items(body: dict[str, Any]) -> tuple[int, dict[str, int]]:
    """`{"order_id": int, "items": [{"sku", "quantity"}]}` -> (order_id, sku -> quantity)."""
    order_id, items = body.get("order_id"), body.get("items")
    if not isinstance(order_id, int) or not isinstance(items, list) or not 1 <= len(items) <= 50:
        raise ApiError(
            422,
            'expected {"order_id": int, "items": [{"sku": str, "quantity": int}]} with 1..50 items',
        )
    wanted: dict[str, int] = {}
    for n, item in enumerate(items):
        sku = item.get("sku") if isinstance(item, dict) else None
        qty = item.get("quantity") if isinstance(item, dict) else None
        if not isinstance(sku, str) or not isinstance(qty, int) or isinstance(qty, bool) or qty < 1:
            raise ApiError(422, f"items[{n}]: expected sku (string) and quantity (integer >= 1)")
        wanted[sku] = wanted.get(sku, 0) + qty
    return order_id, wanted


async def _lock_stock(conn: Conn, tenant_id: int, wanted: dict[str, int]) -> list[asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT p.id, p.sku, p.active, i.quantity_on_hand, i.quantity_reserved"
        " FROM products p JOIN inventory i ON i.product_id = p.id"
        " WHERE p.tenant_id = $1 AND p.sku = ANY($2::text[]) ORDER BY p.id FOR UPDATE OF i",
        tenant_id,
        list(wanted),
    )
    missing = sorted(set(wanted) - {r["sku"] for r in rows})
    if missing:
        raise ApiError(404, f"unknown sku: {', '.join(missing)}", skus=missing)
    return list(rows)


def _check_available(rows: list[asyncpg.Record], wanted: dict[str, int]) -> None:
    short = [
        r["sku"]
        for r in rows
        if not r["active"] or r["quantity_on_hand"] - r["quantity_reserved"] < wanted[r["sku"]]
    ]
    if short:
        raise ApiError(409, f"insufficient stock for {', '.join(short)}", skus=short)


# A standing replenishment order: a product shipped below RESTOCK_BELOW units gets
# RESTOCK_UNITS more. Without it a demo left running (or run by every test) would sell out,
# and its scenarios, which create orders every run, would fail for want of stock.
RESTOCK_BELOW = 20
RESTOCK_UNITS = 500
# One statement per action; $1 product ids, $2 quantities (same order).
ACTIONS = {
    "reserve": "quantity_reserved = quantity_reserved + r.qty",
    "release": "quantity_reserved = greatest(quantity_reserved - r.qty, 0)",
    "fulfil": "quantity_on_hand = greatest(quantity_on_hand - r.qty, 0)"
    f" + CASE WHEN quantity_on_hand - r.qty < {RESTOCK_BELOW} THEN {RESTOCK_UNITS} ELSE 0 END,"
    " quantity_reserved = greatest(quantity_reserved - r.qty, 0)",
}


async def _apply(request: web.Request, action: str) -> web.Response:
    tenant = tenant_of(request)
    order_id, wanted = parse_items(await read_json(request))
    async with request.app[POOL].acquire() as conn, conn.transaction():
        rows = await _lock_stock(conn, tenant.id, wanted)
        if action == "reserve":
            _check_available(rows, wanted)
        updated = await conn.fetch(
            f"UPDATE inventory i SET {ACTIONS[action]}"
            " FROM unnest($1::bigint[], $2::int[]) AS r(product_id, qty)"
            " WHERE i.product_id = r.product_id RETURNING i.product_id,"
            " i.quantity_on_hand AS on_hand, i.quantity_reserved AS reserved",
            [r["id"] for r in rows],
            [wanted[r["sku"]] for r in rows],
        )
    sku_of = {r["id"]: r["sku"] for r in rows}
    items = [
        {
            "sku": sku_of[u["product_id"]],
            "quantity": wanted[sku_of[u["product_id"]]],
            "on_hand": u["on_hand"],
            "reserved": u["reserved"],
            "available": u["on_hand"] - u["reserved"],
        }
        for u in updated
    ]
    return json_response(
        {"order_id": order_id, "action": action, "items": items},
        status=201 if action == "reserve" else 200,
    )


async def reserve(request: web.Request) -> web.Response:
    return await _apply(request, "reserve")


async def release(request: web.Request) -> web.Response:
    return await _apply(request, "release")


async def fulfil(request: web.Request) -> web.Response:
    return await _apply(request, "fulfil")


def create_app(dsn: str) -> web.Application:
    app = shared.base_app(SERVICE, dsn)
    app.router.add_get("/health", health)
    app.router.add_get("/v1/products", list_products)
    app.router.add_get("/v1/inventory/{sku}", get_stock)
    app.router.add_post("/v1/reservations", reserve)
    app.router.add_post("/v1/reservations/release", release)
    app.router.add_post("/v1/reservations/fulfil", fulfil)
    return app
