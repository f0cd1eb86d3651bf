"""Retention: roll complete days up, prune old raw results, expire old rollups.

`apply_retention(store, policy)` does three steps, each a series of short transactions so
a crash anywhere leaves the store consistent and the next call finishes the work:

1. **Roll up** every complete UTC day not yet rolled up (migration 0008): per day,
   environment, family, target and check, the counts per status, runs, durations, first and
   last status. A day is complete SETTLE after it ended. Recomputing a day replaces its
   rows (delete + insert in one transaction): safe to run twice.
2. **Prune** raw runs that started before `today - raw_days` (UTC), day by day, oldest
   first: the day is rolled up once more from exactly the rows about to go and marked
   `final` (never recomputed again: after a crash its raw rows may be half gone), then its
   runs are deleted in batches of about `batch_results` results, each its own
   transaction. Results, run_families and probe_figures go with their runs (ON DELETE
   CASCADE); alerts keep their rows with the run links set to NULL. The DELETE itself
   requires the day's final rollup: no raw row goes whose day is not rolled up.
3. **Expire** rollups of days before `today - rollup_days`, only of days already pruned.

Every transaction takes one advisory lock, so two maintenance runs at once take turns and
each re-reads the state it acts on.

Plain batched DELETE, not partitions, by measurement (benchmarks/bench_store_scale.py,
10 M results over 400 days x 200 environments, 2026-11-30): pruning one day of 25,000
results took 0.11 s, 300 days (7.5 M results) 57 s, since every table a run cascades to
is indexed by run. Rolling a day up costs more (0.9 s a day of 25,000 results: 367 s for
a first run over 399 days), once per day. Dropping a partition would save a fraction of
a second a day, and cost every query a partition key.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Any

from vigil.results import db
from vigil.results.retention_policy import RetentionPolicy
from vigil.results.store import ResultStore

# Late results (a run that started just before midnight, a task retried in the night)
# land in the day their run started; a day is rolled up only once they had time to.
SETTLE = timedelta(hours=6)
# Results deleted per transaction, about (whole runs: a run never goes half).
BATCH_RESULTS = 50_000

# "vig2" in ASCII: its own class, apart from the migrator's and the alert engine's locks.
LOCK = "SELECT pg_advisory_xact_lock(%s, 0)"
LOCK_CLASS = 0x76696732

FIRST_RUN_DAY = "SELECT (min(started_at) AT TIME ZONE 'UTC')::date AS day FROM vigil.runs"

ROLLED_UP = "SELECT day, final FROM vigil.rollup_days WHERE day >= %(first)s AND day <= %(last)s"

DAY_STATE = "SELECT final, max_run FROM vigil.rollup_days WHERE day = %(day)s"

CLEAR_DAY = "DELETE FROM vigil.daily_rollups WHERE day = %(day)s"

# The day's runs newer than %(after)s (runs_started_idx), then their results
# (check_results_run_check_key): the lateral subquery with OFFSET 0 keeps the planner from
# hashing the runs and scanning every stored result (as vigil.reports.data._WINDOW
# explains). One statement, one snapshot: the runs it reports (max_run) are exactly those
# it rolled up. A fresh roll-up (after 0) follows CLEAR_DAY and meets no conflict; a
# merge (after = the day's max_run) adds late runs to the rows already there.
# min(severity): 'critical' sorts before 'warning', so a check critical once that day is
# critical in its rollup. `runs`: each run counts once, on the row of its first result in
# the key's order (nth = 1), so an environment's rows of a day add up to its runs.
ROLL_UP_DAY = """
WITH day_runs AS MATERIALIZED (
    SELECT id, total FROM vigil.runs
    WHERE started_at >= %(start)s AND started_at < %(end)s AND id > %(after)s
), rolled AS (
    INSERT INTO vigil.daily_rollups AS d (
        day, environment, family, target, check_id, check_kind, parent, severity,
        passed, failed, error, skipped, critical_problems, runs, duration_ms_sum,
        duration_ms_max, duration_ms_p50, first_status, last_status, last_message)
    SELECT %(day)s, c.environment, c.family, c.target, c.check_id, max(c.check_kind),
           max(c.parent), min(c.severity),
           count(*) FILTER (WHERE c.status = 'passed'),
           count(*) FILTER (WHERE c.status = 'failed'),
           count(*) FILTER (WHERE c.status = 'error'),
           count(*) FILTER (WHERE c.status = 'skipped'),
           count(*) FILTER (WHERE c.status IN ('failed', 'error') AND c.severity = 'critical'),
           count(*) FILTER (WHERE c.nth = 1),
           coalesce(sum(c.duration_ms) FILTER (WHERE c.status <> 'skipped'), 0),
           max(c.duration_ms) FILTER (WHERE c.status <> 'skipped'),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY c.duration_ms)
               FILTER (WHERE c.status <> 'skipped'),
           (array_agg(c.status ORDER BY c.started_at, c.id))[1],
           (array_agg(c.status ORDER BY c.started_at DESC, c.id DESC))[1],
           (array_agg(c.message ORDER BY c.started_at DESC, c.id DESC))[1]
    FROM day_runs r
    CROSS JOIN LATERAL (
        SELECT c0.*, row_number() OVER (ORDER BY c0.family, c0.target, c0.check_id) AS nth
        FROM vigil.check_results c0 WHERE c0.run = r.id OFFSET 0
    ) c
    GROUP BY c.environment, c.family, c.target, c.check_id
    ON CONFLICT (day, environment, family, target, check_id) DO UPDATE SET
        severity = least(d.severity, EXCLUDED.severity),
        passed = d.passed + EXCLUDED.passed, failed = d.failed + EXCLUDED.failed,
        error = d.error + EXCLUDED.error, skipped = d.skipped + EXCLUDED.skipped,
        critical_problems = d.critical_problems + EXCLUDED.critical_problems,
        runs = d.runs + EXCLUDED.runs,
        duration_ms_sum = d.duration_ms_sum + EXCLUDED.duration_ms_sum,
        duration_ms_max = greatest(d.duration_ms_max, EXCLUDED.duration_ms_max),
        last_status = EXCLUDED.last_status, last_message = EXCLUDED.last_message
    RETURNING 1
)
SELECT (SELECT count(*) FROM rolled) AS rows,
       (SELECT coalesce(sum(total), 0) FROM day_runs) AS results,
       (SELECT max(id) FROM day_runs) AS max_run
