"""The `checks.probes` section: how fast an environment must be, and how hard to push it.

Four probe kinds:
- `http_load`: a request (or a weighted mix) sent to an `http` target in a closed loop
  (C connections back to back, as wrk) or an open loop (R requests per second, latency from
  the intended send time, as wrk2);
- `pg_query`: a read-only query at concurrency C for N executions or T seconds;
- `pg_connections`: C sessions opened at once, and the headroom left under max_connections;
- `pg_plan`: the planner's EXPLAIN of a query, asserted (index used, no sequential scan).

Load is opt-in and bounded: `http_load`, `pg_query` and `pg_connections` only run against
targets that declare `allow_load: true` (checked when the spec loads, and again at run
time), and every duration, rate, concurrency and request cap has a hard ceiling (the
HARD_* constants) no spec can raise. A probe's `load` may be varied per cadence by named
`profiles` (`schedules.weekly.probe_profile: heavy`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar, Literal, get_args

from pydantic import Field, create_model, field_validator, model_validator
from pydantic.fields import FieldInfo

from vigil.checks.models import BodyFormat, body_format_of, body_problem
from vigil.probes.thresholds import (
    LATENCY_METRICS,
    AbortField,
    Threshold,
    ThresholdField,
    check_metrics,
)
from vigil.spec.base import CheckBase, HttpStatus, Name, NonEmpty, Strict
from vigil.spec.secrets import reject_literal_secret_headers, reject_literal_secret_in_url
from vigil.spec.validators import check_header_names

# Ceilings no spec can raise: a probe is a measurement, not a load test of record.
HARD_DURATION_S = 300.0
HARD_WARMUP_S = 60.0
HARD_CONNECTIONS = 256
HARD_RATE = 20_000.0
HARD_REQUESTS = 2_000_000
HARD_QUERY_CONCURRENCY = 64
HARD_ITERATIONS = 1_000_000
HARD_DB_CONNECTIONS = 500

# The series a probe's own `load` makes (a profile of that name would be ambiguous).
DEFAULT_PROFILE = "default"

_COUNTS = ("requests", "errors")
HTTP_METRICS = (
    *LATENCY_METRICS,
    "rps",
    "error_rate",
    *_COUNTS,
    "errors_status",
    "errors_timeout",
    "errors_connection",
)
QUERY_METRICS = (
    *LATENCY_METRICS,
    "rps",
    "error_rate",
    *_COUNTS,
    "errors_query",
    "errors_timeout",
    "errors_connection",
)
CONNECTION_METRICS = (
    *LATENCY_METRICS,
    "error_rate",
    "opened",
    "failed",
    "headroom",
    "errors_connection",
)


class Baseline(Strict):
    """Where `... x baseline` thresholds get their baseline: the median of the figure over
    the probe's last `runs` passing runs with the same profile, once there are `min_runs`."""

    runs: int = Field(default=10, ge=1, le=100)
    min_runs: int = Field(default=3, ge=1, le=100)

    @model_validator(mode="after")
    def _min_within_runs(self) -> Baseline:
        if self.min_runs > self.runs:
            raise ValueError(f"min_runs ({self.min_runs}) cannot exceed runs ({self.runs})")
        return self


class RequestTemplate(Strict):
    """One request of an HTTP probe; headers and body may hold `${VAR}` references."""

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    path: str = "/"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    body_format: BodyFormat | None = None
    expect_status: list[HttpStatus] = Field(default_factory=lambda: [200], min_length=1)
    # In a `mix`: how often this request is sent, relative to the others.
    weight: int = Field(default=1, ge=1, le=1000)

    _header_names = field_validator("headers")(check_header_names)
    _headers = field_validator("headers")(reject_literal_secret_headers)

    @field_validator("path")
    @classmethod
    def _relative(cls, path: str) -> str:
        if not path.startswith(("/", "${")):
            raise ValueError(f"path must start with '/', got {path!r}")
        return reject_literal_secret_in_url(path)

    @model_validator(mode="after")
    def _body_fits(self) -> RequestTemplate:
        problem = body_problem(body_format_of(self.body_format, self.headers), self.body)
        if problem:
            raise ValueError(f"body: {problem}")
        return self


