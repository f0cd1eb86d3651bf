"""The health family's check models: one per check kind, discriminated by `kind`.

Each kind's runner is the module of the same name in this package (`http.py` runs
`HttpCheck`); the family record (`vigil.checks.FAMILY_RECORD`) lists them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from vigil.spec.base import CheckBase, HttpStatus
from vigil.spec.conditions import Condition
from vigil.spec.secrets import reject_literal_secret_headers, reject_literal_secret_in_url


class HttpCheck(CheckBase):
    kind: Literal["http"]
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    path: str = "/"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    expect_status: list[HttpStatus] = Field(default_factory=lambda: [200], min_length=1)
    latency_budget_ms: float | None = Field(default=None, gt=0, le=300_000)
    # Conditions on the JSON body, parsed when the spec loads: "status == ok".
    conditions: list[Condition] = Field(default_factory=list)
    # Read the target's own dependency report ({"dependencies": {name: {"status": ...}}})
    # and fail naming every dependency that is not ok.
    check_dependencies: bool = False
    verify_tls: bool | None = None  # None: the target's setting

    _headers = field_validator("headers")(reject_literal_secret_headers)

    @field_validator("path")
    @classmethod
    def _path_is_relative(cls, path: str) -> str:
        if not path.startswith(("/", "${")):
            raise ValueError(
                f"path must start with '/' (or be a '${{VAR}}' reference), got {path!r}"
            )
        return reject_literal_secret_in_url(path)


class PostgresCheck(CheckBase):
    kind: Literal["postgres"]
    expect_databases: list[str] = Field(default_factory=list)
    expect_schemas: list[str] = Field(default_factory=list)
    # Fail when more than this share of max_connections is in use.
    max_connection_usage: float | None = Field(default=None, gt=0, le=1)
    latency_budget_ms: float | None = Field(default=None, gt=0, le=300_000)


class TcpCheck(CheckBase):
    kind: Literal["tcp"]


class ContainerCheck(CheckBase):
    kind: Literal["container"]
    expect_state: str = "running"
    require_healthy: bool = True
    max_restarts: int | None = Field(default=None, ge=0, le=10_000)
