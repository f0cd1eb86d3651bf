"""Short-lived connections to the results store, with errors that say where and what.

Calls come from Airflow tasks, each its own process: a connection per call costs a few
milliseconds on a local network and leaves nothing to leak or to share across a fork.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.extras

from vigil.results.models import StoreError

CONNECT_TIMEOUT_S = 10
# Every wait has a timeout: also bounds waiting for the migration lock or a locked run row.
STATEMENT_TIMEOUT_MS = 60_000
_SESSION_OPTIONS = {"statement_timeout": str(STATEMENT_TIMEOUT_MS), "TimeZone": "UTC"}


def normalize(connect: Mapping[str, Any] | str) -> dict[str, Any]:
    """psycopg2.connect keyword arguments from kwargs or a DSN (key=value or URI)."""
    if isinstance(connect, str):
        try:
            kwargs: dict[str, Any] = dict(psycopg2.extensions.parse_dsn(connect))
        except psycopg2.ProgrammingError as exc:
            raise StoreError(f"invalid results store DSN: {first_line(exc)}") from None
    else:
        kwargs = dict(connect)
    kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    kwargs.setdefault("application_name", "vigil-results")
    options = str(kwargs.get("options") or "")
    extra = [f"-c {k}={v}" for k, v in _SESSION_OPTIONS.items() if k not in options]
    kwargs["options"] = " ".join([options, *extra]).strip()
    return kwargs


def describe(kwargs: Mapping[str, Any]) -> str:
    """Where the store is, for messages: host:port, database and user, never the password."""
    host = kwargs.get("host") or kwargs.get("hostaddr") or "local socket"
    port = kwargs.get("port") or 5432
    where = f"{host}:{port}" if not str(host).startswith("/") else f"socket {host} port {port}"
    database = kwargs.get("dbname") or kwargs.get("database") or kwargs.get("user") or "?"
    user = kwargs.get("user") or "(default user)"
    return f"{where}, database {database!r} as {user}"


def identity(kwargs: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """A hashable key for "the same database", for the once-per-process migration."""
    keys = ("host", "hostaddr", "port", "dbname", "database", "user")
    return tuple((k, str(kwargs[k])) for k in keys if kwargs.get(k) is not None)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def connect(kwargs: Mapping[str, Any], action: str) -> psycopg2.extensions.connection:
    try:
        return psycopg2.connect(**kwargs)
    except psycopg2.Error as exc:
        raise StoreError(
            f"cannot connect to the results store at {describe(kwargs)} to {action}: "
            f"{first_line(exc)} (is PostgreSQL running there, and are the connection's host, "
            "port, database and credentials right?)"
        ) from None


@contextmanager
def transaction(
    kwargs: Mapping[str, Any], action: str, *, readonly: bool = False
) -> Iterator[psycopg2.extensions.cursor]:
    """One transaction on a fresh connection: committed on success, rolled back on error.

    Database errors become StoreError naming the store and `action`; the connection is
    always closed.
    """
    conn = connect(kwargs, action)
    try:
        if readonly:
            conn.readonly = True
        with conn, conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            yield cur
    except psycopg2.Error as exc:
        raise StoreError(
            f"results store at {describe(kwargs)} failed to {action}: {first_line(exc)}"
        ) from exc
    finally:
        conn.close()
