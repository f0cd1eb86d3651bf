"""The order worker: every tick, moves each open order one step along its lifecycle.

    pending  -> reserved   stock reserved at inventory-api (retried while it is down;
                           cancelled as out_of_stock if refused, or after a timeout)
    reserved -> paid       a captured payment row
    paid     -> shipped    stock taken out of inventory at inventory-api

Each step runs in its own transaction holding the order's row lock, so a concurrent
cancel through orders-api either waits for the step or wins before it.

While the `stuck` fault is on, a tick reads that switch and stops there: the worker stays
alive and keeps counting ticks (so it looks healthy from outside), but no order moves, as
with a consumer wedged on something. Switched off, the next tick advances orders again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
from pathlib import Path

import aiohttp
import asyncpg

from demo import config
from demo import orders_store as store
from demo.fault_state import is_enabled
from demo.inventory_client import InventoryClient, InventoryRejected, InventoryUnavailable

log = logging.getLogger(__name__)
BATCH = 100  # orders looked at per tick: bounds the work of one tick


class Worker:
    def __init__(self, pool: asyncpg.Pool, inventory: InventoryClient) -> None:
        self.pool = pool
        self.inventory = inventory
        self.stuck = False  # as the last tick found the fault: log changes, not every tick

    async def tick(self) -> int:
        """Advance every open order (up to BATCH) by one step; returns how many moved.

        Reads the stuck switch first, every tick: one indexed single-row read, cheap next
        to the orders query, and a switch takes effect on the next tick (no cache).
        """
        stuck = await is_enabled(self.pool, config.STUCK)
        if stuck != self.stuck:
            log.warning("fault stuck %s", "on: advancing no order" if stuck else "off: resuming")
            self.stuck = stuck
        if stuck:
            return 0
        rows = await self.pool.fetch(
            "SELECT id, status FROM orders WHERE status = ANY($1::text[])"
            " ORDER BY updated_at, id LIMIT $2",
            list(store.OPEN_STATUSES),
            BATCH,
        )
        moved = 0
        for row in rows:
            moved += await self.advance(row["id"], row["status"])
        return moved

    async def advance(self, order_id: int, status: str) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            order = await store.lock_open_order(conn, order_id)
            if order is None or order["status"] != status:
                return 0  # cancelled, or held by orders-api: next tick
            token = config.tenant_token(order["slug"])
            new_status = await self._step(conn, order, token)
            if new_status is None:
                return 0
            reason = "out_of_stock" if new_status == "cancelled" else None
            if new_status == "cancelled" and status == "pending" and _expired(order):
                reason = "reservation_timeout"
            await store.set_status(conn, order_id, new_status, reason)
            log.info("order %s: %s -> %s", order_id, status, new_status)
            return 1

    async def _step(self, conn: store.Conn, order: asyncpg.Record, token: str) -> str | None:
        order_id, status = order["id"], order["status"]
        if status == "reserved":
            await store.add_payment(conn, order_id)
            return "paid"
        items = await store.items_by_sku(conn, order_id)
        try:
            if status == "pending":
                if _expired(order):
                    return "cancelled"
                await self.inventory.reserve(token, order_id, items)
                return "reserved"
            await self.inventory.fulfil(token, order_id, items)
            return "shipped"
        except InventoryRejected as exc:
            log.warning("order %s: inventory-api refused %s: %s", order_id, status, exc)
            return "cancelled" if status == "pending" else None
        except InventoryUnavailable as exc:
            log.info("order %s stays %s: %s", order_id, status, exc)
            return None


def _write_count(path: Path, count: int) -> None:
    """Replace `path` with `count` atomically: a reader never sees a half-written number.
    An aid to observers, never fatal to the worker."""
    partial = path.with_name(path.name + ".tmp")
    try:
        partial.write_text(f"{count}\n")
        partial.replace(path)
    except OSError as exc:
        log.debug("could not write %s: %s", path, exc)


def _expired(order: asyncpg.Record) -> bool:
    age: dt.timedelta = dt.datetime.now(dt.UTC) - order["created_at"]
    return age.total_seconds() > config.PENDING_TIMEOUT_SECONDS


async def run(
    dsn: str,
    inventory_url: str,
    tick_seconds: float = config.WORKER_TICK_SECONDS,
    max_ticks: int | None = None,
    ticks_file: Path | None = None,
) -> None:
    """Tick until SIGTERM/SIGINT (or max_ticks); a failed tick is logged, not fatal.

    With `ticks_file`, the number of ticks completed without error is written there after
    each one: an outside observer (a test) can wait for the worker to have looked again.
    A tick the stuck fault cut short counts too: the worker did look, and chose not to act.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    pool = await asyncpg.create_pool(dsn, min_size=0, max_size=2, command_timeout=10)
    try:
        async with aiohttp.ClientSession() as session:
            worker = Worker(pool, InventoryClient(inventory_url, session))
            ticks = completed = 0
            log.info("worker started (tick %.2fs)", tick_seconds)
            if ticks_file is not None:  # in its loop: what the launcher waits for
                _write_count(ticks_file, 0)
            while not stop.is_set() and (max_ticks is None or ticks < max_ticks):
                ticks += 1
                try:
                    await worker.tick()
                except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
                    log.warning("tick %d failed: %s", ticks, exc)
                else:
                    completed += 1
                    if ticks_file is not None:
                        _write_count(ticks_file, completed)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=tick_seconds)
    finally:
        await asyncio.wait_for(pool.close(), timeout=10)
        log.info("worker stopped")
