"""The spec: pydantic models are the one source of truth for its shape.

Every model forbids unknown keys, so a misspelt key is an error rather than a silently
ignored setting. Secrets never appear literally: fields that may carry them accept only
`${ENV_VAR}` references or an Airflow connection id (see `secrets.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from vigil.alerts.config import AlertsConfig
from vigil.result import Severity
from vigil.spec.conditions import Condition
from vigil.spec.errors import did_you_mean, format_path
from vigil.spec.references import SpecReferenceError, reference_problems
from vigil.spec.secrets import (
    ENV_REF,
    reject_literal_secret_headers,
    reject_literal_secret_in_url,
)
from vigil.spec.validators import check_address, check_cron, check_http_url, check_single_sql

NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
HttpStatus = Annotated[int, Field(ge=100, le=599)]
KINDS = ("health", "quality")  # scenarios and probes join as their sections land
CADENCES = ("daily", "weekly", "monthly")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- targets: what the environment is made of ---------------------------------------


class TargetBase(Strict):
    description: str = ""
    # Targets whose health this one needs: when theirs fails, this target's checks are
    # skipped with the reason instead of failing too (one alert, not ten).
    depends_on: list[str] = Field(default_factory=list)


class HttpTarget(TargetBase):
    kind: Literal["http"]
    # An http(s) URL or an environment reference: "${ORDERS_URL:-http://127.0.0.1:18081}".
    base_url: str
    headers: dict[str, str] = Field(default_factory=dict)
    verify_tls: bool = True

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        return reject_literal_secret_in_url(check_http_url(url))

    _headers = field_validator("headers")(reject_literal_secret_headers)


class PostgresTarget(TargetBase):
    kind: Literal["postgres"]
    conn_id: str = Field(description="Airflow connection id holding host, login and password")


class TcpTarget(TargetBase):
    kind: Literal["tcp"]
    # "host:port", or a reference such as "${CACHE_ADDR:-127.0.0.1:6379}"; resolve it with
    # RunContext.resolve, then split it with vigil.spec.validators.split_address.
    address: str

    _address = field_validator("address")(check_address)


class ContainerTarget(TargetBase):
    kind: Literal["container"]
    container: str = Field(description="container name or id")
    # Docker Engine API address; the default is the local socket.
    docker_url: str = "unix:///var/run/docker.sock"

    _url = field_validator("docker_url")(reject_literal_secret_in_url)


Target = Annotated[
    HttpTarget | PostgresTarget | TcpTarget | ContainerTarget, Field(discriminator="kind")
]
TARGET_KINDS: tuple[str, ...] = tuple(
    get_args(cls.model_fields["kind"].annotation)[0]
    for cls in (HttpTarget, PostgresTarget, TcpTarget, ContainerTarget)
)


# --- health checks ---------------------------------------------------------------------


class CheckBase(Strict):
    id: Name
    target: str
    severity: Severity = Severity.CRITICAL
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    description: str = ""


class HttpCheck(CheckBase):
    kind: Literal["http"]
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    path: str = "/"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    expect_status: list[HttpStatus] = Field(default_factory=lambda: [200], min_length=1)
    latency_budget_ms: float | None = Field(default=None, gt=0)
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
    latency_budget_ms: float | None = Field(default=None, gt=0)


class TcpCheck(CheckBase):
    kind: Literal["tcp"]


class ContainerCheck(CheckBase):
    kind: Literal["container"]
    expect_state: str = "running"
    require_healthy: bool = True
    max_restarts: int | None = Field(default=None, ge=0)


HealthCheck = Annotated[
    HttpCheck | PostgresCheck | TcpCheck | ContainerCheck, Field(discriminator="kind")
]


# --- data quality (Great Expectations) -------------------------------------------------


class QualityBase(CheckBase):
    # The whole suite or snapshot runs in one database session, so it gets more time.
    timeout_s: float = Field(default=300.0, gt=0, le=3600)


class SuiteCheck(QualityBase):
    """A Great Expectations suite (GX's own JSON) run against one table of a postgres target.

    Each expectation becomes one result; its `meta.severity` (critical|warning) overrides
    the check's `severity`.
    """

    kind: Literal["suite"]
    # Path of the suite JSON, relative to the expectations folder (VIGIL_EXPECTATIONS_DIR,
    # default <repo>/expectations): "demo/orders.json".
    suite: str = Field(pattern=r"^[^/].*\.json$")
    table: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_$]*$")
    schema_name: str = Field(default="public", alias="schema", pattern=r"^[A-Za-z_][A-Za-z0-9_$]*$")
    # A SQL condition on the table's rows, e.g. "created_at >= now() - interval '1 day'".
    row_filter: str | None = None

    @field_validator("row_filter")
    @classmethod
    def _one_expression(cls, text: str | None) -> str | None:
        return None if text is None else check_single_sql(text, "row_filter")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SchemaDriftCheck(QualityBase):
    """The live catalog (tables, columns, types, indexes, constraints) against a committed
    snapshot written by `vigil snapshot-schema`; every difference is one failed result."""

    kind: Literal["schema_drift"]
    snapshot: str = Field(pattern=r"^[^/].*\.(json|ya?ml)$")  # relative to the expectations folder
    schemas: list[str] = Field(default_factory=lambda: ["public"], min_length=1)


QualityCheck = Annotated[SuiteCheck | SchemaDriftCheck, Field(discriminator="kind")]


class Checks(Strict):
    health: list[HealthCheck] = Field(default_factory=list)
    quality: list[QualityCheck] = Field(default_factory=list)


# --- schedules ----------------------------------------------------------------------


class Cadence(Strict):
    cron: str
    enabled: bool = True
    # Which check kinds this cadence runs; None means every kind the spec declares.
    kinds: list[Literal["health", "quality"]] | None = None

    _cron = field_validator("cron")(check_cron)


def _cadence(cron: str) -> Any:
    return Field(default_factory=lambda: Cadence(cron=cron))


class Schedules(Strict):
    daily: Cadence = _cadence("0 6 * * *")
    weekly: Cadence = _cadence("0 7 * * 1")
    monthly: Cadence = _cadence("0 8 1 * *")


class Defaults(Strict):
    owner: str = "vigil"
    retries: int = Field(default=2, ge=0, le=10)
    retry_delay_s: float = Field(default=30, ge=0)
    # Upper bound for one task: every wait has a timeout.
    task_timeout_s: float = Field(default=900, gt=0)


# --- the spec -----------------------------------------------------------------------


class Spec(Strict):
    environment: Name
    description: str = ""
    timezone: str = "UTC"
    results_conn_id: str = "vigil_results"
    defaults: Defaults = Field(default_factory=Defaults)
    targets: dict[Name, Target]
    checks: Checks = Field(default_factory=Checks)
    schedules: Schedules = Field(default_factory=Schedules)
    tags: list[str] = Field(default_factory=list)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    # The file this spec was loaded from (set by the loader): tasks reload it at run time.
    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        return self._source

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, tz: str) -> str:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            guess = did_you_mean(tz, available_timezones()) or "e.g. 'Europe/Paris'"
            raise ValueError(f"unknown timezone {tz!r}; use an IANA name ({guess})") from None
        return tz

    @model_validator(mode="after")
    def _references_resolve(self) -> Spec:
        # The loader runs the same pass on the raw YAML to place each problem on its line;
        # this keeps a directly constructed Spec from holding dangling references.
        problems = reference_problems(self.targets, self.checks, TARGET_KINDS)
        if problems:
            raise SpecReferenceError(
                "; ".join(f"{format_path(p.loc)}: {p.message}" for p in problems)
            )
        return self

    def checks_of(self, kind: str) -> list[Any]:
        return list(getattr(self.checks, kind))

    def targets_with_checks(self, kind: str) -> list[str]:
        return sorted({c.target for c in self.checks_of(kind)})

    def checks_of_target(self, kind: str, target: str) -> list[Any]:
        return [c for c in self.checks_of(kind) if c.target == target]


def is_env_reference(value: str) -> bool:
    """The whole value is one `${VAR}` or `${VAR:-default}` reference."""
    return ENV_REF.fullmatch(value.strip()) is not None
