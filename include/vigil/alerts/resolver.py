"""Secrets for channels, resolved at send time and masked wherever text leaves Vigil.

Outside Airflow, `${VAR}` reads the process environment and a conn id reads
`AIRFLOW_CONN_<ID>` (vigil.context.env_connection); the Airflow seam passes
`connection=vigil.airflow.connections.airflow_connection` to use Airflow's connections.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vigil.context import ConnectionInfo, env_connection, expand
from vigil.masking import Masker


@dataclass
class Resolver:
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    connection: Callable[[str], ConnectionInfo] = env_connection
    # Shared with the run's context when both live in one process (`vigil run`).
    masker: Masker = field(default_factory=Masker, repr=False)

    def expand(self, value: str, *, secret: bool = False) -> str:
        """Expand `${VAR}` / `${VAR:-default}`; a missing variable is a ConfigError.

        With `secret`, each value a reference expands to is remembered on its own (see
        `vigil.context.expand`); a value that is itself a URL is remembered as a URL."""
        return expand(value, self.environ, self.masker, secret=secret)

    def conn(self, conn_id: str) -> ConnectionInfo:
        info = self.connection(conn_id)
        self.masker.remember(info.password)
        return info

    def remember(self, secret: str) -> None:
        self.masker.remember(secret)

    def remember_url(self, url: str) -> None:
        """A URL that is a credential (a Slack webhook): see `Masker.remember_url`."""
        self.masker.remember_url(url)

    def mask(self, text: str) -> str:
        return self.masker.mask(text)

    def mask_value(self, value: Any) -> Any:
        return self.masker.mask_value(value)
