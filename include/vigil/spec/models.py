"""The spec: pydantic models are the one source of truth for its shape.

Every model forbids unknown keys, so a misspelt key is an error rather than a silently
ignored setting. Secrets never appear literally: fields that may carry them accept only
`${ENV_VAR}` references or an Airflow connection id (see `secrets.py`).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import Field, PrivateAttr, create_model, field_validator, model_validator

from vigil.families import Family, FamilyName, all_families
from vigil.spec.alerts import AlertsConfig
from vigil.spec.base import Name, NonEmpty, Strict
from vigil.spec.errors import format_path
from vigil.spec.references import SpecReferenceError, reference_problems
from vigil.spec.secrets import (
    ENV_REF,
    reject_literal_secret_headers,
    reject_literal_secret_in_url,
)
from vigil.spec.service_urls import check_service_url
from vigil.spec.validators import (
    check_address,
    check_cron,
    check_header_names,
    check_http_url,
    check_timezone,
)

CADENCES = ("daily", "weekly", "monthly")


# --- targets: what the environment is made of ---------------------------------------


class TargetBase(Strict):
    description: str = ""
    # Targets whose health this one needs: when theirs fails, this target's checks are
    # skipped with the reason instead of failing too (one alert, not ten).
    depends_on: list[str] = Field(default_factory=list)


class _HttpApiTarget(TargetBase):
    """What every target reached over HTTP has: a base URL and headers by reference."""

    # An http(s) URL or an environment reference: "${ORDERS_URL:-http://127.0.0.1:18081}".
    base_url: str
    headers: dict[str, str] = Field(default_factory=dict)
    verify_tls: bool = True

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        return reject_literal_secret_in_url(check_http_url(url, base=True))

    _header_names = field_validator("headers")(check_header_names)
    _headers = field_validator("headers")(reject_literal_secret_headers)


# Performance probes that push load (http_load, pg_query, pg_connections) run only against
# a target that says it may take it: never by default, and `vigil check-spec` names the
# probe's line when it is missing.
ALLOW_LOAD = Field(
    default=False, description="performance probes may send load to this target (test copies)"
)


# Scenarios that write (a POST, a message sent on a WebSocket) and test suites run only
# against a target that accepts test traffic: never by default (vigil.scenarios.references).
ALLOW_WRITES = Field(
    default=False,
    description="scenarios may write to this target, test suites may run against it (test copies)",
)


class HttpTarget(_HttpApiTarget):
    kind: Literal["http"]
    allow_load: bool = ALLOW_LOAD
    allow_writes: bool = ALLOW_WRITES


class PrometheusTarget(_HttpApiTarget):
    # A Prometheus server (or anything speaking its HTTP API: Thanos, Mimir, VictoriaMetrics);
    # `promql` checks query <base_url>/api/v1/query. Headers (an auth proxy's token) by
    # reference only.
    kind: Literal["prometheus"]


class PostgresTarget(TargetBase):
    kind: Literal["postgres"]
    conn_id: NonEmpty = Field(description="Airflow connection id holding host, login and password")
    allow_load: bool = ALLOW_LOAD
    # Journeys never write through it (their queries are read-only); a test suite that
    # uses it may (its teardown may delete every row): an explicit choice, never a default.
    allow_writes: bool = ALLOW_WRITES


class TcpTarget(TargetBase):
    kind: Literal["tcp"]
    # "host:port", or a reference such as "${CACHE_ADDR:-127.0.0.1:6379}"; resolve it with
    # RunContext.resolve, then split it with vigil.spec.validators.split_address.
    address: NonEmpty

    _address = field_validator("address")(check_address)


class ContainerTarget(TargetBase):
    kind: Literal["container"]
    container: NonEmpty = Field(description="container name or id")
    # Docker Engine API address; the default is the local socket.
    docker_url: str = "unix:///var/run/docker.sock"

    _url = field_validator("docker_url")(reject_literal_secret_in_url)


class ConnOrUrlTarget(TargetBase):
    """A server named one of two ways: an Airflow connection id, or a URL whose password
    (if any) is a `${VAR}` reference. Exactly one."""

    conn_id: NonEmpty | None = Field(default=None, description="Airflow connection id")
    url: str | None = None

    @model_validator(mode="after")
    def _one_way(self) -> ConnOrUrlTarget:
        if (self.conn_id is None) == (self.url is None):
            raise ValueError(
                "give exactly one of conn_id (an Airflow connection holding host, port and "
                "password) or url (its password as a '${VAR_NAME}' reference)"
            )
        return self


class RedisTarget(ConnOrUrlTarget):
    kind: Literal["redis"]
    # conn_id: host, port, login, password; the database number in `schema` or extra `db`,
    # extra `ssl: true` for TLS. Or url: "redis://:${REDIS_PASSWORD}@cache:6379/0".

    @field_validator("url")
    @classmethod
    def _redis_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        checked = check_service_url(url, ("redis", "rediss"), "redis://host:6379/0")
        return reject_literal_secret_in_url(checked)


class MongoTarget(ConnOrUrlTarget):
    kind: Literal["mongodb"]
    # conn_id: a MongoDB URI connection (mongodb://user:pass@host:27017/db?authSource=admin,
    # as Airflow stores it). Or url: "mongodb://app:${MONGO_PASSWORD}@db1:27017,db2:27017/".

    @field_validator("url")
    @classmethod
    def _mongo_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        checked = check_service_url(
            url, ("mongodb", "mongodb+srv"), "mongodb://host:27017/", many_hosts=True
        )
        return reject_literal_secret_in_url(checked)


class WebsocketTarget(TargetBase):
    kind: Literal["websocket"]
    # A ws(s):// URL, or the http(s):// URL of the same endpoint (upgraded: http -> ws):
    # "${ORDERS_URL:-http://127.0.0.1:18081}/v1/orders/feed". A credential goes in a header
    # or a query parameter, always as a reference: "?access_token=${FEED_TOKEN}".
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    verify_tls: bool = True
    allow_writes: bool = ALLOW_WRITES

    @field_validator("url")
    @classmethod
    def _ws_url(cls, url: str) -> str:
        checked = check_service_url(url, ("ws", "wss", "http", "https"), "ws://host:port/path")
        return reject_literal_secret_in_url(checked)

    _header_names = field_validator("headers")(check_header_names)
    _headers = field_validator("headers")(reject_literal_secret_headers)


Target = Annotated[
    HttpTarget
    | PostgresTarget
    | TcpTarget
    | ContainerTarget
    | RedisTarget
    | MongoTarget
    | WebsocketTarget
    | PrometheusTarget,
    Field(discriminator="kind"),
]
TARGET_KINDS: tuple[str, ...] = tuple(
    get_args(cls.model_fields["kind"].annotation)[0]
    for cls in (
        HttpTarget,
        PostgresTarget,
        TcpTarget,
        ContainerTarget,
        RedisTarget,
        MongoTarget,
        WebsocketTarget,
        PrometheusTarget,
    )
)


# --- checks: one section per registered family ------------------------------------


def checks_model(families: tuple[Family, ...]) -> type[Strict]:
    """The `checks:` section: one list per family, of that family's check models."""
    fields: dict[str, Any] = {
        f.name: (list.__class_getitem__(f.union()), Field(default_factory=list)) for f in families
    }
    return create_model("Checks", __base__=Strict, **fields)


