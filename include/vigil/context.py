"""What a check runner is given besides its check: the spec, connections, environment.

Runners never import Airflow. Connections come through a resolver: in Airflow tasks it is
Airflow's own connection lookup (`vigil.airflow.connections`); outside Airflow (CLI,
tests) it reads the same `AIRFLOW_CONN_<ID>` environment variables Airflow reads.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from vigil.spec.models import Spec
from vigil.spec.secrets import ENV_REF


class ConfigError(Exception):
    """A reference in the spec cannot be resolved at run time (missing variable or conn)."""


@dataclass(frozen=True)
class ConnectionInfo:
    conn_id: str
    conn_type: str = ""
    host: str = ""
    port: int | None = None
    login: str = ""
    password: str = field(default="", repr=False)
    schema: str = ""  # for Postgres: the database name
    extra: dict[str, Any] = field(default_factory=dict)

    def postgres_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for psycopg2.connect."""
        kwargs: dict[str, Any] = {"dbname": self.schema or "postgres"}
        if self.host:
            kwargs["host"] = self.host
        if self.port:
            kwargs["port"] = self.port
        if self.login:
            kwargs["user"] = self.login
        if self.password:
            kwargs["password"] = self.password
        kwargs.update({k: v for k, v in self.extra.items() if k in ("sslmode", "options")})
        return kwargs


class ConnectionResolver(Protocol):
    def __call__(self, conn_id: str) -> ConnectionInfo: ...


def env_connection(conn_id: str, environ: Mapping[str, str] | None = None) -> ConnectionInfo:
    """Read `AIRFLOW_CONN_<ID>` (URI or JSON), as Airflow's environment secrets backend does."""
    environ = os.environ if environ is None else environ
    var = f"AIRFLOW_CONN_{conn_id.upper()}"
    raw = environ.get(var)
    if not raw:
        raise ConfigError(f"connection {conn_id!r} is not defined (set {var} or add it in Airflow)")
    if raw.lstrip().startswith("{"):
        data = json.loads(raw)
        return ConnectionInfo(
            conn_id=conn_id,
            conn_type=data.get("conn_type", ""),
            host=data.get("host") or "",
            port=data.get("port"),
            login=data.get("login") or "",
            password=data.get("password") or "",
            schema=data.get("schema") or "",
            extra=data.get("extra") or {},
        )
    parts = urlsplit(raw)
    extra = dict(parse_qsl(parts.query))
    host = unquote(parts.hostname or "")
    if not host and "host" in extra:  # unix socket directory given as ?host=/path
        host = extra.pop("host")
    return ConnectionInfo(
        conn_id=conn_id,
        conn_type=parts.scheme.replace("postgresql", "postgres"),
        host=host,
        port=parts.port,
        login=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        schema=unquote(parts.path.lstrip("/")),
        extra=extra,
    )


@dataclass
class RunContext:
    spec: Spec
    # By default, AIRFLOW_CONN_<ID> is read from `environ`, as Airflow's env backend does.
    connection: Callable[[str], ConnectionInfo] = env_connection
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    run_id: str = "manual"
    cadence: str = "manual"
    dag_id: str = "manual"
    _secrets: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        if self.connection is env_connection:
            self.connection = functools.partial(env_connection, environ=self.environ)

    def resolve(self, value: str, secret: bool = False) -> str:
        """Expand `${VAR}` and `${VAR:-default}`; a missing variable is a ConfigError.

        With `secret`, the expanded values are remembered so `mask` hides them in messages.
        """

        def expand(match: Any) -> str:
            name, default = match["name"], match["default"]
            if name in self.environ:
                resolved = self.environ[name]
            elif default is not None:
                resolved = default
            else:
                raise ConfigError(f"environment variable {name} is not set")
            if secret and resolved:
                self._secrets.add(resolved)
            return resolved

        return ENV_REF.sub(expand, value)

    def mask(self, text: str) -> str:
        """Replace every resolved secret value in `text` with ***."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text
