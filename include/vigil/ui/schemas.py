"""The JSON API's records (its OpenAPI schema), and how store records become them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from vigil.alerts.silences import Silence
from vigil.reports.data import Counts
from vigil.result import CheckResult
from vigil.results import FailureRate, RunSummary
from vigil.ui import data
from vigil.ui.alerts import AlertView, Event
from vigil.ui.overview import EnvRow, FamilyRow, Overview


class CountsOut(BaseModel):
    passed: int
    failed: int
    error: int
    skipped: int
    pass_rate: float | None = Field(description="passed / checks that ran (skips left out)")


class RunOut(BaseModel):
    environment: str
    cadence: str
    dag_id: str
    run_id: str
    state: str = Field(description="running, success or failed")
    started_at: datetime
    ended_at: datetime | None
    duration_ms: float | None
    dry_run: bool
    total: int
    counts: CountsOut
    critical_problems: int


class ThresholdOut(BaseModel):
    rule_id: str
    kind: str
    threshold: float
    window: str
    rate: float | None
    above: bool


class FamilyOut(BaseModel):
    family: str
    state: str = Field(description="failed, warning, passed or skipped in its latest run")
    latest_dag_id: str | None
    latest_run_id: str | None
    latest_started_at: datetime | None
    latest_counts: CountsOut | None
    failure_rate: float | None = Field(description="failed + error share in its latest run")
    pass_rate_7d: float | None
    pass_rate_30d: float | None
    thresholds: list[ThresholdOut]


class EnvironmentOut(BaseModel):
    environment: str
    healthy: bool
    problems: list[str]
    latest_run: RunOut | None
    firing_alerts: int
    pending_alerts: int
    families: list[FamilyOut]


class OverviewOut(BaseModel):
    summary: str = Field(description="one sentence: all healthy, or what is not")
    healthy: bool
    generated_at: datetime
    environments: list[EnvironmentOut]


class RunsOut(BaseModel):
    environment: str
    runs: list[RunOut]


class ResultOut(BaseModel):
    check_id: str
    family: str
    check_kind: str
    parent: str | None
    target: str
    status: str
    severity: str
    started_at: datetime
    duration_ms: float
    message: str
    observed: Any = None
    expected: Any = None
    details: dict[str, Any]


class RunResultsOut(BaseModel):
    run: RunOut
    results: list[ResultOut]


class HistoryOut(BaseModel):
    dag_id: str
    run_id: str
    cadence: str
    status: str
    severity: str
    started_at: datetime
    duration_ms: float
    message: str


class CheckHistoryOut(BaseModel):
    environment: str
    check_id: str
    latest: ResultOut | None
    latest_dag_id: str | None
    latest_run_id: str | None
    history: list[HistoryOut] = Field(description="newest first")


class FailureRateOut(BaseModel):
    key: dict[str, str]
    total: int = Field(description="checks that ran")
    problems: int
    skipped: int
    rate: float


class FailureRatesOut(BaseModel):
    environment: str
    window: str
    by: list[str]
    rates: list[FailureRateOut]


class EventOut(BaseModel):
    at: datetime
    what: str
    status: str
    dag_id: str | None
    run_id: str | None


class AlertOut(BaseModel):
    environment: str
    fingerprint: str
    rule_id: str
    rule_kind: str
    severity: str
    state: str = Field(description="pending, firing or resolved")
    group: str = Field(description="firing, silenced, pending or resolved")
    silenced_by: str | None
    title: str
    scope: dict[str, Any]
    target: str | None
    family: str | None
    folded_under: str | None
    first_seen: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    last_run_id: str | None
    detail: dict[str, Any]
    timeline: list[EventOut] = Field(description="newest first")


class AlertsOut(BaseModel):
    environment: str | None
    firing: list[AlertOut]
    silenced: list[AlertOut]
    pending: list[AlertOut]
    resolved: list[AlertOut]


class SilenceOut(BaseModel):
    id: int
    scope: str
    starts_at: datetime
    until: datetime
    created_by: str
    reason: str
    created_at: datetime
    removed_at: datetime | None
    removed_by: str | None
    active: bool


class SilencesOut(BaseModel):
    environment: str | None
    silences: list[SilenceOut]


class SilenceIn(BaseModel):
    scope: str = Field(
        description="key=glob terms (environment, rule, fingerprint, severity, family, "
        "target, check_id); the environment term is added",
        examples=["target=demo-db"],
    )
    duration: str = Field(
        default="2h", description="how long: 30m, 2h, 1d; or an ISO time with a timezone"
    )
    reason: str = Field(min_length=1)


# --- conversions ------------------------------------------------------------------------


def counts(c: Counts) -> CountsOut:
    return CountsOut(
        passed=c.passed, failed=c.failed, error=c.error, skipped=c.skipped, pass_rate=c.pass_rate
    )


def run(s: RunSummary) -> RunOut:
    ended = s.ended_at
    return RunOut(
        environment=s.ref.environment,
        cadence=s.ref.cadence,
        dag_id=s.ref.dag_id,
        run_id=s.ref.run_id,
        state=s.state.value,
        started_at=s.started_at,
        ended_at=ended,
        duration_ms=(ended - s.started_at).total_seconds() * 1000 if ended else None,
        dry_run=s.dry_run,
        total=s.total,
        counts=counts(Counts(s.counts.passed, s.counts.failed, s.counts.error, s.counts.skipped)),
        critical_problems=s.critical_problems,
    )


def family(f: FamilyRow) -> FamilyOut:
    latest = f.latest
    return FamilyOut(
        family=f.family,
        state=f.state,
        latest_dag_id=latest.dag_id if latest else None,
        latest_run_id=latest.run_id if latest else None,
        latest_started_at=latest.started_at if latest else None,
        latest_counts=counts(latest.counts) if latest else None,
        failure_rate=f.failure_rate,
        pass_rate_7d=f.rates.short if f.rates else None,
        pass_rate_30d=f.rates.long if f.rates else None,
        thresholds=[
            ThresholdOut(
                rule_id=t.rule.rule_id,
                kind=t.rule.kind,
                threshold=t.rule.threshold,
                window=t.rule.window,
                rate=t.rate,
                above=t.above,
            )
            for t in f.thresholds
        ],
    )


def environment(e: EnvRow) -> EnvironmentOut:
    return EnvironmentOut(
        environment=e.environment,
        healthy=e.healthy,
        problems=e.problems,
        latest_run=run(e.latest) if e.latest else None,
        firing_alerts=e.firing,
        pending_alerts=e.pending,
        families=[family(f) for f in e.families],
    )


def overview(o: Overview) -> OverviewOut:
    return OverviewOut(
        summary=o.sentence,
        healthy=o.healthy,
        generated_at=o.now,
        environments=[environment(e) for e in o.environments],
    )


def result(r: CheckResult) -> ResultOut:
    return ResultOut(
        check_id=r.check_id,
        family=r.family,
        check_kind=r.check_kind,
        parent=r.parent,
        target=r.target,
        status=r.status.value,
        severity=r.severity.value,
        started_at=r.started_at,
        duration_ms=r.duration_ms,
        message=r.message,
        observed=r.observed,
        expected=r.expected,
        details=r.details,
    )


def history(h: data.HistoryItem) -> HistoryOut:
    return HistoryOut(
        dag_id=h.dag_id,
        run_id=h.run_id,
        cadence=h.cadence,
        status=h.status.value,
        severity=h.severity,
        started_at=h.started_at,
        duration_ms=h.duration_ms,
        message=h.message,
    )


def failure_rate(f: FailureRate) -> FailureRateOut:
    return FailureRateOut(
        key={k: str(v) for k, v in f.key.items()},
        total=f.total,
        problems=f.problems,
        skipped=f.skipped,
        rate=f.rate,
    )


def event(e: Event) -> EventOut:
    return EventOut(at=e.at, what=e.what, status=e.status, dag_id=e.dag_id, run_id=e.run_id)


def alert(a: AlertView) -> AlertOut:
    r = a.row
    return AlertOut(
        environment=r.environment,
        fingerprint=r.fingerprint,
        rule_id=r.rule_id,
        rule_kind=r.rule_kind,
        severity=r.severity,
        state=r.state,
        group=a.group,
        silenced_by=a.silenced_by,
        title=r.title,
        scope=dict(r.scope or {}),
        target=r.target,
        family=r.family,
        folded_under=r.folded_under,
        first_seen=r.first_seen,
        fired_at=r.fired_at,
        resolved_at=r.resolved_at,
        last_run_id=r.last_run_id,
        detail=dict(r.detail or {}),
        timeline=[event(e) for e in a.timeline],
    )


def silence(s: Silence, now: datetime) -> SilenceOut:
    return SilenceOut(
        id=s.id,
        scope=s.scope,
        starts_at=s.starts_at,
        until=s.until,
        created_by=s.created_by,
        reason=s.reason,
        created_at=s.created_at,
        removed_at=s.removed_at,
        removed_by=s.removed_by,
        active=s.active(now),
    )
