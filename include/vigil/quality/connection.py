"""Where to validate: one PostgreSQL database, always reached read-only.

Validation never writes to the systems it watches. Every session Vigil opens for data
quality starts with `default_transaction_read_only=on` (a libpq `options` setting, so it
holds for every transaction GX opens too) and a statement timeout, so a custom SQL
expectation that tries to write is refused by the database itself, and no query can hang
a task.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg2.extensions
from sqlalchemy.engine import URL

from vigil import pg
from vigil.context import ConnectionInfo
from vigil.masking import Masker

ConnLike = ConnectionInfo | str | Mapping[str, Any]
APPLICATION_NAME = "vigil-quality"
# libpq parameters Vigil passes on; anything else in a DSN is dropped, not guessed at.
_PASSED = (
    "dbname",
    "host",
    "port",
    "user",
    "password",
    "sslmode",
    "options",
    "sslrootcert",
    "sslcert",
    "sslkey",
)


@dataclass(frozen=True)
class Database:
    """libpq parameters of one database plus the guards every session gets."""

    params: dict[str, Any]
    statement_timeout_s: float = 300.0
    connect_timeout_s: float = 10.0
    # Knows the password (and, when given the run's masker, every secret of the run).
    masker: Masker = field(default_factory=Masker, repr=False, compare=False)

    @property
    def name(self) -> str:
        return str(self.params.get("dbname") or "postgres")

    def describe(self) -> str:
        """host:port/db, never the password."""
        return pg.address(self.params)

    def libpq_kwargs(self) -> dict[str, Any]:
        return pg.session(
            self.params,
            application_name=APPLICATION_NAME,
            statement_timeout_s=self.statement_timeout_s,
            connect_timeout_s=self.connect_timeout_s,
        )

    def sqlalchemy_url(self) -> str:
        """The same session, as the SQLAlchemy URL GX's data source takes."""
        kwargs = self.libpq_kwargs()
        host = str(kwargs.pop("host", "") or "")
        query = {
            k: str(v) for k, v in kwargs.items() if k not in ("dbname", "user", "password", "port")
        }
        port = int(kwargs["port"]) if kwargs.get("port") else None
        if host.startswith("/"):  # a socket directory travels as a query parameter
            query["host"] = host
            host = ""
            if port:
                query["port"] = str(port)
                port = None
        url = URL.create(
            "postgresql+psycopg2",
            username=kwargs.get("user"),
            password=kwargs.get("password"),
            host=host or None,
            port=port,
            database=kwargs.get("dbname"),
            query=query,
        )
        return url.render_as_string(hide_password=False)

    @property
    def uses_socket(self) -> bool:
        return str(self.params.get("host") or "").startswith("/") or not self.params.get("host")

    def connect(self) -> psycopg2.extensions.connection:
        """A psycopg2 connection with the read-only and timeout guards."""
        return pg.connect(
            self.params,
            application_name=APPLICATION_NAME,
            statement_timeout_s=self.statement_timeout_s,
            connect_timeout_s=self.connect_timeout_s,
        )

    def mask(self, text: str) -> str:
        """`text` without the password (driver errors can echo a DSN) or the run's secrets."""
        return self.masker.mask(text)


def database(
    conn: ConnLike,
    *,
    statement_timeout_s: float = 300.0,
    connect_timeout_s: float = 10.0,
    masker: Masker | None = None,
) -> Database:
    """A Database from a ConnectionInfo, a libpq DSN/URI, or psycopg2-style kwargs; its
    password is remembered in `masker` (the run's, when given)."""
    raw = conn.postgres_kwargs() if isinstance(conn, ConnectionInfo) else pg.parse(conn)
    params = {k: raw[k] for k in _PASSED if raw.get(k) not in (None, "")}
    masker = masker if masker is not None else Masker()
    masker.remember(str(params.get("password", "")))
    return Database(
        params=params,
        statement_timeout_s=statement_timeout_s,
        connect_timeout_s=connect_timeout_s,
        masker=masker,
    )
