"""Secrets for channels, resolved at send time and masked wherever text leaves Vigil.

Outside Airflow, `${VAR}` reads the process environment and a conn id reads
`AIRFLOW_CONN_<ID>` (vigil.context.env_connection); the Airflow seam passes
`connection=vigil.airflow.connections.airflow_connection` to use Airflow's connections.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from vigil.context import ConfigError, ConnectionInfo, env_connection
from vigil.spec.secrets import ENV_REF

MIN_MASKED = 4  # shorter values would mask ordinary words


@dataclass
class Resolver:
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    connection: Callable[[str], ConnectionInfo] = env_connection
    _secrets: set[str] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def expand(self, value: str, *, secret: bool = False) -> str:
        """Expand `${VAR}` / `${VAR:-default}`; a missing variable is a ConfigError.

        With `secret`, each value a reference expands to is remembered on its own (as
        RunContext.resolve does), not the whole expanded text: an error quoting only part
        of it (an HTTP library prints a URL's path, not its host) still hides the secret.
        A value that is itself a URL is remembered as a URL (remember_url)."""

        def one(match: re.Match[str]) -> str:
            name, default = match["name"], match["default"]
            if name in self.environ:
                resolved = self.environ[name]
            elif default is not None:
                resolved = default
            else:
                raise ConfigError(f"environment variable {name} is not set")
            if secret and _is_url(resolved):
                self.remember_url(resolved)
            elif secret:
                self.remember(resolved)
            return resolved

        return ENV_REF.sub(one, value)

    def conn(self, conn_id: str) -> ConnectionInfo:
        info = self.connection(conn_id)
        self.remember(info.password)
        return info

    def remember(self, secret: str) -> None:
        if secret and len(secret) >= MIN_MASKED:
            with self._lock:
                self._secrets.add(secret)

    def remember_url(self, url: str) -> None:
        """A URL that is a credential (a Slack webhook): HTTP libraries quote its path
        without the host in their errors, so the path is a secret of its own."""
        parts = urlsplit(url)
        self.remember(url)
        self.remember(parts.path + (f"?{parts.query}" if parts.query else ""))
        self.remember(parts.password or "")

    def mask(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, "***")
        return text


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))
