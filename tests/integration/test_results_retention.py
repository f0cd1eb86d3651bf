"""Retention on a real store: complete days roll up, old raw runs go (their rollups equal to
what went), rollups expire, and what reads history still works after pruning."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import psycopg2
import pytest

from vigil.reports import render_review_report, render_trend_report
from vigil.reports.review import review_data
from vigil.result import CheckResult, Severity, Status
from vigil.results import ResultStore, RunRef, StoreError, probe_figures, retention
from vigil.results.retention import apply_retention
from vigil.results.retention_policy import RetentionPolicy

pytestmark = pytest.mark.integration

P, F, E, S = Status.PASSED, Status.FAILED, Status.ERROR, Status.SKIPPED
NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
POLICY = RetentionPolicy(raw_days=62, rollup_days=100)
# Raw runs that started before this day go; rollups of days before EXPIRE_BEFORE go.
PRUNE_BEFORE = TODAY - timedelta(days=62)
EXPIRE_BEFORE = TODAY - timedelta(days=100)
# Days (back from today) that get runs: both sides of each boundary.
OFFSETS = (0, 1, 2, 30, 62, 63, 64, 99, 100, 101, 120)
ENVS = ("shop", "bank")


def day_of(offset: int) -> date:
    return TODAY - timedelta(days=offset)


def statuses(env: str, offset: int) -> dict[str, Status]:
    """A few checks with outcomes that vary by day and environment."""
    odd = (offset + len(env)) % 2 == 1
    return {"api-up": F if odd else P, "db-up": P, "queue-up": E if offset % 5 == 0 else S}


def record_run(
    store: ResultStore, env: str, started: datetime, outcomes: dict[str, Status]
) -> RunRef:
    run = RunRef(env, "daily", f"{env}_daily", f"scheduled__{started.isoformat()}")
    # One call: the run is created with the start of its first result.
    store.record(
        run,
        [
            CheckResult(
                check_id=check_id,
                family="health",
                target=check_id.split("-")[0],
                status=status,
                severity=Severity.WARNING if check_id == "queue-up" else Severity.CRITICAL,
                started_at=started + timedelta(seconds=i),
                duration_ms=10.0 * (i + 1),
                message=f"{check_id} {status.value}",
            )
            for i, (check_id, status) in enumerate(sorted(outcomes.items()))
        ],
    )
    return run


def seed(store: ResultStore, offsets: tuple[int, ...] = OFFSETS) -> None:
    for offset in offsets:
        for env in ENVS:
            started = datetime.combine(day_of(offset), time(6), UTC)
            record_run(store, env, started, statuses(env, offset))


def query(dsn: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description else []
    conn.close()
    return rows


# Raw counts per day, environment and check, computed the way a person would: the same
# key and figures the rollups keep.
RAW_COUNTS = """
SELECT (r.started_at AT TIME ZONE 'UTC')::date, c.environment, c.family, c.target, c.check_id,
       count(*) FILTER (WHERE c.status = 'passed'), count(*) FILTER (WHERE c.status = 'failed'),
       count(*) FILTER (WHERE c.status = 'error'), count(*) FILTER (WHERE c.status = 'skipped')
