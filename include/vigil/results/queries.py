"""The store's SQL and the mapping from rows back to records.

Each query names the index it relies on (see migrations/0001_initial.sql); the
integration tests check with EXPLAIN that PostgreSQL does use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vigil.result import CheckResult, Status
from vigil.results.models import (
    FailureRate,
    HistoryEntry,
    RunCounts,
    RunRef,
    RunState,
    RunSummary,
)

RESULT_COLUMNS = (
    "check_id", "family", "check_kind", "parent", "target", "status", "severity", "started_at",
    "duration_ms",
    "observed", "expected", "message", "details",
)  # fmt: skip
_C_COLUMNS = ", ".join(f"c.{col}" for col in RESULT_COLUMNS)

# --- writes -------------------------------------------------------------------------

START_RUN = """
INSERT INTO vigil.runs AS r (environment, cadence, dag_id, run_id, started_at, dry_run, params)
VALUES (%(environment)s, %(cadence)s, %(dag_id)s, %(run_id)s, COALESCE(%(started_at)s, now()),
        %(dry_run)s, COALESCE(%(params)s, '{}'::jsonb))
ON CONFLICT (dag_id, run_id) DO UPDATE SET
    started_at = COALESCE(%(started_at)s, r.started_at),
    dry_run = EXCLUDED.dry_run,
    params = COALESCE(%(params)s, r.params)
RETURNING id, environment, cadence
"""

# Creates the run when start_run was not called, else leaves it as it is; either way it
# locks the run's row until commit, so concurrent writers of one run recount in turn.
ENSURE_RUN = """
INSERT INTO vigil.runs AS r (environment, cadence, dag_id, run_id, started_at)
VALUES (%(environment)s, %(cadence)s, %(dag_id)s, %(run_id)s, COALESCE(%(started_at)s, now()))
ON CONFLICT (dag_id, run_id) DO UPDATE SET dag_id = r.dag_id
RETURNING id, environment, cadence
"""

# Upsert on UNIQUE (run, check_id): a retried task replaces its earlier results.
# One task's earlier rows that its latest attempt no longer reports.
DELETE_STALE = """
DELETE FROM vigil.check_results
WHERE run = %(run)s AND family = %(family)s AND target = %(target)s
  AND (%(check)s::text IS NULL OR coalesce(parent, check_id) = %(check)s)
  AND NOT (check_id = ANY(%(keep)s::text[]))
"""

UPSERT_RESULTS = f"""
INSERT INTO vigil.check_results (run, environment, {", ".join(RESULT_COLUMNS)})
VALUES %s
ON CONFLICT (run, check_id) DO UPDATE SET
    {", ".join(f"{col} = EXCLUDED.{col}" for col in RESULT_COLUMNS if col != "check_id")},
    recorded_at = now()
"""

# A run's counts by status, over its check_results rows (the run's own and each family's).
_STATUS_COUNTS = """
           count(*) FILTER (WHERE status = 'passed') AS passed,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           count(*) FILTER (WHERE status = 'error') AS error,
           count(*) FILTER (WHERE status = 'skipped') AS skipped,
           count(*) FILTER (WHERE status IN ('failed', 'error')
                            AND severity = 'critical') AS critical_problems"""

# Counts are recomputed from the stored results, never incremented: replaying a write
# cannot count twice. A finished run's state follows its results (a task cleared and
# re-run after the run ended); `finish` ends a running one.
REFRESH_RUN = f"""
UPDATE vigil.runs r SET
    total = c.total, passed = c.passed, failed = c.failed, error = c.error,
    skipped = c.skipped, critical_problems = c.critical_problems,
    state = CASE WHEN r.state = 'running' AND NOT %(finish)s THEN 'running'
                 WHEN c.critical_problems > 0 THEN 'failed' ELSE 'success' END,
    ended_at = CASE WHEN %(finish)s THEN COALESCE(%(ended_at)s, now()) ELSE r.ended_at END
FROM (
    SELECT count(*) AS total,{_STATUS_COUNTS}
    FROM vigil.check_results WHERE run = %(run)s
) c
WHERE r.id = %(run)s
RETURNING r.*
"""

# The run's per-family counts (migration 0007), recomputed with the run's own; a family
# whose results all went (a retry that replaced them) loses its row.
REFRESH_RUN_FAMILIES = f"""
WITH counts AS (
    SELECT family,{_STATUS_COUNTS}
    FROM vigil.check_results WHERE run = %(run)s GROUP BY family
), gone AS (
    DELETE FROM vigil.run_families f
    WHERE f.run = %(run)s AND f.family NOT IN (SELECT family FROM counts)
)
INSERT INTO vigil.run_families AS f
    (run, environment, family, started_at, passed, failed, error, skipped, critical_problems)
SELECT r.id, r.environment, c.family, r.started_at, c.passed, c.failed, c.error, c.skipped,
       c.critical_problems
FROM counts c CROSS JOIN vigil.runs r WHERE r.id = %(run)s
ON CONFLICT (run, family) DO UPDATE SET
    started_at = EXCLUDED.started_at, passed = EXCLUDED.passed, failed = EXCLUDED.failed,
    error = EXCLUDED.error, skipped = EXCLUDED.skipped,
    critical_problems = EXCLUDED.critical_problems
