"""Install, reset and fingerprint the demo database (schema + deterministic seed).

Seed shapes, for whoever writes expectations against them:
  tenants 5 (acme=1, globex=2, initech=3, umbrella=4, hooli=5)
  customers 3000 (id c belongs to tenant ((c-1) % 5) + 1)
  products 2000 (id p belongs to tenant ((p-1) % 5) + 1; SKU-0001..SKU-0400 per tenant;
                 price 1.00-499.99; every 41st inactive)
  inventory 2000 (one row per product; every 97th product has 0 on hand; none reserved)
  orders 5000 (all shipped or cancelled), order_items 12500, payments 4500
"""

from __future__ import annotations

from pathlib import Path

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import connection as Connection
from psycopg2.extensions import cursor as Cursor

from demo import config

SQL_DIR = Path(__file__).parent / "sql"
SCHEMA_VERSION = 1
# Installed in this order, in one transaction: a failed install leaves nothing behind.
INSTALL_FILES = ("admin.sql", "schema.sql", "seed.sql", "triggers.sql")
# Shop tables and their primary keys, in dependency order (parents first).
TABLES: dict[str, str] = {
    "tenants": "id",
    "customers": "id",
    "products": "id",
    "inventory": "product_id",
    "orders": "id",
    "order_items": "id",
    "payments": "id",
}
SEED_COUNTS: dict[str, int] = {
    "tenants": 5,
    "customers": 3000,
    "products": 2000,
    "inventory": 2000,
    "orders": 5000,
    "order_items": 12500,
    "payments": 4500,
}
# Serialises concurrent installs (a launcher and a test racing on one database).
_INSTALL_LOCK = 0x0DE30001


class DemoDbError(RuntimeError):
    pass


def connect(dsn: str, autocommit: bool = False) -> Connection:
    try:
        conn = psycopg2.connect(dsn, connect_timeout=5, application_name="demo")
    except psycopg2.OperationalError as exc:
        raise DemoDbError(f"cannot connect to the demo database: {exc}".strip()) from exc
    conn.autocommit = autocommit
    return conn


def installed_version(conn: Connection) -> int | None:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('demo_admin.schema_version') IS NOT NULL")
        row = cur.fetchone()
        if not row or not row[0]:
            return None
        cur.execute("SELECT max(version) FROM demo_admin.schema_version")
        found = cur.fetchone()
        return int(found[0]) if found and found[0] is not None else None


def install(dsn: str) -> bool:
    """Create schema and seed unless present. Returns True if it installed, False if it
    was present (then only fault switches added since that install are added: sync_faults).
    """
    conn = connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_INSTALL_LOCK,))
            version = installed_version(conn)
            if version == SCHEMA_VERSION:
                sync_faults(cur)
                return False
            if version is not None:
                raise DemoDbError(
                    f"demo schema version {version} is installed, this code needs "
                    f"{SCHEMA_VERSION}: call demo.db.reset(dsn) to rebuild it"
                )
            _run_install_files(cur)
            cur.execute(
                "INSERT INTO demo_admin.schema_version (version) VALUES (%s)", (SCHEMA_VERSION,)
            )
        return True
    finally:
        conn.close()


def sync_faults(cur: Cursor) -> list[str]:
    """Bring demo_admin.faults up to config.FAULTS; returns the switches added.

    A fault switch is a row, not a schema change, so a database installed by an earlier
    demo keeps its schema version and only lacks rows (and their names in the table's
    CHECK). Each missing one is added, off, with its default; existing rows keep their
    state. A no-op (one SELECT) when nothing is missing, so every start can call it.
    """
    cur.execute("SELECT name FROM demo_admin.faults")
    present = {str(row[0]) for row in cur.fetchall()}
    missing = [name for name in config.FAULTS if name not in present]
    if not missing:
        return []
    # Rows this code does not know (written by a newer demo) stay allowed: the CHECK must
    # hold for every existing row, and dropping someone's switch is not a migration's job.
    allowed = [*config.FAULTS, *sorted(present - set(config.FAULTS))]
    cur.execute(
        sql.SQL(
            "ALTER TABLE demo_admin.faults DROP CONSTRAINT IF EXISTS faults_name_check,"
            " ADD CONSTRAINT faults_name_check CHECK (name IN ({}))"
        ).format(sql.SQL(", ").join(map(sql.Literal, allowed)))
    )
    for name in missing:
        cur.execute(
            "INSERT INTO demo_admin.faults (name, enabled, value) VALUES (%s, false, %s)"
            " ON CONFLICT (name) DO NOTHING",
            (name, config.FAULT_DEFAULTS[name]),
        )
    return missing


def _run_install_files(cur: Cursor) -> None:
    for name in INSTALL_FILES:
        try:
            cur.execute((SQL_DIR / name).read_text())
        except psycopg2.Error as exc:
            raise DemoDbError(f"demo/sql/{name}: {exc.pgerror or exc}".strip()) from exc


def reset(dsn: str) -> None:
    """Drop every demo object (shop tables, triggers, demo_admin) and install afresh."""
    conn = connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_INSTALL_LOCK,))
            tables = ", ".join(reversed(TABLES))
            cur.execute(f"DROP TABLE IF EXISTS {tables} CASCADE")
            cur.execute("DROP FUNCTION IF EXISTS set_updated_at(), notify_order_status()")
            cur.execute("DROP SCHEMA IF EXISTS demo_admin CASCADE")
            _run_install_files(cur)
            cur.execute(
                "INSERT INTO demo_admin.schema_version (version) VALUES (%s)", (SCHEMA_VERSION,)
            )
    finally:
        conn.close()


def checksums(dsn: str) -> dict[str, tuple[int, str]]:
    """Per shop table: (row count, md5 of all rows in primary-key order)."""
    conn = connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            # Rows are hashed as text: pin how timestamps print so the digest is portable.
            cur.execute("SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'")
            result: dict[str, tuple[int, str]] = {}
            for table, key in TABLES.items():
                cur.execute(
                    f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t.{key}),"
                    f" '')) FROM {table} t"
                )
                count, digest = cur.fetchone() or (0, "")
                result[table] = (int(count), str(digest))
            return result
    finally:
        conn.close()
