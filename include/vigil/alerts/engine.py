"""evaluate(): judge every rule for one run, move alert state, tell each channel once.

1. Load the run and the history before it; every rule yields its findings.
2. In one transaction holding the environment's lock: settle alerts about parts their
   parent no longer reports (alerts.parts); fold alerts about a target whose health failed
   under that target's health alert; move each alert, queue the notices its move owes;
   give up failed notices past their bounds; claim this run's queued notices and older
   ones still owed (one that failed, a claim left by a dead sender). A dry run rolls the
   state back and claims nothing.
3. After commit: one digest per channel, delivered with bounded retries; outcomes recorded
   (a notice failing its last try is given up).

A channel that fails is recorded as failed and never raises; the results store being
unreachable does raise (StoreError): nothing can be judged without it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from vigil.alerts import outbox, parts, sql, state
from vigil.alerts.access import connect_kwargs, open_store
from vigil.alerts.channels import build_sender
from vigil.alerts.delivery import Sender
from vigil.alerts.folding import fold
from vigil.alerts.history import History, load_history, load_older
from vigil.alerts.resolver import Resolver
from vigil.alerts.rules import evaluate_rules, reach, runs_out
from vigil.alerts.silences import Silence, active_silences, first_match, unreadable
from vigil.results import db
from vigil.results.models import RunRef
from vigil.results.store import ResultStore
from vigil.spec.alerts import AlertsConfig, WindowFailureRate
from vigil.spec.windows import MaintenanceWindow, matches

log = logging.getLogger(__name__)
# The first history load holds this many times the runs the rules reach: room for runs a
# check skipped, runs of other cadences, runs left out of a baseline, so that loading
# further stays the exception. Each further load doubles the history: it reads only the
# runs not loaded yet, so small steps cost a query each and read no run twice.
REACH_SLACK = 2
WIDEN = 2
RUN_NOTIFICATIONS = """
SELECT n.id, a.fingerprint, n.channel, n.kind, n.status, n.attempts, n.error
FROM vigil.alert_notifications n JOIN vigil.alerts a ON a.id = n.alert
WHERE n.run = %(run)s ORDER BY n.id
"""


@dataclass(frozen=True)
class NotificationRecord:
    fingerprint: str
    channel: str
    kind: str  # firing | resolve | reminder
    status: str  # sent | failed | silenced | dry_run | pending | sending
    attempts: int
    error: str


@dataclass
class EvaluationReport:
    run: RunRef
    evaluated_at: datetime
    dry_run: bool
    alerts: list[state.Outcome] = field(default_factory=list)
    deliveries: list[outbox.Delivered] = field(default_factory=list)
    notifications: list[NotificationRecord] = field(default_factory=list)  # this run's log
    given_up: list[outbox.GivenUp] = field(default_factory=list)  # notices no longer tried
    problems: list[str] = field(default_factory=list)

    def changed(self, change: str) -> list[str]:
        return [a.fingerprint for a in self.alerts if a.change == change]

    @property
    def firing(self) -> list[str]:
        return [a.fingerprint for a in self.alerts if a.after == state.FIRING]

    @property
    def failed_deliveries(self) -> list[outbox.Delivered]:
        return [d for d in self.deliveries if not d.ok]

    def summary(self) -> str:
        counts = {c: len(self.changed(c)) for c in ("fired", "resolved", "reminded", "notified")}
        late = f", {counts['notified']} told late" if counts["notified"] else ""
        sent = sum(d.notices for d in self.deliveries if d.ok)
        failed = ", ".join(
            f"{d.channel} ({d.error}; {d.kept} notice(s) kept to retry)"
            for d in self.failed_deliveries
        )
        given_up = f"; {len(self.given_up)} notice(s) given up" if self.given_up else ""
        dry = " (dry run: nothing sent)" if self.dry_run else ""
        return (
            f"alerts for run {self.run}: {len(self.firing)} firing; {counts['fired']} fired, "
            f"{counts['resolved']} resolved, {counts['reminded']} reminded{late}; {sent} notice(s) "
            f"delivered in {len([d for d in self.deliveries if d.ok])} digest(s)"
            + (f"; failed: {failed}" if failed else "")
            + given_up
            + dry
        )


def evaluate(
    store_or_dsn: ResultStore | Mapping[str, Any] | str,
    run: RunRef,
    config: AlertsConfig,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    senders: Mapping[str, Sender] | None = None,
    resolver: Resolver | None = None,
) -> EvaluationReport:
    """Evaluate `config`'s rules for `run` and notify. `senders` replaces the sender of
    the channels it names (the Airflow seam passes them, or a `resolver` whose
    `connection` is Airflow's). A run stored as a dry run is evaluated as one."""
    now = _aware(now or datetime.now(UTC))
    kwargs = connect_kwargs(open_store(store_or_dsn), f"evaluate alerts for run {run}")
    history = load_rule_history(kwargs, run, config)
    current = history.current
    report = EvaluationReport(run, now, dry_run or current.dry_run)
    if history.truncated:
        report.problems.append("history cut at the run cap: a time window may be short")
    found = evaluate_rules(config.rules, history)
    with db.transaction(kwargs, f"move alert state for run {run}") as cur:
        cur.execute(sql.LOCK_ENVIRONMENT, (sql.LOCK_CLASS, run.environment))
        findings = parts.settle(cur, run.environment, found, history, config.rules)
        folding = fold(findings, current)
        ctx = state.Context(
            environment=run.environment,
            run_pk=current.pk,
            run_started=current.started_at,
            now=now,
            dry_run=report.dry_run,
            config=config,
            folding=folding,
            silenced_by=_silencer(config, active_silences(cur, now), now, report.problems),
        )
        claimed: list[outbox.Claimed] = []
        if report.dry_run:
            # Judged for the report, then undone: a later real run must find the state as
            # it was before, or it would never send a resolve the dry run had moved past.
            cur.execute(sql.DRY_RUN_SAVEPOINT)
            report.alerts = state.apply(cur, findings, ctx)
            cur.execute(sql.DRY_RUN_ROLLBACK)
        else:
            report.alerts = state.apply(cur, findings, ctx)
            report.given_up = outbox.give_up_stale(cur, run.environment, now)
            claimed = outbox.claim(cur, current.pk, run.environment, now)
    grouped = outbox.by_channel(claimed)
    resolver = resolver or Resolver()
    ready = _senders(config, senders or {}, resolver, sorted(grouped), report.problems)
    results = outbox.send_all(grouped, ready, run, now, config.delivery, resolver.mask)
    report.deliveries, last_tries = outbox.finish(kwargs, run.environment, grouped, results, now)
    report.given_up += last_tries
    report.notifications = (
        _dry_log(report.alerts) if report.dry_run else _log_of(kwargs, current.pk, run)
    )
    log.info("%s", report.summary())
    return report


def _silencer(
    config: AlertsConfig, silences: list[Silence], now: datetime, problems: list[str]
) -> Callable[[dict[str, str]], str | None]:
    """What holds back an alert with these labels now: an open maintenance window from
    the config, or a silence a person made; None when nothing does."""
    windows = [w for w in config.silences if _window_open(w, now, problems)]
    problems.extend(unreadable(silences))  # first_match skips them: evaluate must not fail

    def silenced_by(labels: dict[str, str]) -> str | None:
        window = next((w for w in windows if matches(w.match, labels)), None)
        if window is not None:
            return f"maintenance window {window.name!r}"
        silence = first_match(silences, labels)
        return silence.describe() if silence else None

    return silenced_by


def _window_open(window: MaintenanceWindow, now: datetime, problems: list[str]) -> bool:
    # A window that cannot be read holds nothing back: a problem reported beats alerts
    # silenced by a typo, and evaluate must not fail over one.
    try:
        return window.is_open(now)
    except (TypeError, ValueError) as exc:
        problems.append(f"maintenance window {window.name!r} ignored: {exc}")
        return False


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError(f"evaluate: now={now.isoformat()} needs a timezone (use UTC)")
    return now


def first_load_runs(config: AlertsConfig) -> int:
    """Runs of the first history load: what the rules reach, with slack, never more than
    alerts.history_runs (the ceiling every rule looks back within)."""
    reached = max((reach(r) for r in config.rules), default=1)
    return min(config.history_runs, reached * REACH_SLACK)


def load_rule_history(kwargs: Mapping[str, Any], run: RunRef, config: AlertsConfig) -> History:
    """The history the rules judge, read as far back as they reach. Loading all of
    alerts.history_runs was 25,000 rows at 125 checks (310 ms at 10 M results) while most
    rules read a handful of runs. While a rule's answer could still change with older runs
    (a streak or a baseline reached the oldest run loaded) and older runs exist within
    history_runs, the history is read further back: the findings are those the whole
    history_runs would give."""
    since = _longest(config)
    runs = first_load_runs(config)
    history = load_history(kwargs, run, runs=runs, since=since)
    while (
        runs < config.history_runs
        and len(history.runs) >= runs  # fewer: every run there is, is loaded
        and any(runs_out(rule, history) for rule in config.rules)
    ):
        runs = min(config.history_runs, max(runs, len(history.runs)) * WIDEN)
        history = load_older(kwargs, history, runs=runs)
    return history


def _longest(config: AlertsConfig) -> timedelta | None:
    spans = [
        r.window.last
        for r in config.rules
        if isinstance(r, WindowFailureRate) and r.window.last is not None
    ]
    return max(spans, default=None)


def _senders(
    config: AlertsConfig,
    given: Mapping[str, Sender],
    resolver: Resolver,
    channels: list[str],
    problems: list[str],
) -> dict[str, Sender | str]:
    """A ready sender, or the problem that stops it, for each channel with notices."""
    ready: dict[str, Sender | str] = {}
    for name in channels:
        if name in given:
            ready[name] = given[name]
            continue
        channel = config.channels.get(name)
        if channel is None:
            problem = f"channel {name!r} is no longer configured"
            ready[name] = problem
            problems.append(problem)
            continue
        sender = build_sender(name, channel, resolver)
        issues = sender.validate(channel)
        ready[name] = "; ".join(issues) if issues else sender
        problems.extend(issues)
    return ready


def _dry_log(alerts: list[state.Outcome]) -> list[NotificationRecord]:
    """What a dry run would have queued (nothing of it is stored)."""
    return [
        NotificationRecord(q.fingerprint, q.channel, q.kind, q.status, 0, q.note)
        for a in alerts
        for q in a.queued
    ]


def _log_of(kwargs: Mapping[str, Any], run_pk: int, run: RunRef) -> list[NotificationRecord]:
    with db.transaction(kwargs, f"read the notification log of run {run}", readonly=True) as cur:
        cur.execute(RUN_NOTIFICATIONS, {"run": run_pk})
        return [
            NotificationRecord(
                r["fingerprint"], r["channel"], r["kind"], r["status"], r["attempts"], r["error"]
            )
            for r in cur.fetchall()
        ]
