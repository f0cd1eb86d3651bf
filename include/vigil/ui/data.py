"""The UI's reads of the results store: SQL constants and the records they map to.

Every query runs through `ResultStore.read` (schema ensured, read-only transaction, errors
as StoreError), names the index it relies on (migrations/0001_initial.sql, 0002_alerts.sql)
and is bounded: by a LIMIT, a time window, or the newest N runs of an environment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from vigil.reports.data import Counts
from vigil.result import CheckResult, Status
from vigil.results import ResultStore, RunSummary
from vigil.results import queries as store_queries

MAX_ENVIRONMENTS = 100
# The newest runs of an environment the overview looks through for each family's latest
# run: a weekly or monthly family shows up among them next to daily runs.
FAMILY_RUNS = 60
MAX_ALERTS = 200
TIMELINE_NOTICES = 20
MAX_SILENCES = 50
MAX_RUNS = 500

# --- environments and the overview ----------------------------------------------------

# Index: runs_env_started_idx (environment, started_at DESC, id DESC). A skip scan: one
# index probe per distinct environment instead of reading every run.
ENVIRONMENTS = """
WITH RECURSIVE envs(environment) AS (
    (SELECT environment FROM vigil.runs ORDER BY environment LIMIT 1)
  UNION ALL
    SELECT (SELECT r.environment FROM vigil.runs r
            WHERE r.environment > envs.environment ORDER BY r.environment LIMIT 1)
    FROM envs WHERE envs.environment IS NOT NULL
)
SELECT environment FROM envs WHERE environment IS NOT NULL LIMIT %(limit)s
"""

# Index: runs_env_started_idx picks each environment's newest run.
LATEST_RUNS = """
SELECT latest.* FROM unnest(%(envs)s::text[]) AS e(environment)
CROSS JOIN LATERAL (
    SELECT * FROM vigil.runs r WHERE r.environment = e.environment
    ORDER BY r.started_at DESC, r.id DESC LIMIT 1
) latest
"""

# Index: runs_env_started_idx picks each environment's newest %(runs)s runs, then
# run_families' primary key (run, family) their per-family counts (migration 0007, kept on
# every write): one row per run and family, newest run first, never a result row read.
FAMILY_RUN_COUNTS = """
SELECT r.environment, r.dag_id, r.run_id, r.cadence, r.state, r.started_at, r.ended_at,
       f.family, f.passed, f.failed, f.error, f.skipped, f.critical_problems
FROM unnest(%(envs)s::text[]) AS e(environment)
CROSS JOIN LATERAL (
    SELECT * FROM vigil.runs r WHERE r.environment = e.environment
    ORDER BY r.started_at DESC, r.id DESC LIMIT %(runs)s
) r
JOIN vigil.run_families f ON f.run = r.id
ORDER BY r.environment, r.started_at DESC, r.id DESC, f.family
"""

# Index: run_families_env_started_idx (environment, started_at): the last 30 days' runs,
# counted per family already.
PASS_RATES = """
SELECT environment, family,
       sum(passed) FILTER (WHERE started_at >= %(short)s) AS passed_short,
       sum(passed + failed + error) FILTER (WHERE started_at >= %(short)s) AS ran_short,
       sum(passed) AS passed_long,
       sum(passed + failed + error) AS ran_long
FROM vigil.run_families
WHERE environment = ANY(%(envs)s::text[]) AND started_at >= %(long)s
GROUP BY environment, family
"""

# Index: alerts_env_state_idx (environment, state).
OPEN_ALERTS = """
SELECT environment, state, severity, count(*) AS n
FROM vigil.alerts
WHERE environment = ANY(%(envs)s::text[]) AND state IN ('pending', 'firing')
GROUP BY environment, state, severity
"""

# --- alerts -----------------------------------------------------------------------------

# Index: alerts_env_state_idx serves the open alerts of one environment; the resolved
# ones are cut by the window and the LIMIT (one row per rule and scope: a small table).
# The newest notice of each alert (its target and family as the engine saw them, and
# whether it was silenced) comes through alert_notifications_once_key (alert, notice_seq).
ALERTS = """
SELECT a.id, a.environment, a.fingerprint, a.rule_id, a.rule_kind, a.scope, a.severity,
       a.state, a.episode, a.title, a.detail, a.folded_under, a.first_seen, a.last_seen,
       a.fired_at, a.resolved_at, a.last_notified_at, a.updated_at,
       last_notice.content->>'target' AS target, last_notice.content->>'family' AS family,
       last_notice.status AS last_notice_status, last_notice.error AS last_notice_note,
       lr.dag_id AS last_dag_id, lr.run_id AS last_run_id
