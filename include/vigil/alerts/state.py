"""Alert state: pending -> firing -> resolved, moved once per run, notices queued with it.

`apply` runs inside one transaction that holds the environment's advisory lock: it reads
the alerts the findings name, moves each one, and queues the notices that move owes in
the same transaction. A run an alert has already judged (a retried or overlapping
evaluation) is ignored, so a state change can queue its notices only once. Open alerts
of rules removed from the config resolve: nothing else would ever judge them again.

Who is told what, per channel, is alerts.audience.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from psycopg2.extras import Json

from vigil.alerts import audience, sql
from vigil.alerts.folding import Folding
from vigil.alerts.rules import Finding
from vigil.spec.alerts import AlertsConfig

DRY_RUN_NOTE = "not sent: dry run"
PENDING, FIRING, RESOLVED = "pending", "firing", "resolved"
RULE_REMOVED = "resolved: its rule was removed from the config"


@dataclass(frozen=True)
class Step:
    """What one finding does to its alert: the new state, breach count and event."""

    state: str | None
    breach_runs: int
    event: str | None  # "fire" | "resolve" | None


def transition(state: str | None, breach_runs: int, finding: Finding) -> Step:
    if finding.breaching:
        count = breach_runs + 1 if state in (PENDING, FIRING) else 1
        if state == FIRING:
            return Step(FIRING, count, None)
        if count >= finding.rule.for_runs:
            return Step(FIRING, count, "fire")
        return Step(PENDING, count, None)
    if state == FIRING:
        return Step(RESOLVED, 0, "resolve") if finding.recovered else Step(FIRING, 0, None)
    if state == PENDING:
        return Step(RESOLVED, 0, None)  # cleared before it ever fired: nobody was told
    return Step(state, 0, None)


@dataclass(frozen=True)
class Context:
    environment: str
    run_pk: int
    run_started: datetime
    now: datetime
    dry_run: bool
    config: AlertsConfig
    folding: Folding
    silenced_by: Callable[[dict[str, str]], str | None]


@dataclass(frozen=True)
class Queued:
    fingerprint: str
    channel: str
    kind: str
    status: str
    note: str = ""


@dataclass(frozen=True)
class Outcome:
    fingerprint: str
    rule_id: str
    before: str | None
    after: str | None
    # fired | resolved | reminded | notified (a first notice, late) | pending | cleared |
    # unchanged | already evaluated
    change: str
    title: str
    folded_under: str | None = None
    silenced_by: str | None = None
    queued: list[Queued] = field(default_factory=list)


def apply(cur: Any, findings: list[Finding], ctx: Context) -> list[Outcome]:
    cur.execute(sql.LOCK_ENVIRONMENT, (sql.LOCK_CLASS, ctx.environment))
    fps = [f.fingerprint for f in findings]
    cur.execute(sql.ALERTS_OF, {"env": ctx.environment, "fps": fps})
    rows = {row["fingerprint"]: dict(row) for row in cur.fetchall()}
    told = audience.told(cur, ctx.environment, fps, ctx.now)
    outcomes = []
    for finding in findings:
        row = rows.get(finding.fingerprint)
        channels = told.get(row["id"], {}) if row else {}
        outcomes.append(_judge(cur, finding, row, channels, ctx))
    return outcomes + _retire_orphans(cur, ctx)


def _retire_orphans(cur: Any, ctx: Context) -> list[Outcome]:
    """Open alerts whose rule left the config: nothing will judge them again, so they
    resolve now, and the channels told of a firing one hear so (once: it is resolved)."""
    cur.execute(sql.ORPHANS, {"env": ctx.environment, "rules": [r.id for r in ctx.config.rules]})
    rows = [dict(r) for r in cur.fetchall()]
    fps = [r["fingerprint"] for r in rows]
    told = audience.told(cur, ctx.environment, fps, ctx.now) if rows else {}
    return [_retire(cur, row, told.get(row["id"], {}), ctx) for row in rows]


def _retire(cur: Any, row: dict[str, Any], told: dict[str, audience.Told], ctx: Context) -> Outcome:
    before = row["state"]
    base = Outcome(row["fingerprint"], row["rule_id"], before, before, "unchanged", row["title"])
    if _judged_already(row, ctx):
        return replace(base, change="already evaluated")
    new = {**row, "state": RESOLVED, "breach_runs": 0}
    queued = []
    if before == FIRING:
        new["resolved_at"] = ctx.now
        reached = audience.reached(told)
        if reached:
            new.update(notice_seq=row["notice_seq"] + 1, last_notice_run=ctx.run_pk)
            content = _retired_content(new)
            queued = _queue(cur, new, "resolve", reached, content, ctx, None)
    _save(cur, new, ctx)
    change = "resolved" if before == FIRING else "cleared"
    return replace(base, after=RESOLVED, change=change, queued=queued)


def _retired_content(new: Mapping[str, Any]) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    scope = new["scope"] or {}
    return {
        "fingerprint": new["fingerprint"],
        "notice_seq": new["notice_seq"],
        "rule_id": new["rule_id"],
        "rule_kind": new["rule_kind"],
        "severity": new["severity"],
        "state": RESOLVED,
        "title": RULE_REMOVED,
        "fired_title": new["title"] or None,
        "scope": scope,
        "target": scope.get("target"),
        "family": scope.get("family"),
        "detail": {},
        "first_seen": iso(new["first_seen"]),
        "fired_at": iso(new["fired_at"]),
        "resolved_at": iso(new["resolved_at"]),
        "folding": None,
    }


def _save(cur: Any, new: Mapping[str, Any], ctx: Context) -> None:
    cur.execute(
        sql.UPDATE_ALERT,
        {**new, "detail": Json(new["detail"]), "run": ctx.run_pk, "run_started": ctx.run_started},
    )


def _judged_already(row: Mapping[str, Any] | None, ctx: Context) -> bool:
    if row is None:
        return False
    return (row["last_run_started"], row["last_run"] or 0) >= (ctx.run_started, ctx.run_pk)


def _judge(
    cur: Any,
    finding: Finding,
    row: dict[str, Any] | None,
    told: dict[str, audience.Told],
    ctx: Context,
) -> Outcome:
    fp, rule = finding.fingerprint, finding.rule
    before = row["state"] if row else None
    folded_under = ctx.folding.parent_of.get(fp)
    silenced = ctx.silenced_by(finding.labels(ctx.environment))
    base = Outcome(fp, rule.id, before, before, "unchanged", finding.title, folded_under, silenced)
    if _judged_already(row, ctx):
        return replace(base, change="already evaluated")
    step = transition(before, row["breach_runs"] if row else 0, finding)
    if row is None and step.state is None:
        return base
    if row is None:
        row = _insert(cur, finding, ctx)
    new = _moved(row, finding, step, ctx, folded_under)
    plan = audience.plan(
        ctx.config.channels_for(finding.rule),
        step.event,
        step.state == FIRING,
        told,
        finding.rule.repeat_interval,
        ctx.now,
        folded=folded_under is not None,
        silenced=silenced is not None,
    )
    queued: list[Queued] = []
    if plan:
        new["notice_seq"] = row["notice_seq"] + 1
        new["last_notice_run"] = ctx.run_pk
        content = _content(finding, row, new, ctx)
        for kind in dict.fromkeys(plan.values()):  # one notice, per channel its kind
            channels = [c for c, k in plan.items() if k == kind]
            queued += _queue(cur, new, kind, channels, content, ctx, silenced)
    _save(cur, new, ctx)
    change = _change(step, before, {q.kind for q in queued})
    return replace(base, after=step.state, change=change, queued=queued)


def _insert(cur: Any, finding: Finding, ctx: Context) -> dict[str, Any]:
    cur.execute(
        sql.INSERT_ALERT,
        {
            "env": ctx.environment,
            "fingerprint": finding.fingerprint,
            "rule_id": finding.rule.id,
            "rule_kind": getattr(finding.rule, "kind", ""),
            "scope": Json(finding.scope),
            "severity": finding.rule.severity.value,
            "now": ctx.now,
        },
    )
    return dict(cur.fetchone())


def _moved(
    row: dict[str, Any], finding: Finding, step: Step, ctx: Context, folded: str | None
) -> dict[str, Any]:
    new = dict(row)
    new_episode = step.event == "fire"
    starting = row["state"] not in (PENDING, FIRING) and step.state in (PENDING, FIRING)
    new.update(
        state=step.state,
        breach_runs=step.breach_runs,
        folded_under=folded,
        severity=finding.rule.severity.value,
    )
    if finding.breaching:
        new.update(title=finding.title, detail=finding.detail, last_seen=ctx.now)
    if starting:
        new.update(first_seen=ctx.now, fired_at=None, resolved_at=None)
    if new_episode:
        new.update(episode=row["episode"] + 1, fired_at=ctx.now, resolved_at=None)
    if step.event == "resolve":
        new["resolved_at"] = ctx.now
    return new


def _content(
    finding: Finding, row: Mapping[str, Any], new: Mapping[str, Any], ctx: Context
) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "fingerprint": finding.fingerprint,
        "notice_seq": new["notice_seq"],
        "rule_id": finding.rule.id,
        "rule_kind": getattr(finding.rule, "kind", ""),
        "severity": finding.rule.severity.value,
        "state": new["state"],
        "title": finding.title,
        "fired_title": row["title"] or None,
        "scope": finding.scope,
        "target": finding.target,
        "family": finding.family,
        "detail": finding.detail,
        "first_seen": iso(new["first_seen"]),
        "fired_at": iso(new["fired_at"]),
        "resolved_at": iso(new["resolved_at"]),
        "folding": ctx.folding.extra.get(finding.fingerprint),
    }


def _queue(
    cur: Any,
    new: Mapping[str, Any],
    kind: str,
    channels: list[str],
    content: dict[str, Any],
    ctx: Context,
    silenced: str | None,
) -> list[Queued]:
    status, note = "pending", ""
    if ctx.dry_run:
        status, note = "dry_run", DRY_RUN_NOTE
    elif silenced is not None and kind != "resolve":
        status, note = "silenced", f"not sent: silenced by {silenced}"
    queued = []
    for channel in channels:
        cur.execute(
            sql.QUEUE_NOTICE,
            {
                "alert": new["id"],
                "notice_seq": new["notice_seq"],
                "episode": new["episode"],
                "channel": channel,
                "kind": kind,
                "run": ctx.run_pk,
                "status": status,
                "error": note,
                "content": Json(content),
                "now": ctx.now,
            },
        )
        if cur.fetchone() is not None:
            queued.append(Queued(new["fingerprint"], channel, kind, status, note))
    return queued


def _change(step: Step, before: str | None, kinds: set[str]) -> str:
    if step.event == "fire":
        return "fired"
    if step.event == "resolve":
        return "resolved"
    if "reminder" in kinds:
        return "reminded"
    if "firing" in kinds:
        return "notified"
    if step.state == PENDING:
        return "pending"
    if before == PENDING and step.state == RESOLVED:
        return "cleared"
    return "unchanged"
