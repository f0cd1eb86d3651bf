"""The results store as its history grows: per-run and report queries at 10 M results.

A throwaway LocalPostgres gets one results store per size, seeded by set-based SQL
(generate_series): `--envs` environments x `--days` daily runs x (rows / days / envs)
checks, with failures, error spells, multi-day failure streaks and skips, small
`observed` JSON, run_families and probe figures as the writers keep them. The sizes are
the history after 1 %, 10 % and 100 % of `--days` (by default 0.1 M, 1 M and 10 M
results over 4, 40 and 400 days): the smallest is the reference, a fresh store measured
in the same run.

Every query is the code's own SQL, imported from its module (never rewritten here), run
with the parameters the code passes: the queries of every evaluation (alert history, the
latest results, failure rates, a check's history, the run's results) and those of the
weekly trend and monthly review reports; each the median of `--rounds` warm runs. Then,
on the largest store, the alert history as the engine loads it (load_history of 200 runs
against engine.load_rule_history with the demo rules: SQL plus Python), the report
functions themselves (trend_data, review_data: SQL plus Python), and retention
(vigil.results.retention): rolling up every day, pruning the oldest day, then 300 days,
and the per-run queries again after pruning.

Goals (issue 12): every per-run query <= 50 ms at 10 M results, a report <= 2 s.

Run: .venv/bin/python benchmarks/bench_store_scale.py [--rows 10000000] [--days 400]
     [--envs 200] [--rounds 5]      (quick: --rows 200000 --days 40 --envs 50)
Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2

from vigil.alerts import engine
from vigil.alerts import history as alert_history
from vigil.alerts import sql as alert_sql
from vigil.reports import data as report_data
from vigil.reports.review import review_data
from vigil.reports.trend import trend_data
from vigil.results import probe_figures, retention
from vigil.results import queries as store_queries
from vigil.results.models import RunRef
from vigil.results.retention_policy import RetentionPolicy
from vigil.results.store import ResultStore
from vigil.spec.alerts import AlertsConfig
from vigil.stack.postgres import LocalPostgres, free_port

PER_RUN_GOAL_MS = 50.0
PER_RUN = ("per run",)  # groups judged by the per-run goal
REPORT_GOAL_MS = 2000.0
FRACTIONS = (0.01, 0.1, 1.0)
SEED_CHUNK_DAYS = 20  # days of results per INSERT: progress to watch, bounded memory
BATCH = retention.BATCH_RESULTS
ENV = "env-042"  # the environment every per-environment query asks about
CHECK = "check-0042"

RUNS = """
INSERT INTO vigil.runs (environment, cadence, dag_id, run_id, started_at, ended_at, state)
SELECT 'env-' || lpad(e::text, 3, '0'), 'daily', 'env-' || lpad(e::text, 3, '0') || '_daily',
       'scheduled__' || d,
       %(now)s - d * interval '1 day' - e * interval '7 seconds',
       %(now)s - d * interval '1 day' - e * interval '7 seconds' + interval '3 minutes',
       'success'
FROM generate_series(0, %(days)s - 1) d, generate_series(0, %(envs)s - 1) e
ORDER BY d DESC, e
"""

# Statuses: a check of an environment fails for a 5-day spell every ~60 days (a streak the
# consecutive_failures rule sees), errors now and then, fails at random 1.5 %% of the
# time; one check in 25 is skipped 5 %% of the time (its target down).
RESULTS = """
INSERT INTO vigil.check_results (run, environment, check_id, family, check_kind, target,
                                 status, severity, started_at, duration_ms, observed, message)
SELECT r.id, r.environment, 'check-' || lpad(c::text, 4, '0'), f.family, f.kind,
       'target-' || (c %% 20), s.status,
       CASE WHEN c %% 4 = 0 THEN 'warning' ELSE 'critical' END,
       r.started_at + (c %% 90) * interval '1 second', round((5 + random() * 200)::numeric, 1),
       jsonb_build_object('status', CASE WHEN s.status = 'passed' THEN 200 ELSE 503 END,
                          'ms', (random() * 300)::int),
       CASE s.status WHEN 'passed' THEN 'ok'
            WHEN 'skipped' THEN 'target-' || (c %% 20) || ' is unhealthy'
            ELSE 'expected status 200, got 503' END