"""

# --- reads --------------------------------------------------------------------------

# Index: check_results_run_check_key (run, check_id).
RUN_RESULTS = f"""
SELECT {_C_COLUMNS}
FROM vigil.check_results c JOIN vigil.runs r ON r.id = c.run
WHERE r.dag_id = %(dag_id)s AND r.run_id = %(run_id)s
  AND (%(family)s::text IS NULL OR c.family = %(family)s)
  AND (%(targets)s::text[] IS NULL OR c.target = ANY(%(targets)s::text[]))
ORDER BY c.check_id
"""

# Index: check_results_env_check_started_idx. A skip scan: walk the distinct check ids of
# the environment one index probe at a time, then take each one's newest row. Costs one
# probe per check instead of reading the environment's whole history.
LATEST_RESULTS = f"""
WITH RECURSIVE ids(check_id) AS (
    (SELECT check_id FROM vigil.check_results
     WHERE environment = %(env)s ORDER BY check_id LIMIT 1)
  UNION ALL
    SELECT (SELECT c.check_id FROM vigil.check_results c
            WHERE c.environment = %(env)s AND c.check_id > ids.check_id
            ORDER BY c.check_id LIMIT 1)
    FROM ids WHERE ids.check_id IS NOT NULL
)
SELECT latest.* FROM ids CROSS JOIN LATERAL (
    SELECT {_C_COLUMNS} FROM vigil.check_results c
    WHERE c.environment = %(env)s AND c.check_id = ids.check_id
    ORDER BY c.started_at DESC, c.id DESC LIMIT 1
) latest
ORDER BY latest.check_id
"""

# Index: check_results_env_check_started_idx, read newest first and cut by LIMIT or cutoff.
CHECK_HISTORY = """
SELECT r.run_id, r.cadence, c.status, c.duration_ms, c.started_at, c.message
FROM vigil.check_results c JOIN vigil.runs r ON r.id = c.run
WHERE c.environment = %(env)s AND c.check_id = %(check_id)s
  AND c.started_at >= COALESCE(%(cutoff)s, '-infinity'::timestamptz)
ORDER BY c.started_at DESC, c.id DESC
LIMIT %(limit)s
"""

# Index: runs_env_started_idx.
RECENT_RUNS = """
SELECT * FROM vigil.runs WHERE environment = %(env)s
ORDER BY started_at DESC, id DESC LIMIT %(limit)s
"""

GROUPABLE = {
    "family": "c.family",
    "target": "c.target",
    "check_id": "c.check_id",
    "severity": "c.severity",
    "cadence": "r.cadence",
}


def failure_rate_sql(by: Sequence[str], last_runs: bool) -> str:
    """The failure-rate query, grouped by `by` (validated against GROUPABLE).

    With `last_runs`: runs_env_started_idx picks the N newest runs, then
    check_results_run_check_key fetches their results. With only a cutoff:
    check_results_env_started_idx reads the window (index-only once vacuumed).
    """
    unknown = [key for key in by if key not in GROUPABLE]
    if unknown:
        raise ValueError(
            f"failure_rate: cannot group by {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(GROUPABLE)}"
        )
    columns = [f"{GROUPABLE[key]} AS {key}" for key in by]
    source = "vigil.check_results c"
    if last_runs:
        source = (
            "(SELECT id FROM vigil.runs WHERE environment = %(env)s"
            " ORDER BY started_at DESC, id DESC LIMIT %(last_runs)s) chosen"
            " JOIN vigil.check_results c ON c.run = chosen.id"
        )
    if "cadence" in by:
        source += " JOIN vigil.runs r ON r.id = c.run"
    group = ", ".join(GROUPABLE[key] for key in by) or "()"
    return f"""
SELECT {", ".join([*columns, ""])}
       count(*) FILTER (WHERE c.status <> 'skipped') AS total,
       count(*) FILTER (WHERE c.status IN ('failed', 'error')) AS problems,
       count(*) FILTER (WHERE c.status = 'skipped') AS skipped
FROM {source}
WHERE c.environment = %(env)s
  AND c.started_at >= COALESCE(%(cutoff)s, '-infinity'::timestamptz)
GROUP BY {group}
"""


# --- rows back to records -----------------------------------------------------------


def to_result(row: Mapping[str, Any]) -> CheckResult:
    return CheckResult.model_validate({col: row[col] for col in RESULT_COLUMNS})


def to_summary(row: Mapping[str, Any]) -> RunSummary:
    return RunSummary(
        ref=RunRef(row["environment"], row["cadence"], row["dag_id"], row["run_id"]),
        state=RunState(row["state"]),
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        counts=RunCounts(row["total"], row["passed"], row["failed"], row["error"], row["skipped"]),
        critical_problems=row["critical_problems"],
        dry_run=row["dry_run"],
        params=row["params"] or {},
    )


def to_history(row: Mapping[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        run_id=row["run_id"],
        cadence=row["cadence"],
        status=Status(row["status"]),
        duration_ms=row["duration_ms"],
        started_at=row["started_at"],
        message=row["message"],
    )


def to_failure_rate(row: Mapping[str, Any], by: Sequence[str]) -> FailureRate:
    return FailureRate(
        key={key: row[key] for key in by},
        total=row["total"],
        problems=row["problems"],
        skipped=row["skipped"],
    )