FROM vigil.alerts a
LEFT JOIN LATERAL (
    SELECT n.content, n.status, n.error FROM vigil.alert_notifications n
    WHERE n.alert = a.id ORDER BY n.notice_seq DESC, n.id DESC LIMIT 1
) last_notice ON true
LEFT JOIN vigil.runs lr ON lr.id = a.last_run
WHERE (%(env)s::text IS NULL OR a.environment = %(env)s)
  AND (a.state IN ('pending', 'firing')
       OR COALESCE(a.resolved_at, a.last_seen, a.first_seen) >= %(since)s)
ORDER BY CASE a.state WHEN 'firing' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END,
         CASE a.severity WHEN 'critical' THEN 0 ELSE 1 END,
         COALESCE(a.resolved_at, a.fired_at, a.first_seen) DESC, a.id DESC
LIMIT %(limit)s
"""

# Index: alert_notifications_once_key (alert, notice_seq, channel): each alert's newest
# notices, newest first.
TIMELINES = """
SELECT a.id AS alert, n.notice_seq, n.episode, n.channel, n.kind, n.status, n.error,
       n.tries, n.evaluated_at, n.finished_at, r.dag_id, r.run_id
FROM unnest(%(ids)s::bigint[]) AS a(id)
CROSS JOIN LATERAL (
    SELECT * FROM vigil.alert_notifications n WHERE n.alert = a.id
    ORDER BY n.notice_seq DESC, n.id DESC LIMIT %(limit)s
) n
LEFT JOIN vigil.runs r ON r.id = n.run
ORDER BY a.id, n.notice_seq DESC, n.id DESC
"""

# Silences that ended or were removed recently (the ones in force come from
# vigil.alerts.silences.list_silences). A small table, cut by the LIMIT.
PAST_SILENCES = """
SELECT * FROM vigil.silences
WHERE (removed_at IS NOT NULL OR until <= %(now)s) AND COALESCE(removed_at, until) >= %(since)s
ORDER BY COALESCE(removed_at, until) DESC, id DESC
LIMIT %(limit)s
"""

# --- one environment --------------------------------------------------------------------

# Index: runs_env_started_idx, read newest first within the window.
WINDOW_RUNS = """
SELECT * FROM vigil.runs
WHERE environment = %(env)s AND started_at >= %(start)s AND started_at < %(end)s
ORDER BY started_at DESC, id DESC
LIMIT %(limit)s
"""

# --- one check ----------------------------------------------------------------------------

_RESULT_COLUMNS = ", ".join(f"c.{col}" for col in store_queries.RESULT_COLUMNS)

# Index: check_results_env_check_started_idx (environment, check_id, started_at DESC, id
# DESC), read newest first and cut by the LIMIT.
CHECK_HISTORY = """
SELECT r.dag_id, r.run_id, r.cadence, c.status, c.severity, c.duration_ms, c.started_at,
       c.message
FROM vigil.check_results c JOIN vigil.runs r ON r.id = c.run
WHERE c.environment = %(env)s AND c.check_id = %(check_id)s
ORDER BY c.started_at DESC, c.id DESC
LIMIT %(limit)s
"""

# Index: check_results_env_check_started_idx; the newest row (of a problem, with
# %(problems)s) within the cutoff.
LATEST_RESULT = f"""
SELECT {_RESULT_COLUMNS}, c.run AS run_pk, r.dag_id, r.run_id, r.cadence
FROM vigil.check_results c JOIN vigil.runs r ON r.id = c.run
WHERE c.environment = %(env)s AND c.check_id = %(check_id)s
  AND c.started_at >= COALESCE(%(cutoff)s, '-infinity'::timestamptz)
  AND (NOT %(problems)s OR c.status IN ('failed', 'error'))
ORDER BY c.started_at DESC, c.id DESC
LIMIT 1
"""

# Index: check_results_run_check_key (run, check_id): the parts one run reported for a
# spec check (a suite's expectations, a schema-drift check's objects).
PARTS = f"""
SELECT {_RESULT_COLUMNS}
FROM vigil.check_results c
WHERE c.run = %(run)s AND c.parent = %(check_id)s
ORDER BY c.check_id
LIMIT %(limit)s
"""

# --- one run ------------------------------------------------------------------------------

# Index: alert_notifications_run_status_idx (run, status): the notices one run queued.
RUN_NOTICES = """
SELECT a.fingerprint, a.rule_id, a.severity, a.state AS alert_state, n.kind, n.channel,
       n.status, n.error, COALESCE(n.content->>'title', a.title) AS title