"""

MARK_DAY = """
INSERT INTO vigil.rollup_days AS x (day, results, final, max_run)
VALUES (%(day)s, %(results)s, %(final)s, %(max_run)s)
ON CONFLICT (day) DO UPDATE SET
    results = CASE WHEN %(merged)s THEN x.results + EXCLUDED.results ELSE EXCLUDED.results END,
    final = EXCLUDED.final, max_run = greatest(x.max_run, EXCLUDED.max_run), rolled_up_at = now()
"""

DAY_RUNS = """
SELECT id, total FROM vigil.runs
WHERE started_at >= %(start)s AND started_at < %(end)s
ORDER BY id
"""

# Only runs the day's final rollup holds: the guard is in the statement itself.
DELETE_RUNS = """
DELETE FROM vigil.runs
WHERE id = ANY(%(ids)s) AND started_at >= %(start)s AND started_at < %(end)s
  AND id <= (SELECT max_run FROM vigil.rollup_days WHERE day = %(day)s AND final)
RETURNING total
"""

EXPIRED_DAYS = """
SELECT day FROM vigil.rollup_days WHERE day < %(before)s AND final ORDER BY day
"""

EXPIRE_DAY = """
WITH gone AS (DELETE FROM vigil.daily_rollups WHERE day = %(day)s RETURNING 1)
DELETE FROM vigil.rollup_days WHERE day = %(day)s AND final
RETURNING (SELECT count(*) FROM gone) AS rows
"""


@dataclass
class RetentionOutcome:
    """What one call did, for the maintenance task's log line."""

    policy: RetentionPolicy
    days_rolled_up: int = 0
    rollup_rows: int = 0
    days_pruned: int = 0
    runs_deleted: int = 0
    results_deleted: int = 0
    rollup_days_expired: int = 0
    rollup_rows_expired: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        timings = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        return (
            f"retention ({self.policy.describe()}): rolled up {self.days_rolled_up} day(s) "
            f"into {self.rollup_rows} rollup row(s); pruned {self.days_pruned} day(s): "
            f"{self.runs_deleted} run(s), {self.results_deleted} result(s); expired "
            f"{self.rollup_days_expired} day(s) of rollups ({self.rollup_rows_expired} row(s))"
            + (f" [{timings}]" if timings else "")
        )


