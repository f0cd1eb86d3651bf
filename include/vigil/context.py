"""What a check runner is given besides its check: the spec, connections, environment.

Runners never import Airflow. Connections come through a resolver: in Airflow tasks it is
Airflow's own connection lookup (`vigil.airflow.connections`); outside Airflow (CLI,
tests) it reads the same `AIRFLOW_CONN_<ID>` environment variables Airflow reads.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from vigil.config_errors import ConfigError
from vigil.masking import Masker
from vigil.spec.models import Spec
from vigil.spec.secret_shapes import (
    INVALID_CREDENTIAL,
    INVALID_CREDENTIAL_REF,
    is_secret_variable,
)
from vigil.spec.secrets import ENV_REF

__all__ = [
    "BUILTIN_REFERENCES",
    "ConfigError",
    "ConnectionInfo",
    "ConnectionResolver",
    "RunContext",
    "env_connection",
    "expand",
]

# References that resolve without the environment (which cannot override them):
# `${VIGIL_INVALID_CREDENTIAL}` is a value that is surely no credential, for checks that a
# wrong token is refused. It is public, so it is never masked.
BUILTIN_REFERENCES: dict[str, str] = {INVALID_CREDENTIAL_REF: INVALID_CREDENTIAL}


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


def expand(
    value: str,
    environ: Mapping[str, str],
    masker: Masker | None = None,
    *,
    secret: bool = True,
) -> str:
    """Expand `${VAR}` and `${VAR:-default}` from `environ` (the built-in references
    first); a missing variable (without a default) is a ConfigError.

    With a `masker`, each value a reference expands to is remembered on its own (a URL as
    a URL), not the whole expanded text: an error quoting only part of it (an HTTP library
    prints a URL's path, not its host) still hides the secret. The one expansion of spec
    references: run contexts and the alert channels' resolver both use it.
    """

    def one(match: re.Match[str]) -> str:
        name, default = match["name"], match["default"]
        if name in BUILTIN_REFERENCES:
            return BUILTIN_REFERENCES[name]
        if name in environ:
            resolved = environ[name]
        elif default is not None:
            resolved = default
        else:
            raise ConfigError(
                f"environment variable {name} is not set",
                fix=f"set {name} in the environment the Airflow workers run with",
            )
        # Remembered as a secret when the field is a credential (`secret`), or when the
        # variable's own name says it is one (`API_TOKEN`), wherever it is used.
        if masker is not None and resolved and (secret or is_secret_variable(name)):
            masker.remember_value(resolved)
        return resolved

    return ENV_REF.sub(one, value)


class _RememberingLookup:
    """A connection lookup that hides each connection's password from then on."""

    def __init__(self, lookup: Callable[[str], ConnectionInfo], masker: Masker) -> None:
        self.lookup, self.masker = lookup, masker

    def __call__(self, conn_id: str) -> ConnectionInfo:
        info = self.lookup(conn_id)
        self.masker.remember(info.password)
        return info


@dataclass
class RunContext:
    spec: Spec
    # By default, AIRFLOW_CONN_<ID> is read from `environ`, as Airflow's env backend does.
    # Every lookup remembers the connection's password in `masker`.
    connection: Callable[[str], ConnectionInfo] = env_connection
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    run_id: str = "manual"
    cadence: str = "manual"
    dag_id: str = "manual"
    # The run's secrets: every message, evidence and log line of the run passes `mask`.
    masker: Masker = field(default_factory=Masker, repr=False)
    # Runs a container test suite (Airflow's DockerOperator, `vigil.airflow.docker_suite`):
    # given by the Airflow task, None elsewhere (such a suite is then an `error`).
    container_runner: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        lookup = self.connection
        if lookup is env_connection:
            lookup = functools.partial(env_connection, environ=self.environ)
        if isinstance(lookup, _RememberingLookup):  # a copied context: its own masker
            lookup = lookup.lookup
        self.connection = _RememberingLookup(lookup, self.masker)

    def resolve(self, value: str, secret: bool = False) -> str:
        """Expand `${VAR}` and `${VAR:-default}`; a missing variable is a ConfigError.

        With `secret` (a credential field), the expanded values are remembered so `mask`
        hides them; without, only a variable whose name says it is a secret is (the rule
        is in README's "What is masked"): addresses, ids and paths stay readable.
        """
        return expand(value, self.environ, self.masker, secret=secret)

    def mask(self, text: str) -> str:
        """Replace every secret of this run in `text` (in any spelling) with ***."""
        return self.masker.mask(text)