FROM vigil.runs r
CROSS JOIN generate_series(0, %(checks)s - 1) c
CROSS JOIN LATERAL (SELECT CASE WHEN c %% 10 < 6 THEN 'health' WHEN c %% 10 < 9 THEN 'quality'
                                ELSE 'probes' END AS family,
                           CASE WHEN c %% 10 < 6 THEN 'http' WHEN c %% 10 < 9 THEN 'expectation'
                                ELSE 'http_load' END AS kind) f
CROSS JOIN LATERAL (SELECT CASE
    WHEN c %% 25 = 0 AND random() < 0.05 THEN 'skipped'
    WHEN ((split_part(r.run_id, '__', 2)::int + c * 7 + length(r.environment) * 3) %% 60) < 5
         AND (c + ascii(right(r.environment, 1))) %% 40 = 0 THEN 'failed'
    WHEN random() < 0.015 THEN 'failed'
    WHEN random() < 0.004 THEN 'error'
    ELSE 'passed' END AS status) s
WHERE split_part(r.run_id, '__', 2)::int BETWEEN %(last)s AND %(first)s
"""

RUN_FAMILIES = """
INSERT INTO vigil.run_families
SELECT c.run, r.environment, c.family, r.started_at,
       count(*) FILTER (WHERE c.status = 'passed'),
       count(*) FILTER (WHERE c.status = 'failed'),
       count(*) FILTER (WHERE c.status = 'error'),
       count(*) FILTER (WHERE c.status = 'skipped'),
       count(*) FILTER (WHERE c.status IN ('failed', 'error') AND c.severity = 'critical')
FROM vigil.check_results c JOIN vigil.runs r ON r.id = c.run
GROUP BY c.run, r.environment, c.family, r.started_at;

UPDATE vigil.runs r SET total = f.passed + f.failed + f.error + f.skipped, passed = f.passed,
       failed = f.failed, error = f.error, skipped = f.skipped,
       critical_problems = f.critical_problems,
       state = CASE WHEN f.critical_problems > 0 THEN 'failed' ELSE 'success' END
FROM (SELECT run, sum(passed) AS passed, sum(failed) AS failed, sum(error) AS error,
             sum(skipped) AS skipped, sum(critical_problems) AS critical_problems
      FROM vigil.run_families GROUP BY run) f
WHERE r.id = f.run;
"""

PROBES = """
INSERT INTO vigil.probe_figures (run, environment, check_id, target, check_kind, profile,
                                 recorded_at, passed, figures)
SELECT r.id, r.environment, p.check_id, 'target-9', 'http_load', 'default', r.ended_at,
       random() > 0.05,
       jsonb_build_object('p50', 20 + random() * 5, 'p95', 40 + random() * 10,
                          'p99', 60 + random() * 20, 'rps', 900 + random() * 200)
