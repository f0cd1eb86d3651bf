"""The health family's check models: one per check kind, discriminated by `kind`.

Each kind's runner is the module of the same name in this package (`http.py` runs
`HttpCheck`); the family record (`vigil.checks.FAMILY_RECORD`) lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from vigil.checks.metric_expr import MetricCondition
from vigil.checks.promql_conditions import MAX_QUERY_CHARS, ResultCondition, query_problem
from vigil.spec.base import CheckBase, HttpStatus
from vigil.spec.conditions import Condition
from vigil.spec.secret_shapes import is_secret_name
from vigil.spec.secrets import (
    LiteralSecretError,
    find_literal_secrets,
    reject_literal_secret_headers,
    reject_literal_secret_in_url,
)
from vigil.spec.validators import check_header_names

BodyFormat = Literal["json", "form", "text"]
FORM_TYPE = "application/x-www-form-urlencoded"
_SCALARS = (str, int, float, bool)


def is_credential_header(name: str) -> bool:
    """A header that carries a credential (what `credentials_mode: none|invalid` replaces): the
    ones the spec allows only as references (`Authorization`, `X-Api-Key`, `Cookie`)."""
    return is_secret_name(name, header=True)


def body_format_of(explicit: BodyFormat | None, headers: Mapping[str, str]) -> BodyFormat:
    """How a body is sent: as `body_format` says, else as its Content-Type header says
    (form-urlencoded: form; JSON or none: json; anything else: text)."""
    if explicit is not None:
        return explicit
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media == FORM_TYPE:
        return "form"
    if not media or media == "application/json" or media.endswith("+json"):
        return "json"
    return "text"


def body_problem(body_format: BodyFormat, body: Any) -> str | None:
    """Why `body` cannot be sent as `body_format` (a form is a flat mapping, text a string)."""
    if body is None or body_format == "json":
        return None
    if body_format == "text":
        if isinstance(body, str):
            return None
        return f"a text body is a string sent as is, got {type(body).__name__}"
    if not isinstance(body, dict):
        return (
            "a form body is a mapping of fields to values ({username: ..., password: "
            f"'${{PASSWORD}}'}}), sent url-encoded; got {type(body).__name__}"
        )
    for name, value in body.items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, _SCALARS) for v in values):
            return (
                f"form field {name!r} must be a string, number, boolean or a list of them "
                "(sent as repeated fields)"
            )
    return None


class HttpCheck(CheckBase):
    kind: Literal["http"]
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    path: str = "/"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    # How `body` goes out: json (any value, as JSON), form (a mapping, url-encoded: an
    # OAuth2 password login) or text (a string, as is). Unset: as the Content-Type header
    # says, else json. A Content-Type header is added when none is set.
    body_format: BodyFormat | None = None
    # Which credential headers (target's and check's) go out: as configured; none (dropped);
    # or invalid (each reference in them replaced by ${VIGIL_INVALID_CREDENTIAL}, scheme
    # words kept): for checks that a wrong or missing token is refused (expect_status: [401]).
    credentials_mode: Literal["configured", "none", "invalid"] = "configured"
    expect_status: list[HttpStatus] = Field(default_factory=lambda: [200], min_length=1)
    latency_budget_ms: float | None = Field(default=None, gt=0, le=300_000)
    # Conditions on the JSON body ("$": all of it) or a header ("header:Content-Type"),
    # parsed when the spec loads: "status == ok".
    conditions: list[Condition] = Field(default_factory=list)
    # Read the target's own dependency report ({"dependencies": {name: {"status": ...}}})
    # and fail naming every dependency that is not ok. A body without one is a configuration
    # error (not retried): for such a service, check its body with `conditions` instead.
    check_dependencies: bool = False
    verify_tls: bool | None = None  # None: the target's setting

    _header_names = field_validator("headers")(check_header_names)
    _headers = field_validator("headers")(reject_literal_secret_headers)

    @field_validator("path")
    @classmethod
    def _path_is_relative(cls, path: str) -> str:
        if not path.startswith(("/", "${")):
            raise ValueError(
                f"path must start with '/' (or be a '${{VAR}}' reference), got {path!r}"
            )
        return reject_literal_secret_in_url(path)

    @model_validator(mode="after")
    def _body_fits_its_format(self) -> HttpCheck:
        body_format = body_format_of(self.body_format, self.headers)
        problem = body_problem(body_format, self.body)
        if problem:
            how = "body_format" if self.body_format else "the Content-Type header"
            raise ValueError(f"body does not fit {how} ({body_format}): {problem}")
        if self.credentials_mode == "none":
            sent = [name for name in self.headers if is_credential_header(name)]
            if sent:
                raise ValueError(
                    f"credentials_mode: none, but the check sets credential header {sent[0]!r}; "
                    "drop the header or the 'credentials_mode' setting"
                )
        return self


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


# A key a redis check looks up: not empty, one line, bounded.
RedisKey = Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^[^\r\n]+$")]


class RedisCheck(CheckBase):
    """PING within the timeout, then what INFO says; reads only (PING, INFO, EXISTS)."""

    kind: Literal["redis"]
    expect_role: Literal["master", "replica"] | None = None
    # connected_clients at most this many; and/or at most this share of the server's maxclients.
    max_clients: int | None = Field(default=None, ge=1, le=10_000_000)
    max_client_usage: float | None = Field(default=None, gt=0, le=1)
    # used_memory at most this share of maxmemory (a server without maxmemory cannot say:
    # a configuration error, not retried).
    max_memory_usage: float | None = Field(default=None, gt=0, le=1)
    # rejected_connections (counted since the server started) at most this many.
    max_rejected_connections: int | None = Field(default=None, ge=0)
    # On a replica (whose link to its master must be up): seconds since it last heard from
    # its master, at most this. A master pings its replicas every repl-ping-replica-period
    # (10 s by default), so a bound below that fails on a quiet master.
    max_replication_lag_s: float | None = Field(default=None, gt=0, le=86_400)
    # Keys that must exist (in the connection's database).
    expect_keys: list[RedisKey] = Field(default_factory=list, max_length=100)
    latency_budget_ms: float | None = Field(default=None, gt=0, le=300_000)


class MongoCheck(CheckBase):
    """ping, buildInfo, serverStatus and, on a replica set member, replSetGetStatus."""

    kind: Literal["mongodb"]
    # The server's version at least this ("6.0", "7.0.4").
    min_version: str | None = Field(default=None, pattern=r"^\d+(\.\d+){0,2}$")
    # Fail when the server is not a replica set member. On one, always: a primary is
    # present and every member is healthy.
    require_replica_set: bool = False
    # How far the secondaries' last applied operation trails the primary's, at most this.
    max_replication_lag_s: float | None = Field(default=None, gt=0, le=86_400)
    # Connections in use at most this share of current + available.
    max_connection_usage: float | None = Field(default=None, gt=0, le=1)
    latency_budget_ms: float | None = Field(default=None, gt=0, le=300_000)


class WebsocketCheck(CheckBase):
    """Connect (the handshake within `timeout_s`), optionally send one message, then expect
    a message matching `conditions` before `timeout_s` runs out."""

    kind: Literal["websocket"]
    headers: dict[str, str] = Field(default_factory=dict)  # with the target's; these win
    # Sent once connected: a string as is, any other value as JSON; `${VAR}` references in
    # it are resolved and masked like credentials.
    send: Any = None
    # Conditions a message must meet (as JSON; a message that is not JSON is the string
    # `$`), or the handshake's response headers ("header:Sec-WebSocket-Protocol"). None on
    # the message: the first message passes.
    conditions: list[Condition] = Field(default_factory=list)
    # False: the handshake (and sending) is the whole check; no message is awaited.
    expect_message: bool = True
    # At most this many messages are read while waiting for a match (every loop has a bound).
    max_messages: int = Field(default=100, ge=1, le=10_000)
    latency_budget_ms: float | None = Field(default=None, gt=0, le=300_000)

    _header_names = field_validator("headers")(check_header_names)
    _headers = field_validator("headers")(reject_literal_secret_headers)

    @field_validator("send")
    @classmethod
    def _send_holds_no_secret(cls, send: Any) -> Any:
        for finding in find_literal_secrets(send, ("send",)):
            raise LiteralSecretError(finding.message)
        return send

    @model_validator(mode="after")
    def _conditions_need_a_message(self) -> WebsocketCheck:
        if not self.expect_message and any(c.header is None for c in self.conditions):
            raise ValueError(
                "expect_message: false, but conditions read a message; drop those conditions "
                "or the 'expect_message' setting"
            )
        return self


# --- Prometheus: a service's own /metrics, and queries to a Prometheus server ------------


def _relative_path(path: str) -> str:
    if not path.startswith(("/", "${")):
        raise ValueError(f"path must start with '/' (or be a '${{VAR}}' reference), got {path!r}")
    return reject_literal_secret_in_url(path)


class MetricsCheck(CheckBase):
    """Scrape an `http` target's Prometheus exposition and judge its series."""

    # Reads a target of another kind than its own (ADR 0005: Family.accepted_targets).
    target_kinds: ClassVar[frozenset[str]] = frozenset({"http"})
    kind: Literal["metrics"]
    path: str = "/metrics"
    headers: dict[str, str] = Field(default_factory=dict)
    # Conditions on the scraped series, parsed when the spec loads (vigil.checks.metric_expr):
    # 'up{job="orders"} == 1', 'rate(http_requests_total{status=~"5.."}) /
    # rate(http_requests_total) < 0.01'. None: the scrape must answer and parse.
    conditions: list[MetricCondition] = Field(default_factory=list)
    # Seconds between the two scrapes that rate() compares; a second scrape is taken only
    # when a condition uses rate(). Both scrapes and the wait fit in timeout_s.
    rate_interval_s: float = Field(default=5.0, gt=0, le=120)
    verify_tls: bool | None = None  # None: the target's setting

    _header_names = field_validator("headers")(check_header_names)
    _headers = field_validator("headers")(reject_literal_secret_headers)
    _path = field_validator("path")(_relative_path)

    @property
    def uses_rate(self) -> bool:
        return any(c.uses_rate for c in self.conditions)

    @model_validator(mode="after")
    def _rate_fits_the_timeout(self) -> MetricsCheck:
        if self.uses_rate and self.rate_interval_s + 1 > self.timeout_s:
            raise ValueError(
                f"rate() takes two scrapes rate_interval_s ({self.rate_interval_s:g}s) apart, "
                f"within timeout_s ({self.timeout_s:g}s): raise timeout_s to at least "
                f"{self.rate_interval_s + 1:g} or lower rate_interval_s"
            )
        return self


def _checked_query(query: str) -> str:
    problem = query_problem(query)
    if problem:
        raise ValueError(f"query is not PromQL: {problem}")
    return query


class PromqlCheck(CheckBase):
    """An instant query to a `prometheus` target (/api/v1/query), judged on its result."""

    # Reads a target of another kind than its own (ADR 0005: Family.accepted_targets).
    target_kinds: ClassVar[frozenset[str]] = frozenset({"prometheus"})
    kind: Literal["promql"]
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, pattern=r"\S")
    # Conditions on the result, parsed when the spec loads: 'value == 1' (every series),
    # 'count >= 2', 'max < 0.5' (vigil.checks.promql_conditions).
    conditions: list[ResultCondition] = Field(default_factory=list)
    # An empty result fails the check (a selector that matches nothing passes nothing);
    # true for queries whose good answer is no series (ALERTS{alertstate="firing"}).
    allow_empty: bool = False
    headers: dict[str, str] = Field(default_factory=dict)  # e.g. X-Scope-OrgID
    verify_tls: bool | None = None  # None: the target's setting

    _query = field_validator("query")(_checked_query)
    _header_names = field_validator("headers")(check_header_names)
    _headers = field_validator("headers")(reject_literal_secret_headers)
