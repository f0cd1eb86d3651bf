"""Results store history queries: latest results, one check's history, failure rates,
recent runs; and EXPLAIN showing each query uses its index on a few thousand rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2
import psycopg2.extras
import pytest

from vigil.result import CheckResult, Severity, Status
from vigil.results import FailureRate, ResultStore, RunRef, RunState, queries

pytestmark = pytest.mark.integration

P, F, E, S = Status.PASSED, Status.FAILED, Status.ERROR, Status.SKIPPED
NOW = datetime.now(UTC).replace(microsecond=0)
DAYS_AGO = (10, 3, 2, 1)  # four daily runs of "demo"
# check_id -> (kind, target, severity, status in each run, oldest first)
PLAN = {
    "api_up": ("http", "api", Severity.CRITICAL, (F, P, E, P)),
    "db_up": ("postgres", "db", Severity.CRITICAL, (P, P, P, F)),
    "db_rows": ("postgres", "db", Severity.WARNING, (P, P, P, S)),
}


def run_ref(days_ago: int, environment: str = "demo", cadence: str = "daily") -> RunRef:
    return RunRef(environment, cadence, f"{environment}_{cadence}", f"run_{days_ago}d")


def make_result(check_id: str, status: Status, started_at: datetime) -> CheckResult:
    kind, target, severity, _ = PLAN[check_id]
    return CheckResult(
        check_id=check_id, family=kind, target=target, status=status, severity=severity,
        started_at=started_at, duration_ms=float(len(check_id)), message=f"{check_id} {status}",
    )  # fmt: skip


@pytest.fixture
def store(fresh_db: str) -> ResultStore:
    """Four demo runs per PLAN, plus a staging run that must never leak into demo's numbers."""
    store = ResultStore(fresh_db)
    for index, days in enumerate(DAYS_AGO):
        started = NOW - timedelta(days=days)
        store.start_run(run_ref(days), started_at=started)
        store.record(
            run_ref(days),
            [make_result(cid, plan[3][index], started) for cid, plan in PLAN.items()],
        )
        store.finish_run(run_ref(days), ended_at=started + timedelta(minutes=1))
    staging = run_ref(1, environment="staging")
    store.record(staging, [make_result(cid, E, NOW - timedelta(hours=1)) for cid in PLAN])
    return store


def test_latest_results_holds_the_newest_result_of_each_check(store: ResultStore) -> None:
    # A check that only ran once, long ago, still has a latest result.
    old = NOW - timedelta(days=30)
    store.record(run_ref(30, cadence="monthly"), [make_result("db_rows", P, old).model_copy(
        update={"check_id": "monthly_only"})])  # fmt: skip
    latest = store.latest_results("demo")
    assert [(r.check_id, r.status) for r in latest] == [
        ("api_up", P), ("db_rows", S), ("db_up", F), ("monthly_only", P),
    ]  # fmt: skip
    assert latest[0].started_at == NOW - timedelta(days=1)
    assert store.latest_results("nowhere") == []


def test_check_history_newest_first_by_runs_or_time(store: ResultStore) -> None:
    history = store.check_history("demo", "api_up")
    assert [(h.run_id, h.status) for h in history] == [
        ("run_1d", P), ("run_2d", E), ("run_3d", P), ("run_10d", F),
    ]  # fmt: skip
    first = history[0]
    assert (first.cadence, first.duration_ms, first.message) == ("daily", 6.0, "api_up passed")
    assert first.started_at == NOW - timedelta(days=1)

    assert [h.run_id for h in store.check_history("demo", "api_up", last_runs=2)] == [
        "run_1d", "run_2d",
    ]  # fmt: skip
    since_4d = store.check_history("demo", "api_up", since=timedelta(days=4))
    assert [h.run_id for h in since_4d] == ["run_1d", "run_2d", "run_3d"]
    both = store.check_history("demo", "api_up", last_runs=5, since=timedelta(days=2, hours=1))
    assert [h.run_id for h in both] == ["run_1d", "run_2d"]
    assert store.check_history("demo", "no_such_check") == []


