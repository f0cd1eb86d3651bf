"""Versioned migrations: numbered SQL files, applied once, in order, under a lock.

`NNNN_name.sql` files in `migrations/` are the schema's history. `apply` runs every file
not yet in vigil.schema_migrations, all in one transaction that first takes a
transaction-level advisory lock: two processes migrating at once serialise, the second
finds everything applied and does nothing. A failing file rolls the whole batch back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2

from vigil.results import db
from vigil.results.models import StoreError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
FILENAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")
# Any fixed 64-bit number works; this one is "vigil" in ASCII, so it is recognisable in
# pg_locks (objid) while a migration holds it.
LOCK_KEY = 0x766967696C

BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS vigil;
CREATE TABLE IF NOT EXISTS vigil.schema_migrations (
    version    text        PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def load(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in `directory`, in version order; a misnamed or duplicate file is an
    error, so a typo cannot silently skip a migration."""
    migrations: dict[str, Migration] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        match = FILENAME.match(path.name)
        if match is None:
            raise StoreError(
                f"{path}: migration files are named NNNN_lowercase_name.sql (e.g. 0002_alerts.sql)"
            )
        version = match["version"]
        if version in migrations:
            raise StoreError(
                f"{path}: version {version} is also used by {migrations[version].path.name}"
            )
        migrations[version] = Migration(version, match["name"], path)
    if not migrations:
        raise StoreError(f"{directory}: no migration files found")
    return [migrations[v] for v in sorted(migrations)]


def apply(
    kwargs: Mapping[str, Any], directory: Path = MIGRATIONS_DIR, *, purpose: str = ""
) -> list[str]:
    """Apply pending migrations; returns the versions applied by this call.

    `purpose` says why, for error messages (e.g. the write that triggered it)."""
    pending_all = load(directory)
    applied_now: list[str] = []
    action = f"migrate the vigil schema {purpose}".strip()
    with db.transaction(kwargs, action) as cur:
        # Held until commit; bounded by the session's statement_timeout.
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        # A migration may rewrite every row of a large table: past the lock wait, it gets
        # far longer than the session's statement_timeout (for this transaction only).
        cur.execute("SET LOCAL statement_timeout = '30min'")
        cur.execute(BOOTSTRAP)
        cur.execute("SELECT version FROM vigil.schema_migrations")
        done = {row["version"] for row in cur.fetchall()}
        for migration in pending_all:
            if migration.version in done:
                continue
            _run_one(cur, migration, db.describe(kwargs))
            applied_now.append(migration.version)
    return applied_now


def _run_one(cur: Any, migration: Migration, where: str) -> None:
    try:
        cur.execute(migration.sql)
    except psycopg2.Error as exc:
        raise StoreError(
            f"migration {migration.path.name} failed at {where}: {db.first_line(exc)} "
            "(nothing from this batch was applied)"
        ) from exc
    cur.execute(
        "INSERT INTO vigil.schema_migrations (version, name) VALUES (%s, %s)",
        (migration.version, migration.name),
    )
