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

from vigil import pg
from vigil.masking import Masker
from vigil.results.models import StoreError

CONNECT_TIMEOUT_S = 10
APPLICATION_NAME = "vigil-results"
# Every wait has a timeout: also bounds waiting for the migration lock or a locked run row.
STATEMENT_TIMEOUT_MS = 60_000
_SESSION_OPTIONS = {"statement_timeout": str(STATEMENT_TIMEOUT_MS), "TimeZone": "UTC"}


def normalize(connect: Mapping[str, Any] | str) -> dict[str, Any]:
    """psycopg2.connect keyword arguments from kwargs or a DSN (key=value or URI)."""
    try:
        params = pg.parse(connect)
    except psycopg2.ProgrammingError as exc:
        raise StoreError(f"invalid results store DSN: {_masked_line(exc, connect)}") from None
    # The store is Vigil's own database: written to, so not read-only.
    return pg.session(
        params,
        application_name=APPLICATION_NAME,
        readonly=False,
        connect_timeout_s=CONNECT_TIMEOUT_S,
        defaults=_SESSION_OPTIONS,
    )


def _masked_line(exc: BaseException, dsn: str | Mapping[str, Any]) -> str:
    """libpq quotes the DSN it could not parse: whatever could be its password goes."""
    masker = Masker()
    if isinstance(dsn, str):
        masker.remember_userinfo(dsn)
        for word in dsn.split():
            if word.startswith("password="):
                masker.remember(word.removeprefix("password=").strip("'"))
    return masker.mask(pg.first_line(exc))


def describe(kwargs: Mapping[str, Any]) -> str:
    """Where the store is, for messages: host:port, database and user, never the password."""
    return pg.describe(kwargs)


def identity(kwargs: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """A hashable key for "the same database", for the once-per-process migration."""
    keys = ("host", "hostaddr", "port", "dbname", "database", "user")
    return tuple((k, str(kwargs[k])) for k in keys if kwargs.get(k) is not None)


def first_line(exc: BaseException) -> str:
    return pg.first_line(exc)


def connect(kwargs: Mapping[str, Any], action: str) -> psycopg2.extensions.connection:
    """A session on the store (`kwargs` from `normalize`); StoreError when it cannot open."""
    try:
        return pg.connect(kwargs, application_name=APPLICATION_NAME, readonly=False)
    except psycopg2.Error as exc:
        reason = _mask_password(pg.first_line(exc), kwargs)
        raise StoreError(
            f"cannot connect to the results store at {describe(kwargs)} to {action}: "
            f"{reason} (is PostgreSQL running there, and are the connection's host, "
            "port, database and credentials right?)"
        ) from None


def _mask_password(text: str, kwargs: Mapping[str, Any]) -> str:
    masker = Masker()
    masker.remember(str(kwargs.get("password") or ""))
    return masker.mask(text)


@contextmanager
def transaction(
    kwargs: Mapping[str, Any], action: str, *, readonly: bool = False
) -> Iterator[psycopg2.extras.RealDictCursor]:
    """One transaction on a fresh connection: committed on success, rolled back on error.

    Database errors become StoreError naming the store and `action`; the connection is
    always closed.
    """
    conn = connect(kwargs, action)
    try:
        if readonly:
            conn.readonly = True
        with transaction_on(conn, kwargs, action) as cur:
            yield cur
    finally:
        conn.close()


@contextmanager
def transaction_on(
    conn: Any, kwargs: Mapping[str, Any], action: str
) -> Iterator[psycopg2.extras.RealDictCursor]:
    """One transaction on an open connection (`kwargs` are the ones it was opened with):
    committed on success, rolled back on error, database errors as in `transaction`."""
    try:
        with conn, conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            yield cur
    except psycopg2.Error as exc:
        raise StoreError(
            f"results store at {describe(kwargs)} failed to {action}: "
            f"{_mask_password(pg.first_line(exc), kwargs)}"
        ) from exc


def returned_row(cur: psycopg2.extras.RealDictCursor, action: str) -> Mapping[str, Any]:
    """The row a statement that always returns one (INSERT/UPDATE ... RETURNING) returned."""
    row = cur.fetchone()
    if row is None:
        raise StoreError(f"results store returned no row to {action}")
    return row
