"""Before GX: can the table be validated at all, and what columns and key does it have?

Answered by one short psycopg2 session, so the common problems (database down, no such
table, a row filter that is not SQL) get a plain message instead of whatever GX wraps them
in, and the runner knows which expectations name columns that are gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg2

from vigil.pg import first_line as first_line  # re-exported: runner.py imports it here
from vigil.quality.connection import Database
from vigil.quality.gx_run import quote
from vigil.quality.suites import Check
from vigil.spec.validators import check_single_sql

# Columns in table order, each with whether it belongs to the primary key.
_COLUMNS = """SELECT a.attname, a.attnum = ANY(coalesce(k.conkey, '{}'))
FROM pg_attribute a
LEFT JOIN pg_constraint k ON k.conrelid = a.attrelid AND k.contype = 'p'
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"""


_EXISTENCE = frozenset({"expect_column_to_exist"})


@dataclass(frozen=True)
class TableInfo:
    """What preflight found: why validation cannot start (None: it can), and the table."""

    problem: str | None = None
    columns: list[str] = field(default_factory=list)
    key: list[str] = field(default_factory=list)  # primary key columns, for evidence


def preflight(db: Database, schema: str, table: str, row_filter: str | None) -> TableInfo:
    """Connect, find the table and its columns, and try the row filter."""
    try:
        conn = db.connect()
    except psycopg2.Error as exc:
        return TableInfo(
            f"cannot connect to PostgreSQL at {db.describe()}: {db.mask(first_line(exc))}"
        )
    qualified = f"{quote(schema)}.{quote(table)}"
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s)", (qualified,))
            row = cur.fetchone()
            if row is None or row[0] is None:
                return TableInfo(
                    f"table {schema}.{table} does not exist in database {db.name} ({db.describe()})"
                )
            cur.execute(_COLUMNS, (qualified,))
            rows = cur.fetchall()
            info = TableInfo(None, [r[0] for r in rows], [r[0] for r in rows if r[1]])
            if row_filter:
                try:
                    check_single_sql(row_filter, "row filter")  # callers outside the spec too
                except ValueError as exc:
                    return TableInfo(str(exc), info.columns, info.key)
                try:
                    cur.execute(f"EXPLAIN SELECT 1 FROM {qualified} WHERE {row_filter}")
                except psycopg2.Error as exc:
                    problem = (
                        f"row filter {row_filter!r} is not valid SQL here: "
                        f"{db.mask(first_line(exc))}"
                    )
                    return TableInfo(problem, info.columns, info.key)
            return info
    except psycopg2.Error as exc:
        return TableInfo(f"PostgreSQL at {db.describe()}: {db.mask(first_line(exc))}")
    finally:
        conn.close()


def missing_columns(check: Check, columns: list[str]) -> list[str]:
    """The columns `check` is about that the table does not have (none when unknown).

    Table-level expectations (a column set, an ordered list, a column that should exist)
    are about which columns exist: GX judges those itself.
    """
    if not columns or check.type.startswith("expect_table_") or check.type in _EXISTENCE:
        return []
    kwargs = check.kwargs
    named = [str(kwargs[k]) for k in ("column", "column_A", "column_B") if k in kwargs]
    listed = kwargs.get("column_list")
    if isinstance(listed, list):
        named += [str(c) for c in listed]
    return [c for c in named if c not in columns]