FROM vigil.alert_notifications n
JOIN vigil.runs r ON r.id = n.run
JOIN vigil.alerts a ON a.id = n.alert
WHERE r.dag_id = %(dag_id)s AND r.run_id = %(run_id)s
ORDER BY n.id
LIMIT %(limit)s
"""


# --- records ------------------------------------------------------------------------------


def counts_of(row: Mapping[str, Any]) -> Counts:
    return Counts(row["passed"], row["failed"], row["error"], row["skipped"])


@dataclass(frozen=True)
class FamilyRun:
    """One family's results in one run."""

    environment: str
    family: str
    dag_id: str
    run_id: str
    cadence: str
    run_state: str
    started_at: datetime
    ended_at: datetime | None
    counts: Counts
    critical_problems: int

    @property
    def state(self) -> str:
        """failed (a critical check failed or errored), warning (only warnings did),
        passed, or skipped (nothing ran)."""
        if self.critical_problems:
            return "failed"
        if self.counts.problems:
            return "warning"
        return "passed" if self.counts.ran else "skipped"


@dataclass(frozen=True)
class PassRates:
    passed_short: int
    ran_short: int
    passed_long: int
    ran_long: int

    @property
    def short(self) -> float | None:
        return self.passed_short / self.ran_short if self.ran_short else None

    @property
    def long(self) -> float | None:
        return self.passed_long / self.ran_long if self.ran_long else None

    @property
    def failure_short(self) -> float | None:
        rate = self.short
        return None if rate is None else 1 - rate


@dataclass(frozen=True)
class AlertRow:
    id: int
    environment: str
    fingerprint: str
    rule_id: str
    rule_kind: str
    scope: dict[str, Any]
    severity: str
    state: str
    episode: int
    title: str
    detail: dict[str, Any]
    folded_under: str | None
    first_seen: datetime
    last_seen: datetime | None
    fired_at: datetime | None
    resolved_at: datetime | None
    last_notified_at: datetime | None
    updated_at: datetime
    target: str | None
    family: str | None
    last_notice_status: str | None
    last_notice_note: str | None
    last_dag_id: str | None
    last_run_id: str | None

    def labels(self) -> dict[str, str]:
        """The labels silences match on, as the engine gives them (rules.Finding.labels)."""
        labels = {
            "environment": self.environment,
            "rule": self.rule_id,
            "fingerprint": self.fingerprint,
            "severity": self.severity,
        }
        scope = {str(k): str(v) for k, v in (self.scope or {}).items()}
        target = self.target or scope.get("target")
        family = self.family or scope.get("family")
        labels.update({k: v for k, v in (("target", target), ("family", family)) if v})
        labels.update(scope)
        return labels


@dataclass(frozen=True)
class Notice:
    notice_seq: int
    episode: int
    channel: str
    kind: str
    status: str
    error: str
    tries: int
    evaluated_at: datetime
    finished_at: datetime | None
    dag_id: str | None
    run_id: str | None


@dataclass(frozen=True)
class HistoryItem:
    dag_id: str
    run_id: str
    cadence: str
    status: Status
    severity: str
    duration_ms: float
    started_at: datetime
    message: str


@dataclass(frozen=True)
class StoredResult:
    """A result with the run it belongs to."""

    result: CheckResult
    run_pk: int
    dag_id: str
    run_id: str
    cadence: str


@dataclass(frozen=True)
class RunNotice:
    fingerprint: str
    rule_id: str
    severity: str
    alert_state: str
    kind: str
    channel: str
    status: str
    error: str
    title: str


# --- queries ------------------------------------------------------------------------------


def environments(store: ResultStore, limit: int = MAX_ENVIRONMENTS) -> list[str]:
    rows = store.read("list the environments with runs", ENVIRONMENTS, {"limit": limit})
    return [str(row["environment"]) for row in rows]


def latest_runs(store: ResultStore, envs: Sequence[str]) -> dict[str, RunSummary]:
    if not envs:
        return {}
    rows = store.read("read the latest run of each environment", LATEST_RUNS, {"envs": list(envs)})
    return {row["environment"]: store_queries.to_summary(row) for row in rows}


def family_runs(
    store: ResultStore, envs: Sequence[str], runs: int = FAMILY_RUNS
) -> list[FamilyRun]:
    """Per environment, its newest runs' results counted per family, newest run first."""
    if not envs:
        return []
    rows = store.read(
        "count the latest runs' results per family",
        FAMILY_RUN_COUNTS,
        {"envs": list(envs), "runs": runs},
    )
    return [
        FamilyRun(
            row["environment"],
            row["family"],
            row["dag_id"],
            row["run_id"],
            row["cadence"],
            row["state"],
            row["started_at"],
            row["ended_at"],
            counts_of(row),
            row["critical_problems"],
        )
        for row in rows
    ]