FROM vigil.check_results c JOIN vigil.runs r ON r.id = c.run
WHERE r.started_at < %s
GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
"""
ROLLUPS = """
SELECT day, environment, family, target, check_id, passed, failed, error, skipped
FROM vigil.daily_rollups WHERE day < %s ORDER BY 1, 2, 3, 4, 5
"""
ALL_ROLLUPS = "SELECT * FROM vigil.daily_rollups ORDER BY day, environment, check_id"


def started_days(dsn: str) -> list[date]:
    rows = query(dsn, "SELECT DISTINCT (started_at AT TIME ZONE 'UTC')::date FROM vigil.runs")
    return sorted(row[0] for row in rows)


@pytest.fixture
def seeded(fresh_db: str) -> Iterator[tuple[ResultStore, str]]:
    store = ResultStore(fresh_db)
    seed(store)
    yield store, fresh_db


def test_old_raw_runs_go_and_their_rollups_equal_what_went(
    seeded: tuple[ResultStore, str],
) -> None:
    store, dsn = seeded
    cutoff = datetime.combine(PRUNE_BEFORE, time(), UTC)
    expected = query(dsn, RAW_COUNTS, (cutoff,))
    going = query(dsn, "SELECT count(*) FROM vigil.check_results WHERE started_at < %s", (cutoff,))
    kept_before = query(dsn, "SELECT * FROM vigil.check_results WHERE started_at >= %s ORDER BY id",
                        (cutoff,))  # fmt: skip

    outcome = apply_retention(store, POLICY, now=NOW)

    assert started_days(dsn) == sorted(day_of(o) for o in OFFSETS if o <= 62)
    old_days = len([o for o in OFFSETS if o > 62])
    assert outcome.results_deleted == going[0][0] == old_days * len(ENVS) * 3
    assert outcome.runs_deleted == old_days * len(ENVS)
    assert outcome.days_pruned == (PRUNE_BEFORE - day_of(120)).days
    # The rollups of the pruned days that are not yet expired hold exactly what went.
    expected_kept = [row for row in expected if row[0] >= EXPIRE_BEFORE]
    assert query(dsn, ROLLUPS, (PRUNE_BEFORE,)) == expected_kept
    assert {row[0] for row in expected_kept} == {day_of(o) for o in (63, 64, 99, 100)}
    # Recent raw rows are untouched, and nothing of a deleted run is left behind.
    kept = query(dsn, "SELECT * FROM vigil.check_results WHERE started_at >= %s ORDER BY id",
                 (cutoff,))  # fmt: skip
    assert kept == kept_before
    orphans = query(
        dsn,
        "SELECT (SELECT count(*) FROM vigil.run_families f WHERE NOT EXISTS "
        "(SELECT 1 FROM vigil.runs r WHERE r.id = f.run)), "
        "(SELECT count(*) FROM vigil.run_families WHERE started_at < %s)",
        (cutoff,),
    )
    assert orphans == [(0, 0)]
    assert "pruned" in outcome.summary() and "62 days" in outcome.summary()


def test_rollup_runs_add_up_to_each_days_runs_per_environment(
    seeded: tuple[ResultStore, str],
) -> None:
    store, dsn = seeded
    # A second run on a pruned day, with other checks: each run still counts once.
    record_run(store, "shop", datetime.combine(day_of(99), time(18), UTC), {"db-up": P})
    runs_sql = (
        "SELECT (started_at AT TIME ZONE 'UTC')::date, environment, count(*) FROM vigil.runs "
        "WHERE started_at < %s GROUP BY 1, 2 ORDER BY 1, 2"
    )
    cutoff = datetime.combine(PRUNE_BEFORE, time(), UTC)
    expected = [row for row in query(dsn, runs_sql, (cutoff,)) if row[0] >= EXPIRE_BEFORE]
    apply_retention(store, POLICY, now=NOW)
    rolled = query(
        dsn,
        "SELECT day, environment, sum(runs) FROM vigil.daily_rollups WHERE day < %s "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        (PRUNE_BEFORE,),
    )
    assert rolled == expected
    assert (day_of(99), "shop", 2) in rolled
    # One row of a run holds it: the first of its results in the key's order.
    assert query(
        dsn,
        "SELECT check_id, runs FROM vigil.daily_rollups WHERE day = %s AND environment = 'shop' "
        "ORDER BY check_id",
        (day_of(99),),
    ) == [("api-up", 1), ("db-up", 1), ("queue-up", 0)]


def test_rollups_keep_statuses_durations_and_the_last_message(
    seeded: tuple[ResultStore, str],
) -> None:
    store, dsn = seeded
    apply_retention(store, POLICY, now=NOW)
    [row] = query(
        dsn,
        "SELECT severity, critical_problems, duration_ms_sum, duration_ms_max, duration_ms_p50, "
        "first_status, last_status, last_message FROM vigil.daily_rollups "
        "WHERE day = %s AND environment = 'shop' AND check_id = 'api-up'",
        (day_of(64),),
    )
    odd = (64 + len("shop")) % 2 == 1
    status = "failed" if odd else "passed"
    assert row == ("critical", 1 if odd else 0, 10.0, 10.0, 10.0, status, status,
                   f"api-up {status}")  # fmt: skip
    # A skipped check's duration does not count (it did not run).
    [queue] = query(
        dsn,
        "SELECT skipped, duration_ms_sum, duration_ms_max, severity FROM vigil.daily_rollups "
        "WHERE day = %s AND environment = 'bank' AND check_id = 'queue-up'",
        (day_of(64),),
    )
    assert queue == (1, 0.0, None, "warning")


def test_running_twice_changes_nothing(seeded: tuple[ResultStore, str]) -> None:
    store, dsn = seeded
    apply_retention(store, POLICY, now=NOW)
    rollups = query(dsn, ALL_ROLLUPS)
    runs = query(dsn, "SELECT id FROM vigil.runs ORDER BY id")
    again = apply_retention(store, POLICY, now=NOW)
    assert (again.days_rolled_up, again.runs_deleted, again.rollup_days_expired) == (0, 0, 0)
    assert query(dsn, ALL_ROLLUPS) == rollups
    assert query(dsn, "SELECT id FROM vigil.runs ORDER BY id") == runs


def test_a_crash_mid_prune_loses_nothing_and_the_next_run_finishes(
    seeded: tuple[ResultStore, str], pg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, dsn = seeded
    # The same history in a second store, pruned without a crash: the rollups to expect.
    pg.create_database("retention_reference")
    reference = ResultStore(pg.dsn("retention_reference"))
    seed(reference)
    apply_retention(reference, POLICY, now=NOW)
    expected = query(pg.dsn("retention_reference"), ALL_ROLLUPS)

    deletes = 0

    class Crash(Exception):
        pass

    def crashing_batches(runs: list[tuple[int, int]], limit: int) -> Iterator[list[int]]:
        nonlocal deletes
        for run_id, _ in runs:  # one run per batch; the second batch "crashes"
            deletes += 1
            if deletes == 2:
                raise Crash("the worker died")
            yield [run_id]

    monkeypatch.setattr(retention, "_batches", crashing_batches)
    with pytest.raises(Crash):
        apply_retention(store, POLICY, now=NOW, batch_results=1)
    monkeypatch.undo()
    # Half the oldest day is gone; its rollup, final, already holds all of it, and is
    # never recomputed from the half that is left.
    half = query(dsn, "SELECT count(*) FROM vigil.runs WHERE started_at::date = %s",
                 (day_of(120),))  # fmt: skip
    assert half == [(len(ENVS) - 1,)]
    assert query(dsn, "SELECT final, results FROM vigil.rollup_days WHERE day = %s",
                 (day_of(120),)) == [(True, len(ENVS) * 3)]  # fmt: skip

    apply_retention(store, POLICY, now=NOW)
    apply_retention(store, POLICY, now=NOW)
    assert query(dsn, ALL_ROLLUPS) == expected
    assert started_days(dsn) == sorted(day_of(o) for o in OFFSETS if o <= 62)


def test_a_day_on_the_raw_boundary_is_kept_the_day_before_goes(fresh_db: str) -> None:
    store = ResultStore(fresh_db)
    last_out = datetime.combine(PRUNE_BEFORE, time(), UTC) - timedelta(seconds=1)
    first_in = datetime.combine(PRUNE_BEFORE, time(), UTC)
    record_run(store, "shop", last_out, {"api-up": F})
    record_run(store, "shop", first_in, {"api-up": P})
    apply_retention(store, POLICY, now=NOW)
    assert query(fresh_db, "SELECT started_at FROM vigil.runs") == [(first_in,)]
    assert query(
        fresh_db, "SELECT day, failed, final FROM vigil.daily_rollups JOIN vigil.rollup_days "
        "USING (day) ORDER BY day"
    ) == [(PRUNE_BEFORE - timedelta(days=1), 1, True), (PRUNE_BEFORE, 0, False)]  # fmt: skip


def test_incomplete_days_are_not_rolled_up(fresh_db: str) -> None:
    store = ResultStore(fresh_db)
    # Yesterday ended 12 h before NOW, more than the settle time: complete; today is not.
    for offset in (0, 1):
        record_run(store, "shop", datetime.combine(day_of(offset), time(23, 50), UTC),
                   {"api-up": P})  # fmt: skip
    outcome = apply_retention(store, POLICY, now=NOW)
    assert query(fresh_db, "SELECT day FROM vigil.rollup_days") == [(day_of(1),)]
    assert outcome.days_rolled_up == 1
    early = apply_retention(store, POLICY, now=datetime.combine(TODAY, time(3), UTC))
    assert early.days_rolled_up == 0  # 03:00: yesterday ended only 3 h ago, not settled


def test_a_result_recorded_late_reaches_the_rollup_of_a_pruned_day(fresh_db: str) -> None:
    store = ResultStore(fresh_db)
    started = datetime.combine(day_of(70), time(6), UTC)
    run = record_run(store, "shop", started, {"api-up": P})
    # Rolled up (not final) while its raw rows are kept...
    apply_retention(store, POLICY, now=NOW - timedelta(days=30))
    # ...then a task of that run is cleared and re-run: a result replaced, one added.
    store.record(run, [
        CheckResult(check_id="api-up", family="health", target="api", status=F,
                    severity=Severity.CRITICAL, started_at=started),
        CheckResult(check_id="db-up", family="health", target="db", status=P,
                    severity=Severity.CRITICAL, started_at=started),
    ])  # fmt: skip
    apply_retention(store, POLICY, now=NOW)
    assert query(fresh_db, "SELECT check_id, passed, failed FROM vigil.daily_rollups "
                 "ORDER BY check_id") == [("api-up", 0, 1), ("db-up", 1, 0)]  # fmt: skip


def test_a_run_recorded_into_a_pruned_day_joins_its_rollup_before_it_goes(
    fresh_db: str,
) -> None:
    store = ResultStore(fresh_db)
    day = day_of(70)
    record_run(store, "shop", datetime.combine(day, time(6), UTC), {"api-up": P})
    apply_retention(store, POLICY, now=NOW)
    # A run whose start falls in the day already pruned (a clock put right, an import).
    record_run(store, "shop", datetime.combine(day, time(18), UTC), {"api-up": F})
    assert (
        query(
            fresh_db,
            retention.DELETE_RUNS,
            {
                "ids": [r[0] for r in query(fresh_db, "SELECT id FROM vigil.runs")],
                "day": day,
                **retention._bounds(day),
            },
        )
        == []
    )  # newer than the day's rollup: never deleted as is
    apply_retention(store, POLICY, now=NOW)
    assert query(fresh_db, "SELECT count(*) FROM vigil.runs") == [(0,)]
    assert query(
        fresh_db,
        "SELECT passed, failed, first_status, last_status, last_message FROM vigil.daily_rollups",
    ) == [(1, 1, "passed", "failed", "api-up failed")]
    # The late run merged in counts as a run of the day too.
    assert query(fresh_db, "SELECT sum(runs) FROM vigil.daily_rollups") == [(2,)]
    assert query(fresh_db, "SELECT results FROM vigil.rollup_days WHERE day = %s",
                 (day,)) == [(2,)]  # fmt: skip


def test_rollups_expire_after_their_days_and_only_when_pruned(
    seeded: tuple[ResultStore, str],
) -> None:
    store, dsn = seeded
    first = apply_retention(store, POLICY, now=NOW)
    assert first.rollup_days_expired == (EXPIRE_BEFORE - day_of(120)).days
    assert first.rollup_rows_expired == 2 * len(ENVS) * 3  # days 120 and 101
    days = [row[0] for row in query(dsn, "SELECT DISTINCT day FROM vigil.daily_rollups")]
    assert min(days) == EXPIRE_BEFORE
    # Ten days on, ten more days of rollups expire (and ten more days of raw go).
    later = apply_retention(store, POLICY, now=NOW + timedelta(days=10))
    assert later.rollup_days_expired == 10
    days = [row[0] for row in query(dsn, "SELECT DISTINCT day FROM vigil.daily_rollups")]
    assert min(days) > EXPIRE_BEFORE + timedelta(days=9)
    marked = query(dsn, "SELECT min(day) FROM vigil.rollup_days")
    assert marked == [(EXPIRE_BEFORE + timedelta(days=10),)]


def test_the_delete_itself_refuses_a_day_without_its_final_rollup(
    seeded: tuple[ResultStore, str],
) -> None:
    _store, dsn = seeded
    day = day_of(120)
    ids = [row[0] for row in query(dsn, "SELECT id FROM vigil.runs WHERE started_at::date = %s",
                                   (day,))]  # fmt: skip
    start = datetime.combine(day, time(), UTC)
    params = {"ids": ids, "day": day, "start": start, "end": start + timedelta(days=1)}
    assert query(dsn, retention.DELETE_RUNS, params) == []
    query(dsn, "INSERT INTO vigil.rollup_days (day, results, max_run) VALUES (%s, 0, %s)",
          (day, max(ids)))  # fmt: skip
    assert query(dsn, retention.DELETE_RUNS, params) == []  # rolled up, but not final
    assert len(ids) == len(ENVS)


def test_alerts_and_notices_outlive_the_runs_they_point_at(
    seeded: tuple[ResultStore, str],
) -> None:
    store, dsn = seeded
    [(old_run, old_started)] = query(
        dsn, "SELECT id, started_at FROM vigil.runs WHERE environment = 'shop' "
        "ORDER BY started_at LIMIT 1"
    )  # fmt: skip
    [(alert,)] = query(
        dsn,
        "INSERT INTO vigil.alerts (environment, fingerprint, rule_id, rule_kind, severity, "
        "state, first_seen, last_run, last_notice_run, last_run_started) VALUES ('shop', "
        "'down/check_id=api-up', 'down', 'consecutive_failures', 'critical', 'firing', "
        "%(t)s, %(run)s, %(run)s, %(t)s) RETURNING id",
        {"t": old_started, "run": old_run},
    )
    query(
        dsn,
        "INSERT INTO vigil.alert_notifications (alert, notice_seq, episode, channel, kind, run, "
        "status, content, evaluated_at) VALUES (%s, 1, 1, 'ops', 'firing', %s, 'sent', '{}', %s)",
        (alert, old_run, old_started),
    )
    probe_figures.record(
        store, RunRef("shop", "daily", "shop_daily", f"scheduled__{old_started.isoformat()}"),
        check_id="api-latency", target="api", check_kind="http_load", profile="default",
        passed=True, figures={"p95": 12.0}, histogram=None,
    )  # fmt: skip
    apply_retention(store, POLICY, now=NOW)
    assert query(dsn, "SELECT id FROM vigil.runs WHERE id = %s", (old_run,)) == []
    assert query(
        dsn, "SELECT state, last_run, last_notice_run, last_run_started FROM vigil.alerts"
    ) == [("firing", None, None, old_started)]
    assert query(dsn, "SELECT run, status FROM vigil.alert_notifications") == [(None, "sent")]
    assert query(dsn, "SELECT count(*) FROM vigil.probe_figures") == [(0,)]


def test_reports_read_the_same_after_pruning(fresh_db: str) -> None:
    store = ResultStore(fresh_db)
    # A run a day for 80 days: the review's two 30-day windows, and older days to prune.
    seed_daily = tuple(range(80))
    for offset in seed_daily:
        started = datetime.combine(day_of(offset), time(6), UTC)
        record_run(store, "shop", started, statuses("shop", offset))
    before = review_data(store, "shop", now=NOW)
    outcome = apply_retention(store, POLICY, now=NOW)
    assert outcome.runs_deleted == 80 - 63
    after = review_data(store, "shop", now=NOW)
    assert after.rates == before.rates
    assert after.records == before.records
    assert "shop" in render_review_report(store, "shop", now=NOW)
    assert "shop" in render_trend_report(store, "shop", now=NOW)


def test_apply_retention_rejects_a_naive_clock(fresh_db: str) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        apply_retention(ResultStore(fresh_db), POLICY, now=datetime(2026, 6, 30))


def test_a_store_that_cannot_be_reached_is_a_store_error() -> None:
    store = ResultStore("postgresql://nobody@127.0.0.1:9/none?connect_timeout=1")
    with pytest.raises(StoreError, match="apply the retention policy"):
        apply_retention(store, POLICY, now=NOW)
