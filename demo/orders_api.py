"""orders-api: a tenant's customers and orders; reserves stock at inventory-api.

POST /v1/orders creates a pending order, reserves its stock at inventory-api and answers
with the order `reserved`. When inventory-api cannot answer the order stays `pending`
and the worker retries the reservation; the worker then takes it to paid and shipped.

Two fault switches act here (besides the shared ones in demo/web.py):

tenant-leak: GET /v1/orders/{id} looks the order up by id alone, so any tenant's token
reads any tenant's order. Only that lookup: listing, cancelling and creating still filter
by tenant, as a forgotten WHERE clause in one query would leave them.

duplicate-ids: POST /v1/orders numbers the new order itself, the way a hand-rolled
allocator would: max(id) + 1, read, then a short wait (RACE_WINDOW_SECONDS, standing in
for other work), then the insert with that explicit id. Creates one after another each
get the next number. Concurrent ones read the same max and all try to insert the same
id; the primary key admits the first, and each later one (a savepoint catches its unique
violation on orders_pkey) is inserted under a fresh id from the sequence, but the handler
keeps answering with the number it allocated. What a client sees: two or more
concurrent creates each answer 201 with their own order (items, customer, total, status)
under the SAME "id"; GET /v1/orders/{that id} returns the one order stored under it (the
race's winner), and the others exist under ids no client was told (GET /v1/orders lists
them). The database stays consistent: every order is one row with its items, foreign keys
hold, and the id sequence is kept at or past every number handed out
(orders_store.racy_next_order_id), so creates after the fault is switched off never
collide.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from demo import config, orders_feed
from demo import orders_store as store
from demo import web as shared
from demo.inventory_client import InventoryClient, InventoryRejected, InventoryUnavailable
from demo.web import (
    POOL,
    ApiError,
    Tenant,
    faults_of,
    json_response,
    mark_applied,
    paging,
    read_json,
    tenant_of,
)

log = logging.getLogger(__name__)
SERVICE = "orders-api"
INVENTORY = web.AppKey("inventory", InventoryClient)
STATUSES = ("pending", "reserved", "paid", "shipped", "cancelled")
CURRENCIES = ("EUR", "USD", "GBP")
ORDERS_PKEY = "orders_pkey"


@dataclass(frozen=True)
class Placed:
    """The order a create inserted (`id`) and the id its answer reports (`reported`):
    the same, except when the duplicate-ids fault's allocator lost a race."""

    id: int
    reported: int


async def health(request: web.Request) -> web.Response:
    database = await shared.check_database(request.app[POOL])
    inventory = await request.app[INVENTORY].health()
    return shared.health_response(SERVICE, {"database": database, "inventory-api": inventory})


async def list_customers(request: web.Request) -> web.Response:
    limit, offset = paging(request)
    rows = await request.app[POOL].fetch(
        "SELECT id, email, name, country, created_at FROM customers WHERE tenant_id = $1"
        " ORDER BY id LIMIT $2 OFFSET $3",
        tenant_of(request).id,
        limit,
        offset,
    )
    return json_response({"items": [dict(r) for r in rows], "limit": limit, "offset": offset})


async def list_orders(request: web.Request) -> web.Response:
    limit, offset = paging(request)
    status = request.query.get("status")
    if status is not None and status not in STATUSES:
        raise ApiError(400, f"status must be one of {', '.join(STATUSES)}")
    items = await store.list_orders(request.app[POOL], tenant_of(request).id, status, limit, offset)
    return json_response({"items": items, "limit": limit, "offset": offset})


def _order_id(request: web.Request) -> int:
    try:
        return int(request.match_info["order_id"])
    except ValueError as exc:
        raise ApiError(404, f"no order {request.match_info['order_id']!r}") from exc


async def _order_response(
    pool: asyncpg.Pool,
    tenant: Tenant | None,
    order_id: int,
    status: int = 200,
    headers: dict[str, str] | None = None,
    reported_id: int | None = None,
) -> web.Response:
    """The order as JSON; tenant None: of any tenant (tenant-leak). `reported_id`: the
    id to answer with instead of the order's own (duplicate-ids)."""
    order = await store.fetch_order(pool, tenant.id if tenant else None, order_id)
    if order is None:
        raise ApiError(404, f"no order {order_id}")
    if reported_id is not None:
        order["id"] = reported_id
    return json_response(order, status=status, headers=headers)


async def get_order(request: web.Request) -> web.Response:
    tenant: Tenant | None = tenant_of(request)
    if faults_of(request)[config.TENANT_LEAK].enabled:
        mark_applied(request, config.TENANT_LEAK)
        tenant = None  # the fault: this lookup forgets the caller's tenant
    return await _order_response(request.app[POOL], tenant, _order_id(request))


def parse_order(body: dict[str, Any]) -> tuple[int, dict[str, int], str]:
    """-> (customer_id, sku -> quantity, currency), or a 422 naming the bad field."""
    customer_id, items = body.get("customer_id"), body.get("items")
    currency = body.get("currency", "EUR")
    if not isinstance(customer_id, int) or isinstance(customer_id, bool):
        raise ApiError(422, "customer_id: expected an integer")
    if currency not in CURRENCIES:
        raise ApiError(422, f"currency: expected one of {', '.join(CURRENCIES)}")
    if not isinstance(items, list) or not 1 <= len(items) <= 50:
        raise ApiError(422, "items: expected a list of 1..50 {sku, quantity} objects")
    wanted: dict[str, int] = {}
    for n, item in enumerate(items):
        sku = item.get("sku") if isinstance(item, dict) else None
        qty = item.get("quantity") if isinstance(item, dict) else None
        if not isinstance(sku, str) or type(qty) is not int or not 1 <= qty <= 1000:
            raise ApiError(422, f"items[{n}]: expected sku (string), quantity (1..1000)")
        wanted[sku] = wanted.get(sku, 0) + qty
    return customer_id, wanted, currency


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key.strip()) <= 200:
        raise ApiError(400, "Idempotency-Key must be 1..200 characters")
    return key.strip()