class HttpLoad(Strict):
    """How hard an HTTP probe pushes, and for how long (warm-up not measured)."""

    model: Literal["closed", "open"] = "closed"
    connections: int = Field(default=8, ge=1, le=HARD_CONNECTIONS)
    # Open loop: requests per second, sent on schedule whether or not answers come back.
    rate: float | None = Field(default=None, gt=0, le=HARD_RATE)
    duration_s: float = Field(default=5.0, gt=0, le=HARD_DURATION_S)
    warmup_s: float = Field(default=1.0, ge=0, le=HARD_WARMUP_S)
    # Every request sent, warm-up included, never exceeds this.
    max_requests: int = Field(default=100_000, ge=1, le=HARD_REQUESTS)

    @model_validator(mode="after")
    def _rate_matches_model(self) -> HttpLoad:
        if self.model == "open" and self.rate is None:
            raise ValueError("an open-loop load needs rate (requests per second)")
        if self.model == "closed" and self.rate is not None:
            raise ValueError("rate belongs to model: open; a closed loop sends back to back")
        return self


class QueryLoad(Strict):
    concurrency: int = Field(default=4, ge=1, le=HARD_QUERY_CONCURRENCY)
    # Executions in total (warm-up excluded), or the measured window; whichever ends first.
    iterations: int | None = Field(default=200, ge=1, le=HARD_ITERATIONS)
    duration_s: float | None = Field(default=None, gt=0, le=HARD_DURATION_S)
    warmup: int = Field(default=10, ge=0, le=10_000)

    @model_validator(mode="after")
    def _bounded(self) -> QueryLoad:
        if self.iterations is None and self.duration_s is None:
            raise ValueError("give iterations, duration_s or both")
        return self


class ConnectionLoad(Strict):
    connections: int = Field(default=10, ge=1, le=HARD_DB_CONNECTIONS)
    # How long all of them stay open together (their coexistence is what is measured).
    hold_s: float = Field(default=0.5, ge=0, le=30)