if TYPE_CHECKING:

    class Checks(Strict):
        """One list per registered family, built from the registry at import time."""

        def __init__(self, **sections: list[Any]) -> None: ...

        def __getattr__(self, family: str) -> list[Any]: ...

else:
    Checks = checks_model(all_families())


# --- schedules ----------------------------------------------------------------------


class Cadence(Strict):
    cron: NonEmpty
    enabled: bool = True
    # Which check families this cadence runs; None means every family the spec declares.
    families: list[FamilyName] | None = None
    # The load profile its performance probes run under (a probe's `profiles.<name>`);
    # None, or a probe without that profile: the probe's own `load`.
    probe_profile: Name | None = None

    _cron = field_validator("cron")(check_cron)


def _cadence(cron: str) -> Any:
    return Field(default_factory=lambda: Cadence(cron=cron))


class Schedules(Strict):
    daily: Cadence = _cadence("0 6 * * *")
    weekly: Cadence = _cadence("0 7 * * 1")
    monthly: Cadence = _cadence("0 8 1 * *")


class Defaults(Strict):
    owner: NonEmpty = "vigil"
    retries: int = Field(default=2, ge=0, le=10)
    retry_delay_s: float = Field(default=30, ge=0, le=86_400)
    # Upper bound for one task: every wait has a timeout.
    task_timeout_s: float = Field(default=900, gt=0, le=86_400)


# --- the spec -----------------------------------------------------------------------


class Spec(Strict):
    environment: Name
    description: str = ""
    timezone: str = Field(default="UTC", max_length=64)
    results_conn_id: NonEmpty = "vigil_results"
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

    _timezone = field_validator("timezone")(check_timezone)

    @model_validator(mode="after")
    def _references_resolve(self) -> Spec:
        # The loader runs the same pass on the raw YAML to place each problem on its line;
        # this keeps a directly constructed Spec from holding dangling references.
        problems = reference_problems(
            self.targets, self.checks, TARGET_KINDS, self.families(), self.alerts, self.schedules
        )
        if problems:
            raise SpecReferenceError(
                "; ".join(f"{format_path(p.loc)}: {p.message}" for p in problems)
            )
        return self

    @classmethod
    def families(cls) -> tuple[Family, ...]:
        """The families this model's `checks` section has, in pipeline order."""
        section = cls.model_fields["checks"].annotation
        fields = getattr(section, "model_fields", {})
        return tuple(f for f in all_families() if f.name in fields)

    def declared_families(self) -> list[str]:
        """The families this spec has checks of, in pipeline order."""
        return [f.name for f in self.families() if self.checks_of(f.name)]

    def checks_of(self, family: str) -> list[Any]:
        return list(getattr(self.checks, family, []))

    def all_checks(self) -> list[Any]:
        return [c for f in self.families() for c in self.checks_of(f.name)]

    def targets_with_checks(self, family: str) -> list[str]:
        return sorted({c.target for c in self.checks_of(family)})

    def checks_of_target(self, family: str, target: str) -> list[Any]:
        return [c for c in self.checks_of(family) if c.target == target]


_DEFAULT_FAMILIES = all_families()


def spec_model(families: tuple[Family, ...] | None = None) -> type[Spec]:
    """The Spec model for the registered families (the module's `Spec` for the default set)."""
    families = all_families() if families is None else families
    return Spec if families == _DEFAULT_FAMILIES else _derived_spec(families)


@functools.cache
def _derived_spec(families: tuple[Family, ...]) -> type[Spec]:
    checks = checks_model(families)
    derived: type[Spec] = create_model(
        "Spec", __base__=Spec, checks=(checks, Field(default_factory=checks))
    )
    return derived


def is_env_reference(value: str) -> bool:
    """The whole value is one `${VAR}` or `${VAR:-default}` reference."""
    return ENV_REF.fullmatch(value.strip()) is not None