def rates(items: list[FailureRate]) -> list[tuple[tuple[str, ...], int, int, int, float]]:
    return [
        (tuple(f.key.values()), f.total, f.problems, f.skipped, round(f.rate, 4)) for f in items
    ]


def test_failure_rate_per_kind_and_target_over_all_history(store: ResultStore) -> None:
    # http/api: F P E P -> 2 problems of 4. postgres/db: db_up P P P F, db_rows P P P S ->
    # 1 problem of 7 that ran (the skip is counted apart, not as a run).
    assert rates(store.failure_rate("demo")) == [
        (("http", "api"), 4, 2, 0, 0.5),
        (("postgres", "db"), 7, 1, 1, round(1 / 7, 4)),
    ]


def test_failure_rate_over_the_last_runs(store: ResultStore) -> None:
    # The two newest runs (2 and 1 days ago): api_up E P; db_up P F; db_rows P S.
    assert rates(store.failure_rate("demo", last_runs=2)) == [
        (("http", "api"), 2, 1, 0, 0.5),
        (("postgres", "db"), 3, 1, 1, round(1 / 3, 4)),
    ]


def test_failure_rate_over_a_time_window(store: ResultStore) -> None:
    # Runs within 4 days (3, 2, 1 days ago): api_up P E P; db_up P P F; db_rows P P S.
    assert rates(store.failure_rate("demo", since=timedelta(days=4))) == [
        (("http", "api"), 3, 1, 0, round(1 / 3, 4)),
        (("postgres", "db"), 5, 1, 1, 0.2),
    ]
    assert store.failure_rate("demo", since=timedelta(hours=12)) == []


def test_failure_rate_by_other_groupings(store: ResultStore) -> None:
    assert rates(store.failure_rate("demo", by=("check_id",))) == [
        (("api_up",), 4, 2, 0, 0.5),
        (("db_up",), 4, 1, 0, 0.25),
        (("db_rows",), 3, 0, 1, 0.0),
    ]
    # Whole environment: 11 results ran, 3 problems.
    assert rates(store.failure_rate("demo", by=())) == [((), 11, 3, 1, round(3 / 11, 4))]
    [daily] = store.failure_rate("demo", by=("cadence", "severity"), last_runs=1)[:1]
    assert daily.key == {"cadence": "daily", "severity": "critical"}
    assert (daily.total, daily.problems) == (2, 1)
    # Equal rates: the group with more problems first.
    assert rates(store.failure_rate("staging", by=("family",))) == [
        (("postgres",), 2, 2, 0, 1.0),
        (("http",), 1, 1, 0, 1.0),
    ]


def test_failure_rate_rejects_unknown_groupings_and_windows(store: ResultStore) -> None:
    with pytest.raises(ValueError, match=r"cannot group by 'status'.*family, target"):
        store.failure_rate("demo", by=("status",))
    with pytest.raises(ValueError, match=r"last_runs must be a positive integer, got 0"):
        store.failure_rate("demo", last_runs=0)
    with pytest.raises(ValueError, match=r"since must be a positive timedelta"):
        store.check_history("demo", "api_up", since=timedelta(0))


def test_recent_runs_newest_first(store: ResultStore) -> None:
    runs = store.recent_runs("demo", limit=3)
    assert [r.ref.run_id for r in runs] == ["run_1d", "run_2d", "run_3d"]
    # run_1d: db_up (critical) failed; run_2d: api_up (critical) errored; run_3d all passed.
    assert [r.state for r in runs] == [RunState.FAILED, RunState.FAILED, RunState.SUCCESS]
    assert [r.critical_problems for r in runs] == [1, 1, 0]
    assert runs[0].ended_at == NOW - timedelta(days=1) + timedelta(minutes=1)
    assert [r.ref.run_id for r in store.recent_runs("staging")] == ["run_1d"]


# --- indexes ----------------------------------------------------------------------------

ENVIRONMENTS = 3
DAYS = 120
CHECKS = 50