def _partial(model: type[Strict]) -> type[Strict]:
    """`model` with every field optional and unset by default: a profile's overrides, each
    checked against the same bounds (so `duration_s: 9000` is refused at its own line)."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation: Any = info.annotation
        fields[name] = (annotation | None, FieldInfo.merge_field_infos(info, default=None))
    partial: type[Strict] = create_model(f"{model.__name__}Profile", __base__=Strict, **fields)
    return partial


HttpLoadProfile = _partial(HttpLoad)
QueryLoadProfile = _partial(QueryLoad)
ConnectionLoadProfile = _partial(ConnectionLoad)


class _Probe(CheckBase):
    """What the measuring probes share: thresholds, an abort rule, a baseline, profiles."""

    # The target must declare `allow_load: true` (spec/references.py reads this).
    requires_target_flag: ClassVar[str | None] = "allow_load"
    metrics: ClassVar[tuple[str, ...]] = ()
    load_model: ClassVar[type[Strict]]
    # What is sent, besides the load: a change of any of these starts a new series.
    measured_fields: ClassVar[set[str]] = set()

    thresholds: list[ThresholdField] = Field(min_length=1, max_length=20)
    abort_when: list[AbortField] = Field(default_factory=list, max_length=5)
    baseline: Baseline = Field(default_factory=Baseline)
    # Named variations of `load` a cadence may pick (schedules.<cadence>.probe_profile).
    profiles: dict[Name, Any] = Field(default_factory=dict)

    @field_validator("thresholds", "abort_when")
    @classmethod
    def _figures_exist(cls, thresholds: list[Threshold]) -> list[Threshold]:
        kind = get_args(cls.model_fields["kind"].annotation)[0]
        check_metrics(thresholds, cls.metrics, kind)
        return thresholds

    @model_validator(mode="after")
    def _profiles_fit(self) -> _Probe:
        for name, override in self.profiles.items():
            if name == DEFAULT_PROFILE:
                raise ValueError(
                    f"profiles.{DEFAULT_PROFILE}: the name is taken by the probe's own load; "
                    "change `load` instead, or name the profile otherwise"
                )
            if not override.model_fields_set:
                raise ValueError(f"profiles.{name} changes nothing; give load settings")
            try:
                self.load_for(name)
            except ValueError as exc:
                raise ValueError(f"profiles.{name}: {_first_error(exc)}") from None
        return self

    def load_for(self, profile: str | None) -> Any:
        """The load this probe runs under `profile` (its own `load` when it has none)."""
        base: Strict = getattr(self, "load")  # noqa: B009 - each subclass types its own
        override = self.profiles.get(profile or "")
        if override is None:
            # Validated again: a spec built in code (model_construct) gets the ceilings too.
            return type(base).model_validate(base.model_dump(exclude_unset=True))
        merged = {**base.model_dump(exclude_unset=True), **override.model_dump(exclude_unset=True)}
        return type(base).model_validate(merged)

    def profile_used(self, profile: str | None) -> str:
        return profile if profile and profile in self.profiles else DEFAULT_PROFILE

    def series_key(self, profile: str | None) -> str:
        """The profile name and a digest of what the probe sends under it: a baseline
        compares like with like, so editing the load (8 connections to 64) or the request
        starts a new series rather than judging the new load against the old one."""
        sent = self.model_dump(mode="json", include=self.measured_fields)
        sent["load"] = self.load_for(profile).model_dump(mode="json")
        digest = hashlib.sha256(json.dumps(sent, sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.profile_used(profile)}@{digest}"


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        found = errors()
        if found:
            first = found[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return str(exc)


class HttpLoadProbe(_Probe):
    kind: Literal["http_load"]
    target_kinds: ClassVar[frozenset[str]] = frozenset({"http"})
    metrics: ClassVar[tuple[str, ...]] = HTTP_METRICS
    load_model: ClassVar[type[Strict]] = HttpLoad
    measured_fields: ClassVar[set[str]] = {"request", "mix", "timeout_s"}

    # One request, or a weighted mix of up to 10.
    request: RequestTemplate | None = None
    mix: list[RequestTemplate] | None = Field(default=None, min_length=1, max_length=10)
    load: HttpLoad = Field(default_factory=HttpLoad)
    profiles: dict[Name, HttpLoadProfile] = Field(default_factory=dict)  # type: ignore[valid-type]
    # Per request: no answer within this is a "timeout" error.
    timeout_s: float = Field(default=10.0, gt=0, le=60)

    @model_validator(mode="after")
    def _one_request_source(self) -> HttpLoadProbe:
        if (self.request is None) == (self.mix is None):
            raise ValueError("give exactly one of request (one request) or mix (a weighted list)")
        return self

    def requests(self) -> list[RequestTemplate]:
        return [self.request] if self.request is not None else list(self.mix or [])


QueryParams = list[str | int | float | bool | None] | dict[str, str | int | float | bool | None]


class _Query(Strict):
    query: NonEmpty
    # Bound by the driver (%s or %(name)s placeholders), never formatted into the text;
    # values may be `${VAR}` references.
    params: QueryParams | None = None


class PgQueryProbe(_Probe, _Query):
    kind: Literal["pg_query"]
    target_kinds: ClassVar[frozenset[str]] = frozenset({"postgres"})
    metrics: ClassVar[tuple[str, ...]] = QUERY_METRICS
    load_model: ClassVar[type[Strict]] = QueryLoad
    measured_fields: ClassVar[set[str]] = {"query", "params", "timeout_s"}

    load: QueryLoad = Field(default_factory=QueryLoad)
    profiles: dict[Name, QueryLoadProfile] = Field(default_factory=dict)  # type: ignore[valid-type]
    # Per statement (statement_timeout).
    timeout_s: float = Field(default=30.0, gt=0, le=300)
    # Attach pg_stat_statements' slowest statements as evidence, where it is installed.
    statement_stats: bool = True


class PgConnectionsProbe(_Probe):
    """C sessions at once; they all open, or they do not (no abort rule: nothing to stop)."""

    kind: Literal["pg_connections"]
    target_kinds: ClassVar[frozenset[str]] = frozenset({"postgres"})
    metrics: ClassVar[tuple[str, ...]] = CONNECTION_METRICS
    load_model: ClassVar[type[Strict]] = ConnectionLoad

    load: ConnectionLoad = Field(default_factory=ConnectionLoad)
    profiles: dict[Name, ConnectionLoadProfile] = Field(default_factory=dict)  # type: ignore[valid-type]

    @field_validator("abort_when")
    @classmethod
    def _no_abort(cls, rules: list[Threshold]) -> list[Threshold]:
        if rules:
            raise ValueError("a pg_connections probe opens its sessions at once: nothing to abort")
        return rules


class PgPlanProbe(CheckBase, _Query):
    """EXPLAIN only (nothing runs): a single planner question, not load."""

    kind: Literal["pg_plan"]
    target_kinds: ClassVar[frozenset[str]] = frozenset({"postgres"})
    requires_target_flag: ClassVar[str | None] = None

    uses_index: list[NonEmpty] = Field(default_factory=list)
    no_seq_scan_on: list[NonEmpty] = Field(default_factory=list)
    max_estimated_rows: float | None = Field(default=None, ge=0)
    max_total_cost: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _asserts_something(self) -> PgPlanProbe:
        if not (
            self.uses_index
            or self.no_seq_scan_on
            or self.max_estimated_rows is not None
            or self.max_total_cost is not None
        ):
            raise ValueError(
                "a pg_plan probe needs at least one of uses_index, no_seq_scan_on, "
                "max_estimated_rows, max_total_cost"
            )
        return self


PROBE_MODELS = (HttpLoadProbe, PgQueryProbe, PgConnectionsProbe, PgPlanProbe)
