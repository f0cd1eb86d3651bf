"""The database's own view of its slowest statements, when pg_stat_statements is there.

A probe times the queries it is told to run; pg_stat_statements knows every statement
the application ran. Its top entries by mean execution time are evidence next to a
probe's figures ("what else is slow here?"). It keeps calls, mean, standard deviation
and max per statement, not a distribution: its mean is reported as the mean and never as
a percentile.

Only plannable statements are listed (SELECT, WITH, INSERT, UPDATE, DELETE, MERGE,
VALUES, TABLE, after any leading comments): the server replaces their constants with
`$1`, `$2`. Utility statements keep their text as sent until PostgreSQL 16, so `ALTER
ROLE app PASSWORD '...'` would put a password into the evidence; they are left out.

The extension is optional and often restricted, so asking is best-effort: not installed
-> None; installed but not loaded (no shared_preload_libraries), too old, not readable by
this user, or any other refusal from the server -> `{"unavailable": reason}`. Neither
raises, and the caller's transaction survives (the query runs under a savepoint when one
is open).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import psycopg2
from psycopg2 import sql

from vigil import pg
from vigil.probes.pg_query import leading_code

EXTENSION = "pg_stat_statements"
NOTE = "pg_stat_statements keeps mean, stddev and max per statement, not percentiles"
MAX_QUERY_CHARS = 300
MAX_LIMIT = 100

_SCHEMA = "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = %s"
# Columns of pg_stat_statements 1.8+ (PostgreSQL 13+); times in milliseconds.
_TOP = """
SELECT calls, mean_exec_time, stddev_exec_time, max_exec_time, rows, query
FROM {}.pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND query ~* %s
ORDER BY mean_exec_time DESC
LIMIT %s
"""
_KEYWORDS = "select|with|insert|update|delete|merge|values|table"
# The server-side filter: leading blanks, parentheses, `--` and (unnested) `/* */`
# comments, then a plannable statement's keyword. `_PLANNABLE` checks again in Python,
# nested comments included, so a statement the regex lets through by mistake is dropped.
_PLANNABLE_SQL = r"^([[:space:](]|--[^\n]*(\n|$)|/\*([^*]|\*+[^*/])*\*+/)*(" + _KEYWORDS + r")\M"
_PLANNABLE = re.compile(rf"({_KEYWORDS})\b", re.IGNORECASE)

Rows = list[tuple[Any, ...]]

__all__ = ["NOTE", "slowest_statements"]


def slowest_statements(cur: Any, limit: int = 5) -> dict[str, Any] | None:
    """The `limit` statements of the current database with the highest mean execution
    time, or None when the extension is not installed in this database."""
    try:
        rows = _guarded(cur, lambda: _read(cur, max(1, min(limit, MAX_LIMIT))))
    except psycopg2.Error as exc:  # not loaded, no privilege, too old, aborted, ...
        return {"unavailable": pg.first_line(exc), "note": NOTE}
    if rows is None:
        return None
    kept = [row for row in rows if _PLANNABLE.match(leading_code(str(row[-1] or "")))]
    return {"statements": [_statement(row) for row in kept], "note": NOTE}


def _read(cur: Any, limit: int) -> Rows | None:
    cur.execute(_SCHEMA, (EXTENSION,))
    found = cur.fetchone()
    if found is None:
        return None
    cur.execute(sql.SQL(_TOP).format(sql.Identifier(found[0])), (_PLANNABLE_SQL, limit))
    rows: Rows = cur.fetchall()
    return rows


def _guarded(cur: Any, read: Callable[[], Rows | None]) -> Rows | None:
    """`read()` under a savepoint when a transaction is open, so a refusal does not
    abort the caller's transaction (outside one, there is nothing to protect)."""
    if cur.connection.autocommit:
        return read()
    cur.execute("SAVEPOINT vigil_pg_stat")
    try:
        result = read()
    except psycopg2.Error:
        cur.execute("ROLLBACK TO SAVEPOINT vigil_pg_stat")
        raise
    cur.execute("RELEASE SAVEPOINT vigil_pg_stat")
    return result


def _statement(row: tuple[Any, ...]) -> dict[str, Any]:
    calls, mean, stddev, peak, rows, query = row
    text = " ".join(str(query or "").split())
    if len(text) > MAX_QUERY_CHARS:
        text = text[: MAX_QUERY_CHARS - 1] + "…"
    return {
        "calls": int(calls),
        "mean_exec_time_ms": round(float(mean), 3),
        "stddev_exec_time_ms": round(float(stddev), 3),
        "max_exec_time_ms": round(float(peak), 3),
        "rows": int(rows),
        "query": text,
    }