def apply_retention(
    store: ResultStore,
    policy: RetentionPolicy,
    *,
    now: datetime | None = None,
    batch_results: int = BATCH_RESULTS,
) -> RetentionOutcome:
    """Roll up, prune and expire as `policy` says (module docstring); `now` for tests."""
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware (e.g. datetime.now(UTC)), got {now!r}")
    if batch_results < 1:
        raise ValueError(f"batch_results must be at least 1, got {batch_results!r}")
    today = now.astimezone(UTC).date()
    prune_before = today - timedelta(days=policy.raw_days)
    outcome = RetentionOutcome(policy)
    with open_session(store) as session:
        with _timed(outcome, "rollup"):
            roll_up_complete_days(session, now, prune_before, outcome)
        with _timed(outcome, "prune"):
            prune_raw(session, prune_before, batch_results, outcome)
        with _timed(outcome, "expire"):
            expire_rollups(session, today - timedelta(days=policy.rollup_days), outcome)
    return outcome


def roll_up_complete_days(
    session: Session, now: datetime, prune_before: date, outcome: RetentionOutcome
) -> None:
    """Step 1. Days about to be pruned are rolled up final at once (no second pass)."""
    last_complete = (now.astimezone(UTC) - SETTLE).date() - timedelta(days=1)
    for day in _days_to_roll_up(session, last_complete):
        with session.step(f"roll up the results of {day}") as cur:
            cur.execute(DAY_STATE, {"day": day})
            if cur.fetchone() is not None:
                continue  # another maintenance run did it meanwhile
            outcome.rollup_rows += _roll_up(cur, day, final=day < prune_before)
            outcome.days_rolled_up += 1


def prune_raw(
    session: Session, prune_before: date, batch_results: int, outcome: RetentionOutcome
) -> None:
    """Step 2: delete the runs of every day before `prune_before`, each day rolled up final
    first."""
    for day in _days_with_runs_before(session, prune_before):
        with session.step(f"finish the rollup of {day} before pruning it") as cur:
            cur.execute(DAY_STATE, {"day": day})
            state = cur.fetchone()
            if state is None or not state["final"]:
                outcome.rollup_rows += _roll_up(cur, day, final=True)
            else:  # runs recorded into the day since its final rollup, if any, join it
                outcome.rollup_rows += _roll_up(cur, day, final=True, after=state["max_run"])
            cur.execute(DAY_RUNS, _bounds(day))
            runs = [(int(r["id"]), int(r["total"])) for r in cur.fetchall()]
        for ids in _batches(runs, batch_results):
            with session.step(f"delete {len(ids)} run(s) of {day}") as cur:
                cur.execute(DELETE_RUNS, {**_bounds(day), "ids": ids, "day": day})
                deleted = [int(r["total"]) for r in cur.fetchall()]
            outcome.runs_deleted += len(deleted)
            outcome.results_deleted += sum(deleted)
        outcome.days_pruned += 1


