"""PostgreSQL access, once: parse a connection, open a guarded session, say where it went.

Every session Vigil opens on a database it watches (health checks, data quality, probes)
is read-only and bounded: `default_transaction_read_only=on` and a `statement_timeout`
travel in libpq's `options`, so they hold for every transaction of the session (also
those a library such as Great Expectations opens), and a statement that tries to write
is refused by the database itself. The results store, Vigil's own database, uses the
same pieces with `readonly=False`.

Messages name a database by host, port, database and user, never by its password; a
driver error is cut to its first line (libpq adds hints and caret lines below it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import psycopg2
import psycopg2.extensions

CONNECT_TIMEOUT_S = 10.0
DEFAULT_PORT = 5432

__all__ = [
    "CONNECT_TIMEOUT_S",
    "address",
    "connect",
    "describe",
    "first_line",
    "parse",
    "session",
]


def parse(conn: str | Mapping[str, Any]) -> dict[str, Any]:
    """libpq keyword arguments from a DSN (`key=value` or a URI) or a mapping, where a
    `database` key is read as `dbname`. A DSN libpq cannot parse raises
    psycopg2.ProgrammingError (its message may quote the DSN: mask it)."""
    if isinstance(conn, str):
        return dict(psycopg2.extensions.parse_dsn(conn))
    params = dict(conn)
    if "database" in params and "dbname" not in params:
        params["dbname"] = params.pop("database")
    return params


def session(
    params: Mapping[str, Any],
    *,
    application_name: str,
    readonly: bool = True,
    statement_timeout_s: float | None = None,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    defaults: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """psycopg2.connect keyword arguments for `params` with Vigil's guards.

    The guards (read-only, `statement_timeout_s`) come after the connection's own
    `options`, so they win over it; `defaults` (`-c name=value` settings) are added only
    where the connection's options do not set them already."""
    kwargs = {k: v for k, v in params.items() if v not in (None, "")}
    own = str(kwargs.get("options") or "").strip()
    settings = [f"-c {k}={v}" for k, v in (defaults or {}).items() if k not in own]
    if readonly:
        settings.append("-c default_transaction_read_only=on")
    if statement_timeout_s is not None:
        settings.append(f"-c statement_timeout={int(statement_timeout_s * 1000)}")
    options = " ".join([own, *settings]).strip()
    if options:
        kwargs["options"] = options
    kwargs.setdefault("application_name", application_name)
    # libpq takes whole seconds, at least one (0 would mean "wait forever").
    kwargs.setdefault("connect_timeout", max(1, math.ceil(connect_timeout_s)))
    return kwargs


def connect(
    params: Mapping[str, Any],
    *,
    application_name: str,
    readonly: bool = True,
    statement_timeout_s: float | None = None,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    defaults: Mapping[str, str] | None = None,
) -> psycopg2.extensions.connection:
    """A psycopg2 connection with the guards of `session`."""
    kwargs = session(
        params,
        application_name=application_name,
        readonly=readonly,
        statement_timeout_s=statement_timeout_s,
        connect_timeout_s=connect_timeout_s,
        defaults=defaults,
    )
    conn: psycopg2.extensions.connection = psycopg2.connect(**kwargs)
    return conn


def address(params: Mapping[str, Any]) -> str:
    """`host:port/database`, for a check's message; never the password."""
    host = params.get("host") or params.get("hostaddr") or "local socket"
    database = params.get("dbname") or params.get("database") or "postgres"
    return f"{host}:{params.get('port') or DEFAULT_PORT}/{database}"


def describe(params: Mapping[str, Any]) -> str:
    """Where a database is, with its user, for messages: never the password."""
    host = params.get("host") or params.get("hostaddr") or "local socket"
    port = params.get("port") or DEFAULT_PORT
    where = f"{host}:{port}" if not str(host).startswith("/") else f"socket {host} port {port}"
    database = params.get("dbname") or params.get("database") or params.get("user") or "?"
    user = params.get("user") or "(default user)"
    return f"{where}, database {database!r} as {user}"


def first_line(exc: BaseException) -> str:
    """The first line of a driver error (libpq adds DETAIL, HINT and caret lines)."""
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__