@pytest.fixture
def big_store(fresh_db: str) -> ResultStore:
    """A long history, loaded in bulk: 3 environments x 120 daily runs x 50 checks = 18,000
    results, plus 3,000 runs of other environments. Small tables are read whole whatever
    the indexes; this is the shape the indexes are for."""
    store = ResultStore(fresh_db)
    store.migrate()
    execute(
        fresh_db,
        """
        INSERT INTO vigil.runs (environment, cadence, dag_id, run_id, started_at, state)
        SELECT 'env' || e, 'daily', 'env' || e || '_daily', 'run_' || d,
               now() - d * interval '1 day', 'success'
        FROM generate_series(0, %(envs)s - 1) e, generate_series(0, %(days)s - 1) d;
        INSERT INTO vigil.runs (environment, cadence, dag_id, run_id, started_at)
        SELECT 'other_' || (g %% 100), 'daily', 'other_daily_' || (g %% 100), 'r' || g,
               now() - g * interval '1 hour' FROM generate_series(1, 3000) g;
        INSERT INTO vigil.check_results
            (run, environment, check_id, family, target, status, severity, started_at)
        SELECT r.id, r.environment, 'check_' || lpad(i::text, 2, '0'),
               (ARRAY['http', 'postgres', 'tcp', 'container'])[i %% 4 + 1], 't' || (i %% 8),
               CASE WHEN (i + r.id) %% 7 = 0 THEN 'failed' ELSE 'passed' END, 'critical',
               r.started_at
        FROM vigil.runs r, generate_series(0, %(checks)s - 1) i
        WHERE r.environment LIKE 'env%%';
        ANALYZE vigil.runs;
        ANALYZE vigil.check_results;
        """,
        {"envs": ENVIRONMENTS, "days": DAYS, "checks": CHECKS},
    )
    return store


def execute(dsn: str, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []
    finally:
        conn.close()


def plan(dsn: str, sql: str, params: dict[str, Any]) -> str:
    rows = execute(dsn, "EXPLAIN " + sql, params)
    return "\n".join(row["QUERY PLAN"] for row in rows)


def test_history_queries_use_their_indexes(big_store: ResultStore, fresh_db: str) -> None:
    # The store answers correctly on the bigger data set too.
    latest = big_store.latest_results("env1")
    assert [r.check_id for r in latest] == [f"check_{i:02d}" for i in range(CHECKS)]
    assert len(big_store.check_history("env1", "check_03", last_runs=10)) == 10
    [overall] = big_store.failure_rate("env1", by=(), last_runs=7)
    assert (overall.total, overall.problems) == (7 * CHECKS, CHECKS)  # (i + id) % 7: 1 in 7
    cutoff = NOW - timedelta(days=3, hours=12)
    cases: dict[str, tuple[str, dict[str, Any], list[str]]] = {
        "latest_results": (
            queries.LATEST_RESULTS, {"env": "env1"}, ["check_results_env_check_started_idx"],
        ),
        "check_history last N": (
            queries.CHECK_HISTORY,
            {"env": "env1", "check_id": "check_03", "limit": 10, "cutoff": None},
            ["check_results_env_check_started_idx"],
        ),
        "check_history since T": (
            queries.CHECK_HISTORY,
            {"env": "env1", "check_id": "check_03", "limit": None, "cutoff": cutoff},
            ["check_results_env_check_started_idx"],
        ),
        "failure_rate since T": (
            queries.failure_rate_sql(("family", "target"), last_runs=False),
            {"env": "env1", "last_runs": None, "cutoff": cutoff},
            ["check_results_env_started_idx"],
        ),
        "failure_rate last N runs": (
            queries.failure_rate_sql(("family", "target"), last_runs=True),
            {"env": "env1", "last_runs": 3, "cutoff": None},
            ["runs_env_started_idx", "check_results_run_check_key"],
        ),
        "recent_runs": (
            queries.RECENT_RUNS, {"env": "env1", "limit": 20}, ["runs_env_started_idx"],
        ),
    }  # fmt: skip
    for name, (sql, params, indexes) in cases.items():
        text = plan(fresh_db, sql, params)
        for index in indexes:
            assert index in text, f"{name}: {index} not used:\n{text}"
        assert "Seq Scan" not in text, f"{name}: sequential scan:\n{text}"