def expire_rollups(session: Session, before: date, outcome: RetentionOutcome) -> None:
    """Step 3: rollups of pruned days older than `before`, a day per transaction."""
    with session.step("list expired rollups") as cur:
        cur.execute(EXPIRED_DAYS, {"before": before})
        days = [row["day"] for row in cur.fetchall()]
    for day in days:
        with session.step(f"expire the rollups of {day}") as cur:
            cur.execute(EXPIRE_DAY, {"day": day})
            row = cur.fetchone()
        if row is not None:
            outcome.rollup_days_expired += 1
            outcome.rollup_rows_expired += int(row["rows"])


# --- helpers ------------------------------------------------------------------------


def _roll_up(cur: Any, day: date, *, final: bool, after: int | None = None) -> int:
    """Compute `day`'s rollups afresh, or with `after` merge in only its runs newer than
    that id; mark the day. Returns the rollup rows written."""
    if after is None:
        cur.execute(CLEAR_DAY, {"day": day})
    cur.execute(ROLL_UP_DAY, {**_bounds(day), "day": day, "after": after or 0})
    row = cur.fetchone()
    cur.execute(
        MARK_DAY,
        {
            "day": day,
            "results": int(row["results"]),
            "final": final,
            "max_run": row["max_run"],
            "merged": after is not None,
        },
    )
    return int(row["rows"])


def _days_to_roll_up(session: Session, last: date) -> list[date]:
    """Days from the first stored run's to `last` with no rollup yet (empty days too: they
    are marked, so they are not looked at again)."""
    with session.step("list the days to roll up") as cur:
        cur.execute(FIRST_RUN_DAY)
        row = cur.fetchone()
        first = row["day"] if row else None
        if first is None or first > last:
            return []
        cur.execute(ROLLED_UP, {"first": first, "last": last})
        done = {r["day"] for r in cur.fetchall()}
    count = (last - first).days + 1
    return [d for d in (first + timedelta(days=i) for i in range(count)) if d not in done]


def _days_with_runs_before(session: Session, before: date) -> list[date]:
    with session.step("list the days to prune") as cur:
        cur.execute(FIRST_RUN_DAY)
        row = cur.fetchone()
    first = row["day"] if row else None
    if first is None or first >= before:
        return []
    return [first + timedelta(days=i) for i in range((before - first).days)]


def _batches(runs: list[tuple[int, int]], limit: int) -> Iterator[list[int]]:
    """Run ids in groups of about `limit` results (at least one run per group)."""
    batch: list[int] = []
    size = 0
    for run_id, total in runs:
        if batch and size + total > limit:
            yield batch
            batch, size = [], 0
        batch.append(run_id)
        size += total
    if batch:
        yield batch


def _bounds(day: date) -> dict[str, datetime]:
    start = datetime.combine(day, clock(), UTC)
    return {"start": start, "end": start + timedelta(days=1)}


class Session:
    """One connection for a whole retention call, a short transaction per step: hundreds
    of steps (a day each) on one connection, not a connection each."""

    def __init__(self, kwargs: Mapping[str, Any], conn: Any) -> None:
        self._kwargs, self._conn = kwargs, conn

    @contextmanager
    def step(self, action: str) -> Iterator[Any]:
        """One transaction holding the retention lock (module docstring): committed on
        success, rolled back on error; database errors become StoreError naming `action`."""
        with db.transaction_on(self._conn, self._kwargs, action) as cur:
            cur.execute(LOCK, (LOCK_CLASS,))
            yield cur


@contextmanager
def open_session(store: ResultStore) -> Iterator[Session]:
    """A retention session on `store` (migrated first), closed on the way out."""
    action = "apply the retention policy"
    kwargs = store.connect_kwargs(action)
    conn = db.connect(kwargs, action)
    try:
        yield Session(kwargs, conn)
    finally:
        conn.close()


@contextmanager
def _timed(outcome: RetentionOutcome, step: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        outcome.seconds[step] = time.perf_counter() - start