FROM vigil.runs r CROSS JOIN (VALUES ('check-0009'), ('check-0019')) p(check_id)
"""


def seed(dsn: str, rows: int, days: int, envs: int, now: datetime) -> int:
    """Seed `days` daily runs of `envs` environments, `rows` results in all; returns the
    number of results stored."""
    store = ResultStore(dsn)
    store.migrate(purpose="seed the benchmark")
    checks = max(1, rows // (days * envs))
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '1GB'")
        # The history indexes are dropped and rebuilt from their own definitions: a bulk
        # build is several times faster than 10 M random index inserts, and ends the same.
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'vigil' AND "
            "tablename = 'check_results' AND indexname NOT IN "
            "('check_results_pkey', 'check_results_run_check_key')"
        )
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f"DROP INDEX vigil.{name}")
        cur.execute(RUNS, {"now": now, "days": days, "envs": envs})
        for first in range(days - 1, -1, -SEED_CHUNK_DAYS):  # oldest first, as written
            last = max(first - SEED_CHUNK_DAYS + 1, 0)
            cur.execute(RESULTS, {"checks": checks, "first": first, "last": last})
        for _, definition in indexes:
            cur.execute(definition)
        cur.execute(RUN_FAMILIES)
        cur.execute(PROBES)
        for table in ("runs", "check_results", "run_families", "probe_figures"):
            cur.execute(f"VACUUM ANALYZE vigil.{table}")
        cur.execute("SELECT count(*) FROM vigil.check_results")
        row = cur.fetchone()
    conn.close()
    return int(row[0]) if row else 0


# The demo spec's alert rules (include/specs/demo.yaml): the history the engine loads
# first is what they reach (engine.first_load_runs), 22 runs of the 200 kept.
DEMO_RULES: list[dict[str, Any]] = [
    {"id": "target-down", "kind": "consecutive_failures", "severity": "critical",
     "select": {"families": ["health"]}, "count": 1, "resolve_after": 1},
    {"id": "run-failure-rate", "kind": "run_failure_rate", "threshold": 0.2},
    {"id": "flaky-checks", "kind": "window_failure_rate", "window": {"last_runs": 10},
     "group_by": ["check_id"], "threshold": 0.3, "min_results": 5},
    {"id": "probe-latency-regression", "kind": "latency_regression", "metric": "p95",
     "factor": 2.0, "baseline_runs": 10, "min_runs": 3, "min_latency_ms": 20},
    {"id": "slow-runs", "kind": "duration_regression", "subject": "run", "factor": 2.0,
     "baseline_runs": 7, "min_runs": 3, "min_duration_ms": 1000},
]  # fmt: skip
DEMO_ALERTS = AlertsConfig.model_validate({"rules": DEMO_RULES})
FIRST_LOAD = engine.first_load_runs(DEMO_ALERTS)


@dataclass(frozen=True)
class Query:
    name: str
    sql: str
    params: Callable[[datetime], Mapping[str, Any]]
    group: str  # PER_RUN (goal 50 ms each) or the report it belongs to (its sum: 2 s)


def _window(days: int, now: datetime, before: bool = False) -> report_data.Window:
    win = report_data.window(days, now)
    return win.before() if before else win


def _win_params(days: int, before: bool = False) -> Callable[[datetime], Mapping[str, Any]]:
    def params(now: datetime) -> Mapping[str, Any]:
        win = _window(days, now, before)
        return {"env": ENV, "start": win.start, "end": win.end, "tz": win.tz, "limit": 10}

    return params


NEWEST = {"dag_id": f"{ENV}_daily", "run_id": "scheduled__0"}

QUERIES = [
    # Every evaluation: the alert engine's history (consecutive failures, streaks, window
    # failure rates, duration baselines are all computed from it). engine.evaluate loads as
    # far back as the rules reach (the demo rules: FIRST_LOAD runs), and further, up to
    # alerts.history_runs (default 200), only while a streak or a baseline needs more.
    Query(
        "alert history (200 runs)",
        alert_history.LOAD,
        lambda now: {**NEWEST, "cap": alert_history.HARD_CAP, "runs": 200, "since": -1, "skip": 0},
        "per run",
    ),
    Query(
        f"alert history ({FIRST_LOAD} runs)",
        alert_history.LOAD,
        lambda now: {
            **NEWEST,
            "cap": alert_history.HARD_CAP,
            "runs": FIRST_LOAD,
            "since": -1,
            "skip": 0,
        },
        "per run",
    ),
    Query(
        "latest result of 50 checks",
        alert_sql.LAST_RESULT_OF,
        lambda now: {"env": ENV, "ids": [f"check-{i:04d}" for i in range(0, 100, 2)]},
        "per run",
    ),
    Query(
        "run results",
        store_queries.RUN_RESULTS,
        lambda now: {**NEWEST, "family": None, "targets": None},
        "per run",
    ),
    Query("latest results", store_queries.LATEST_RESULTS, lambda now: {"env": ENV}, "per run"),
    Query(
        "failure rate, 7 days",
        store_queries.failure_rate_sql(("family", "target"), False),
        lambda now: {"env": ENV, "last_runs": None, "cutoff": now - timedelta(days=7)},
        "per run",
    ),
    Query(
        "failure rate, last 10 runs",
        store_queries.failure_rate_sql(("check_id",), True),
        lambda now: {"env": ENV, "last_runs": 10, "cutoff": None},
        "per run",
    ),
    Query(
        "check history, last 50",
        store_queries.CHECK_HISTORY,
        lambda now: {"env": ENV, "check_id": CHECK, "limit": 50, "cutoff": None},
        "per run",
    ),
    Query(
        "check history, 30 days",
        store_queries.CHECK_HISTORY,
        lambda now: {
            "env": ENV,
            "check_id": CHECK,
            "limit": None,
            "cutoff": now - timedelta(days=30),
        },
        "per run",
    ),
    Query(
        "recent runs", store_queries.RECENT_RUNS, lambda now: {"env": ENV, "limit": 20}, "per run"
    ),
    Query(
        "probe baseline",
        probe_figures.BASELINE,
        lambda now: {
            "environment": ENV,
            "check_id": "check-0009",
            "profile": "default",
            **NEWEST,
            "limit": 10,
        },
        "per run",
    ),
    # The weekly trend report (vigil.reports.trend.trend_data and its sections).
    Query("trend: runs", report_data.WINDOW_RUNS, _win_params(7), "weekly trend"),
    Query("trend: day counts", report_data.DAY_COUNTS, _win_params(7), "weekly trend"),
    Query("trend: slowest checks", report_data.SLOWEST, _win_params(7), "weekly trend"),
    Query("trend: journeys", report_data.JOURNEY_STEPS, _win_params(7), "weekly trend"),
    Query(
        "trend: probe series",
        probe_figures.SERIES,
        lambda now: {"environment": ENV, "since": _window(7, now).start},
        "weekly trend",
    ),
    # The monthly review (vigil.reports.review.review_data and its chart).
    Query("review: check statuses", report_data.CHECK_STATUSES, _win_params(30), "monthly review"),
    Query("review: family counts", report_data.FAMILY_COUNTS, _win_params(30), "monthly review"),
    Query(
        "review: family counts before",
        report_data.FAMILY_COUNTS,
        _win_params(30, before=True),
        "monthly review",
    ),
    Query("review: day counts, 60 days", report_data.DAY_COUNTS, _win_params(60), "monthly review"),
]


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def measure(dsn: str, now: datetime, rounds: int) -> dict[str, float]:
    """Median ms of each query (execute + fetch), after one warm-up run, interleaved."""
    conn = psycopg2.connect(dsn)
    conn.set_session(readonly=True, autocommit=True)
    samples: dict[str, list[float]] = {q.name: [] for q in QUERIES}
    with conn.cursor() as cur:

        def run(query: Query) -> None:
            cur.execute(query.sql, query.params(now))
            cur.fetchall()

        for query in QUERIES:
            run(query)  # warm: the cache, the plan
        for _ in range(rounds):
            for query in QUERIES:
                samples[query.name].append(timed(lambda: run(query)))  # noqa: B023 - called now
    conn.close()
    return {name: statistics.median(found) for name, found in samples.items()}


def explain(dsn: str, query: Query, now: datetime) -> str:
    conn = psycopg2.connect(dsn)
    conn.set_session(readonly=True, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + query.sql, query.params(now))
        plan = "\n".join(row[0] for row in cur.fetchall())
    conn.close()
    return plan


def report_functions(dsn: str, now: datetime, rounds: int) -> dict[str, float]:
    """The report data functions themselves (their SQL and Python), median ms."""
    store = ResultStore(dsn)
    actions: dict[str, Callable[[], Any]] = {
        "weekly trend (trend_data)": lambda: trend_data(store, ENV, now=now),
        "monthly review (review_data)": lambda: review_data(store, ENV, now=now),
    }
    for action in actions.values():
        action()
    return {
        name: statistics.median(timed(action) for _ in range(rounds))
        for name, action in actions.items()
    }


def history_functions(dsn: str, rounds: int) -> dict[str, float]:
    """The alert history as the engine reads it (its SQL, fetching, building the runs),
    median ms: all of history_runs, against load_rule_history with the demo rules (as far
    back as they reach, further while a streak or a baseline needs more)."""
    kwargs = ResultStore(dsn).connect_kwargs("benchmark the alert history")
    run = RunRef(ENV, "daily", NEWEST["dag_id"], NEWEST["run_id"])
    actions: dict[str, Callable[[], Any]] = {
        "load_history, 200 runs": lambda: alert_history.load_history(
            kwargs, run, runs=200, since=None
        ),
        "load_rule_history, demo rules": lambda: engine.load_rule_history(kwargs, run, DEMO_ALERTS),
    }
    loaded = {name: len(action().runs) for name, action in actions.items()}  # warm
    return {
        f"{name} ({loaded[name]} loaded)": statistics.median(timed(action) for _ in range(rounds))
        for name, action in actions.items()
    }


def prune(dsn: str, now: datetime, days: int) -> dict[str, Any]:
    """Retention on the largest store: roll up every complete day (a first run over the
    whole backlog), prune the oldest day, then up to 300 more days (as a policy of 90 days
    would on a 400-day store)."""
    outcome = retention.RetentionOutcome(RetentionPolicy())
    first = (now - timedelta(days=days - 1)).astimezone(UTC).date()
    span = max(1, min(300, days - 10))
    until = first + timedelta(days=1 + span)
    out: dict[str, Any] = {}
    with retention.open_session(ResultStore(dsn)) as session:
        # As apply_retention's first run does: days about to be pruned are rolled up final.
        out["rollup_all_days_s"] = (
            timed(lambda: retention.roll_up_complete_days(session, now, until, outcome)) / 1000
        )
        out["days_rolled_up"] = outcome.days_rolled_up
        one = retention.RetentionOutcome(RetentionPolicy())
        out["prune_one_day_s"] = (
            timed(lambda: retention.prune_raw(session, first + timedelta(days=1), BATCH, one))
            / 1000
        )
        out["prune_one_day_results"] = one.results_deleted
        many = retention.RetentionOutcome(RetentionPolicy())
        out["prune_many_days"] = span
        out["prune_many_days_s"] = (
            timed(lambda: retention.prune_raw(session, until, BATCH, many)) / 1000
        )
        out["prune_many_days_results"] = many.results_deleted
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        out["vacuum_analyze_after_s"] = timed(lambda: cur.execute("VACUUM ANALYZE")) / 1000
        cur.execute("SELECT count(*) FROM vigil.check_results")
        row = cur.fetchone()
        out["results_left"] = int(row[0]) if row else 0
    conn.close()
    return out


def long_trend_after_prune(dsn: str, now: datetime, rounds: int) -> float:
    """trend_data over 365 days once pruned (most days read from the daily rollups),
    median ms."""
    store = ResultStore(dsn)
    trend_data(store, ENV, days=365, now=now)  # warm
    return statistics.median(
        timed(lambda: trend_data(store, ENV, days=365, now=now)) for _ in range(rounds)
    )


def print_table(sizes: list[int], figures: list[dict[str, float]]) -> None:
    heads = [f"{n / 1e6:g} M" for n in sizes]
    print(f"\n{'query':<32}" + "".join(f"{h:>11}" for h in heads) + "   ratio   goal")
    for group in dict.fromkeys(q.group for q in QUERIES):
        names = [q.name for q in QUERIES if q.group == group]
        for name in names:
            values = [f[name] for f in figures]
            goal = _verdict(values[-1], PER_RUN_GOAL_MS) if group in PER_RUN else ""
            print(
                f"{name:<32}"
                + "".join(f"{v:>8.1f} ms" for v in values)
                + f"  {values[-1] / values[0]:5.1f}x  {goal}"
            )
        if group not in PER_RUN:
            totals = [sum(f[n] for n in names) for f in figures]
            print(
                f"{'= ' + group + ' (sum)':<32}"
                + "".join(f"{v:>8.1f} ms" for v in totals)
                + f"  {totals[-1] / totals[0]:5.1f}x  "
                + _verdict(totals[-1], REPORT_GOAL_MS)
            )


def _verdict(value: float, goal: float) -> str:
    return f"{'ok' if value <= goal else 'MISSED'} (<= {goal:g} ms)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="results at full size")
    parser.add_argument("--days", type=int, default=400, help="days of history at full size")
    parser.add_argument("--envs", type=int, default=200, help="environments")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-prune", action="store_true", help="skip the retention timings")
    args = parser.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)

    sizes: list[int] = []
    figures: list[dict[str, float]] = []
    out: dict[str, Any] = {"name": "store_scale", "rounds": args.rounds}
    with tempfile.TemporaryDirectory(prefix="vigil-bench-store-") as tmp:
        pg = LocalPostgres(Path(tmp) / "pg", free_port())
        pg.start()
        try:
            for fraction in FRACTIONS:
                days = max(1, round(args.days * fraction))
                name = f"store_{days}d"
                pg.create_database(name)
                dsn = pg.dsn(name)
                started = time.perf_counter()
                count = seed(dsn, round(args.rows * fraction), days, args.envs, now)
                took = time.perf_counter() - started
                print(
                    f"seeded {count:,} results ({days} days x {args.envs} envs) in {took:.1f} s",
                    flush=True,
                )
                sizes.append(count)
                figures.append(measure(dsn, now, args.rounds))
            print_table(sizes, figures)
            largest = pg.dsn(f"store_{max(1, round(args.days * FRACTIONS[-1]))}d")
            slow = [
                q for q in QUERIES if q.group == "per run" and figures[-1][q.name] > PER_RUN_GOAL_MS
            ]
            for query in slow:
                print(
                    f"\nEXPLAIN {query.name} at {sizes[-1]:,} results:\n"
                    + explain(largest, query, now)
                )
            history = history_functions(largest, args.rounds)
            for name, ms in history.items():
                print(f"{name:<45}{ms:>8.1f} ms  {_verdict(ms, PER_RUN_GOAL_MS)}")
            out["alert_history_ms"] = {k: round(v, 1) for k, v in history.items()}
            reports = report_functions(largest, now, args.rounds)
            for name, ms in reports.items():
                print(f"{name:<32}{ms:>8.1f} ms  {_verdict(ms, REPORT_GOAL_MS)}")
            out["reports_ms"] = {k: round(v, 1) for k, v in reports.items()}
            if not args.no_prune:
                pruned = prune(largest, now, max(1, round(args.days * FRACTIONS[-1])))
                print("\nretention: " + json.dumps(pruned))
                out["retention"] = pruned
                after = measure(largest, now, args.rounds)
                out["after_prune_ms"] = {k: round(v, 1) for k, v in after.items()}
                long_trend = long_trend_after_prune(largest, now, args.rounds)
                print(f"trend over 365 days, pruned: {long_trend:.1f} ms")
                out["trend_365_days_after_prune_ms"] = round(long_trend, 1)
                print(
                    "per-run queries after pruning (ms): "
                    + ", ".join(
                        f"{q.name} {after[q.name]:.1f}" for q in QUERIES if q.group in PER_RUN
                    )
                )
        finally:
            pg.stop()
    out["sizes"] = sizes
    out["queries_ms"] = {q.name: [round(f[q.name], 2) for f in figures] for q in QUERIES}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