async def create_order(request: web.Request) -> web.Response:
    tenant, pool = tenant_of(request), request.app[POOL]
    key = _idempotency_key(request)
    customer_id, wanted, currency = parse_order(await read_json(request))
    replay = {"Idempotent-Replayed": "true"}
    if key and (existing := await store.find_by_key(pool, tenant.id, key)) is not None:
        return await _order_response(pool, tenant, existing, 200, replay)
    racy = faults_of(request)[config.DUPLICATE_IDS].enabled
    if racy:
        mark_applied(request, config.DUPLICATE_IDS)
    try:
        placed = await _place(request, tenant, customer_id, wanted, currency, key, racy)
    except asyncpg.UniqueViolationError:
        # A concurrent request with the same key committed first: answer with its order.
        existing = await store.find_by_key(pool, tenant.id, key) if key else None
        if existing is None:
            raise
        return await _order_response(pool, tenant, existing, 200, replay)
    return await _order_response(pool, tenant, placed.id, 201, reported_id=placed.reported)


async def _place(
    request: web.Request,
    tenant: Tenant,
    customer_id: int,
    wanted: dict[str, int],
    currency: str,
    key: str | None,
    racy: bool = False,
) -> Placed:
    async with request.app[POOL].acquire() as conn, conn.transaction():
        if not await store.customer_exists(conn, tenant.id, customer_id):
            raise ApiError(422, f"customer_id: no customer {customer_id} in this tenant")
        products = await store.products_for(conn, tenant.id, list(wanted))
        unknown = sorted(s for s in wanted if s not in products or not products[s]["active"])
        if unknown:
            raise ApiError(422, f"items: unknown or inactive sku {', '.join(unknown)}")
        lines = [(products[s]["id"], qty, products[s]["price"]) for s, qty in wanted.items()]
        if racy:
            placed = await _insert_racy(conn, tenant, customer_id, lines, currency, key)
        else:
            order_id = await store.insert_order(conn, tenant.id, customer_id, lines, currency, key)
            placed = Placed(order_id, order_id)
        order_id = placed.id
        try:
            await request.app[INVENTORY].reserve(config.tenant_token(tenant.slug), order_id, wanted)
        except InventoryRejected as exc:
            raise ApiError(409 if exc.status == 409 else 422, f"stock not reserved: {exc}") from exc
        except InventoryUnavailable as exc:
            log.warning("order %s stays pending: %s", order_id, exc)
            return placed
        await store.set_status(conn, order_id, "reserved")
        return placed


async def _insert_racy(
    conn: store.Conn,
    tenant: Tenant,
    customer_id: int,
    lines: list[tuple[int, int, Any]],
    currency: str,
    key: str | None,
) -> Placed:
    """insert_order under the duplicate-ids fault (see the module docstring)."""
    allocated = await store.racy_next_order_id(conn)
    await asyncio.sleep(config.RACE_WINDOW_SECONDS)  # the window concurrent creates share
    try:
        # A savepoint: a lost race must not abort the whole create.
        async with conn.transaction():
            order_id = await store.insert_order(
                conn, tenant.id, customer_id, lines, currency, key, order_id=allocated
            )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name != ORDERS_PKEY:
            raise  # the idempotency key: create_order answers with the other order
        order_id = await store.insert_order(conn, tenant.id, customer_id, lines, currency, key)
        log.warning("duplicate-ids: id %s taken, order %s answered as it", allocated, order_id)
    return Placed(order_id, allocated)


async def cancel_order(request: web.Request) -> web.Response:
    tenant, order_id, pool = tenant_of(request), _order_id(request), request.app[POOL]
    async with pool.acquire() as conn, conn.transaction():
        row = await store.lock_open_order(conn, order_id, tenant.id)
        if row is None:
            raise ApiError(404, f"no order {order_id}")
        if row["status"] == "shipped":
            raise ApiError(409, f"order {order_id} has shipped and can no longer be cancelled")
        if row["status"] != "cancelled":
            await _undo_order(request, conn, tenant, order_id, row["status"])
            await store.set_status(conn, order_id, "cancelled", "customer_request")
    return await _order_response(pool, tenant, order_id)


async def _undo_order(
    request: web.Request, conn: store.Conn, tenant: Tenant, order_id: int, status: str
) -> None:
    if status in ("reserved", "paid"):
        items = await store.items_by_sku(conn, order_id)
        try:
            await request.app[INVENTORY].release(config.tenant_token(tenant.slug), order_id, items)
        except InventoryUnavailable as exc:
            raise ApiError(503, f"cannot release the stock, try again: {exc}") from exc
    if status == "paid":
        await store.refund(conn, order_id)


def create_app(dsn: str, inventory_url: str) -> web.Application:
    app = shared.base_app(SERVICE, dsn)

    async def client_ctx(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            app[INVENTORY] = InventoryClient(inventory_url, session)
            yield

    app.cleanup_ctx.append(client_ctx)
    app.cleanup_ctx.append(orders_feed.hub_context(dsn))
    app.router.add_get("/health", health)
    app.router.add_get("/v1/customers", list_customers)
    app.router.add_get("/v1/orders", list_orders)
    app.router.add_post("/v1/orders", create_order)
    app.router.add_get("/v1/orders/feed", orders_feed.feed)
    app.router.add_get("/v1/orders/{order_id}", get_order)
    app.router.add_post("/v1/orders/{order_id}/cancel", cancel_order)
    return app
