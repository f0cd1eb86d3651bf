"""The slow-index fault: drop the index behind the order-history query, or put it back.

    SELECT id, status, total, created_at FROM orders
    WHERE tenant_id = %s AND customer_id = %s ORDER BY created_at DESC LIMIT 20

With orders_tenant_id_customer_id_idx that reads one customer's few orders. Without it
no index leads with customer_id, so the query reads all of the tenant's orders (about 1000
on the seed) and filters them on customer_id: through the unique (tenant_id,
idempotency_key) index, which the planner picks on the seed, or a sequential scan.
Dropping an index keeps the column statistics, so no ANALYZE is needed.

Unlike the switches in demo_admin.faults, this changes the schema, not a service setting.
It is on exactly while the index is missing (pg_indexes), so the catalog is the one
source of truth and nothing else records it. Both directions are idempotent. `off`
recreates the index exactly as demo/sql/schema.sql defines it (DEFINITION). It does not
use CONCURRENTLY: orders is small, and the build's SHARE lock only holds writes to orders
back briefly. Needs the owner of orders (the demo database's owner in `make demo` and tests).
"""

from __future__ import annotations

import asyncpg
import psycopg2
from psycopg2.extensions import cursor as Cursor

from demo.db import DemoDbError, connect

INDEX = "orders_tenant_id_customer_id_idx"
# Verbatim from demo/sql/schema.sql (a test holds the two together).
DEFINITION = f"CREATE INDEX {INDEX} ON orders (tenant_id, customer_id)"
CREATE = DEFINITION.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1)
DROP = f"DROP INDEX IF EXISTS {INDEX}"
# Where the unqualified names above resolve: the first schema on the search_path.
EXISTS = (
    "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = current_schema()"
    f" AND tablename = 'orders' AND indexname = '{INDEX}')"
)
# Dropping or building the index waits for transactions using orders; a stuck one must
# not hang the caller.
LOCK_TIMEOUT = "SET LOCAL lock_timeout = '5s'"
LOCKED = f"slow-index: timed out waiting for a lock on orders to change {INDEX}; try again"
NOT_OWNER = f"slow-index: dropping or creating {INDEX} needs the owner of orders"


def index_exists(cur: Cursor) -> bool:
    cur.execute(EXISTS)
    row = cur.fetchone()
    return bool(row and row[0])


def is_on(dsn: str) -> bool:
    """True while the index is missing."""
    conn = connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            return not index_exists(cur)
    finally:
        conn.close()


def switch(dsn: str, enabled: bool) -> None:
    """enabled: drop the index; else recreate it. A no-op when it is already so."""
    conn = connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            # Checked first so a no-op takes no lock: CREATE INDEX IF NOT EXISTS locks
            # orders (SHARE) before it finds the index there. IF [NOT] EXISTS covers a
            # concurrent switch between the check and the statement.
            if index_exists(cur) != enabled:
                return
            cur.execute(LOCK_TIMEOUT)
            cur.execute(DROP if enabled else CREATE)
    except psycopg2.errors.LockNotAvailable as exc:
        raise DemoDbError(LOCKED) from exc
    except psycopg2.errors.InsufficientPrivilege as exc:
        raise DemoDbError(f"{NOT_OWNER}: {exc}".strip()) from exc
    finally:
        conn.close()


def on(dsn: str) -> None:
    switch(dsn, True)


def off(dsn: str) -> None:
    switch(dsn, False)


# --- the same from a service (POST /admin/faults, asyncpg) -------------------------------


async def is_on_async(pool: asyncpg.Pool) -> bool:
    return not await pool.fetchval(EXISTS, timeout=1.0)


async def switch_async(pool: asyncpg.Pool, enabled: bool) -> None:
    try:
        async with pool.acquire() as conn, conn.transaction():
            if await conn.fetchval(EXISTS) != enabled:
                return
            await conn.execute(LOCK_TIMEOUT)
            await conn.execute(DROP if enabled else CREATE)
    except asyncpg.exceptions.LockNotAvailableError as exc:
        raise DemoDbError(LOCKED) from exc
    except asyncpg.exceptions.InsufficientPrivilegeError as exc:
        raise DemoDbError(f"{NOT_OWNER}: {exc}") from exc