def pass_rates(
    store: ResultStore, envs: Sequence[str], now: datetime, short: int = 7, long: int = 30
) -> dict[tuple[str, str], PassRates]:
    """Pass rates per environment and family over the last `short` and `long` days."""
    if not envs:
        return {}
    params = {
        "envs": list(envs),
        "short": now - timedelta(days=short),
        "long": now - timedelta(days=long),
    }
    rows = store.read("compute pass rates per family", PASS_RATES, params)
    return {
        (row["environment"], row["family"]): PassRates(
            int(row["passed_short"] or 0),
            int(row["ran_short"] or 0),
            int(row["passed_long"] or 0),
            int(row["ran_long"] or 0),
        )
        for row in rows
    }


def open_alert_counts(store: ResultStore, envs: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per environment: {"firing": n, "pending": n, "critical": n} of its open alerts."""
    if not envs:
        return {}
    rows = store.read("count the open alerts", OPEN_ALERTS, {"envs": list(envs)})
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        env = out.setdefault(row["environment"], {"firing": 0, "pending": 0, "critical": 0})
        env[row["state"]] += row["n"]
        if row["state"] == "firing" and row["severity"] == "critical":
            env["critical"] += row["n"]
    return out


def alerts(
    store: ResultStore,
    environment: str | None,
    *,
    since: datetime,
    limit: int = MAX_ALERTS,
) -> list[AlertRow]:
    """Open alerts, and those that changed since `since`: firing first, then pending,
    then the rest; critical before warning; newest first."""
    params = {"env": environment, "since": since, "limit": limit}
    rows = store.read("read the alerts", ALERTS, params)
    fields = AlertRow.__dataclass_fields__
    return [AlertRow(**{k: row[k] for k in fields}) for row in rows]


def timelines(
    store: ResultStore, ids: Sequence[int], per_alert: int = TIMELINE_NOTICES
) -> dict[int, list[Notice]]:
    """Each alert's newest notices, newest first."""
    if not ids:
        return {}
    rows = store.read("read the alerts' notices", TIMELINES, {"ids": list(ids), "limit": per_alert})
    out: dict[int, list[Notice]] = {}
    fields = Notice.__dataclass_fields__
    for row in rows:
        out.setdefault(row["alert"], []).append(Notice(**{k: row[k] for k in fields}))
    return out


def past_silences(
    store: ResultStore, now: datetime, days: int = 30, limit: int = MAX_SILENCES
) -> list[dict[str, Any]]:
    params = {"now": now, "since": now - timedelta(days=days), "limit": limit}
    return [dict(row) for row in store.read("read past silences", PAST_SILENCES, params)]


def window_runs(
    store: ResultStore, environment: str, start: datetime, end: datetime, limit: int = MAX_RUNS
) -> list[RunSummary]:
    """The window's runs (the newest `limit` of them), oldest first."""
    params = {"env": environment, "start": start, "end": end, "limit": limit}
    rows = store.read(f"read the runs of {environment!r}", WINDOW_RUNS, params)
    return [store_queries.to_summary(row) for row in reversed(rows)]


def check_history(
    store: ResultStore, environment: str, check_id: str, limit: int
) -> list[HistoryItem]:
    """The check's newest `limit` results, newest first."""
    params = {"env": environment, "check_id": check_id, "limit": limit}
    rows = store.read(f"read the history of check {check_id!r}", CHECK_HISTORY, params)
    return [
        HistoryItem(
            row["dag_id"],
            row["run_id"],
            row["cadence"],
            Status(row["status"]),
            row["severity"],
            row["duration_ms"],
            row["started_at"],
            row["message"],
        )
        for row in rows
    ]


def latest_result(
    store: ResultStore,
    environment: str,
    check_id: str,
    *,
    problems: bool = False,
    cutoff: datetime | None = None,
) -> StoredResult | None:
    """The check's newest result (its newest failure or error, with `problems`)."""
    params = {"env": environment, "check_id": check_id, "problems": problems, "cutoff": cutoff}
    rows = store.read(f"read the latest result of check {check_id!r}", LATEST_RESULT, params)
    if not rows:
        return None
    row = rows[0]
    return StoredResult(
        store_queries.to_result(row), row["run_pk"], row["dag_id"], row["run_id"], row["cadence"]
    )


def parts(store: ResultStore, run_pk: int, check_id: str, limit: int = 200) -> list[CheckResult]:
    params = {"run": run_pk, "check_id": check_id, "limit": limit}
    rows = store.read(f"read the parts of check {check_id!r}", PARTS, params)
    return [store_queries.to_result(row) for row in rows]


def run_notices(store: ResultStore, dag_id: str, run_id: str, limit: int = 500) -> list[RunNotice]:
    params = {"dag_id": dag_id, "run_id": run_id, "limit": limit}
    rows = store.read(f"read the notices of run {dag_id}/{run_id}", RUN_NOTICES, params)
    fields = RunNotice.__dataclass_fields__
    return [RunNotice(**{k: row[k] for k in fields}) for row in rows]
