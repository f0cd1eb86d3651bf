"""Results store migrations: applied once, idempotent, safe under concurrency, atomic."""

from __future__ import annotations

import shutil
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from tests.support.receivers import T0, StoredRuns, WebhookReceiver
from vigil.alerts.engine import evaluate
from vigil.alerts.resolver import Resolver
from vigil.context import env_connection
from vigil.results import ResultStore, StoreError
from vigil.results.migrations import MIGRATIONS_DIR, load
from vigil.spec.alerts import AlertsConfig

pytestmark = pytest.mark.integration


def query(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            rows: list[tuple[Any, ...]] = cur.fetchall()
            return rows
    finally:
        conn.close()


# Every shipped migration, and the tables they create: later migrations add to these.
SHIPPED = [m.version for m in load()]
TABLES = [
    "alert_notifications",
    "alerts",
    "check_results",
    "daily_rollups",
    "probe_figures",
    "rollup_days",
    "run_families",
    "runs",
    "schema_migrations",
    "silences",
]


def vigil_tables(dsn: str) -> list[str]:
    rows = query(
        dsn,
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'vigil' ORDER BY table_name",
    )
    return [r[0] for r in rows]


def test_migrate_applies_once_then_is_a_noop(fresh_db: str) -> None:
    store = ResultStore(fresh_db)
    assert store.migrate() == SHIPPED
    assert store.migrate() == []
    assert ResultStore(fresh_db).migrate() == []
    assert vigil_tables(fresh_db) == TABLES
    assert query(fresh_db, "SELECT version, name FROM vigil.schema_migrations ORDER BY 1")[0] == (
        "0001",
        "initial",
    )


def test_store_migrates_lazily_on_first_use(fresh_db: str) -> None:
    assert ResultStore(fresh_db).recent_runs("demo") == []
    rows = query(fresh_db, "SELECT version FROM vigil.schema_migrations ORDER BY 1")
    assert [r[0] for r in rows] == SHIPPED


def test_concurrent_migrations_both_succeed_with_one_schema(fresh_db: str) -> None:
    workers = 4
    barrier = threading.Barrier(workers, timeout=10)
    outcomes: list[list[str] | BaseException] = []

    def migrate() -> None:
        store = ResultStore(fresh_db)
        barrier.wait()
        try:
            outcomes.append(store.migrate())
        except BaseException as exc:  # reported below, not swallowed
            outcomes.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes, key=repr) == [SHIPPED, [], [], []]
    assert vigil_tables(fresh_db) == TABLES
    assert query(fresh_db, "SELECT count(*) FROM vigil.schema_migrations") == [(len(SHIPPED),)]


def test_a_failing_migration_names_its_file_and_applies_nothing(
    fresh_db: str, tmp_path: Path
) -> None:
    shutil.copy(MIGRATIONS_DIR / "0001_initial.sql", tmp_path)
    broken = tmp_path / "0002_broken.sql"
    broken.write_text("CREATE TABLE vigil.extra (id int);\nSELECT * FROM vigil.no_such_table;\n")
    with pytest.raises(StoreError, match=r"0002_broken\.sql.*no_such_table"):
        ResultStore(fresh_db, migrations_dir=tmp_path).migrate()
    # One transaction: neither 0001 nor the first half of 0002 stayed behind.
    assert vigil_tables(fresh_db) == []

    broken.write_text("CREATE TABLE vigil.extra (id int);\n")
    assert ResultStore(fresh_db, migrations_dir=tmp_path).migrate() == ["0001", "0002"]
    assert "extra" in vigil_tables(fresh_db)


def test_misnamed_or_duplicate_migration_files_are_errors(tmp_path: Path) -> None:
    (tmp_path / "1_first.sql").write_text("SELECT 1;")
    with pytest.raises(StoreError, match=r"1_first\.sql.*NNNN_lowercase_name\.sql"):
        load(tmp_path)
    (tmp_path / "1_first.sql").unlink()
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(StoreError, match=r"0001_b\.sql: version 0001 is also used by 0001_a"):
        load(tmp_path)


def test_shipped_migrations_are_numbered_from_one_without_gaps() -> None:
    versions = [int(m.version) for m in load()]
    assert versions == list(range(1, len(versions) + 1))


def test_from_connection_uses_an_airflow_style_connection(fresh_db: str) -> None:
    info = env_connection("vigil_results", {"AIRFLOW_CONN_VIGIL_RESULTS": fresh_db})
    store = ResultStore.from_connection(info)
    assert store.migrate() == SHIPPED
    assert store.recent_runs("demo") == []


# A store as the code before families left it: migrated to 0003, with old-style rows.
OLD_ROWS = """
INSERT INTO vigil.runs (environment, cadence, dag_id, run_id, started_at, ended_at, state)
VALUES ('demo', 'daily', 'demo_daily', 'old001', %(t)s, %(t)s, 'success');
INSERT INTO vigil.check_results
    (run, environment, check_id, kind, target, status, severity, started_at, details)
VALUES (1, 'demo', 'orders_drift.public.orders', 'quality', 'db', 'failed', 'warning', %(t)s,
        '{"object": "public.orders", "change": "column added"}'),
       (1, 'demo', 'orders_ok', 'quality', 'db', 'failed', 'warning', %(t)s, '{}');
INSERT INTO vigil.alerts (environment, fingerprint, rule_id, rule_kind, scope, severity,
                          state, episode, notice_seq, first_seen, fired_at, last_run,
                          last_run_started)
VALUES ('demo', 'slow/kind=quality,target=db', 'slow', 'window_failure_rate',
        '{"kind": "quality", "target": "db"}', 'warning', 'firing', 1, 1, %(t)s, %(t)s, 1, %(t)s),
       ('demo', 'long/0123456789abcdef', 'long', 'window_failure_rate',
        jsonb_build_object('kind', 'quality', 'target', repeat('x', 200)), 'warning',
        'firing', 1, 1, %(t)s, %(t)s, 1, %(t)s);
INSERT INTO vigil.alert_notifications
    (alert, notice_seq, episode, channel, kind, run, status, content, evaluated_at)
VALUES (1, 1, 1, 'hook', 'firing', 1, 'failed', '{}', %(t)s);
INSERT INTO vigil.silences (scope, starts_at, until, created_by, reason)
VALUES ('kind=quality target=db', %(t)s, %(t)s + interval '30 days', 'ops', 'known'),
       ('colour=red', %(t)s, %(t)s + interval '30 days', 'ops', 'unreadable');
"""


def store_at_0003_with_old_rows(dsn: str, tmp_path: Path) -> None:
    for migration in load()[:3]:
        shutil.copy(migration.path, tmp_path)
    assert ResultStore(dsn, migrations_dir=tmp_path).migrate() == ["0001", "0002", "0003"]
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(OLD_ROWS, {"t": T0 - timedelta(hours=1)})
    finally:
        conn.close()


def test_upgrade_rewrites_old_kind_rows_to_families(fresh_db: str, tmp_path: Path) -> None:
    store_at_0003_with_old_rows(fresh_db, tmp_path)
    assert ResultStore(fresh_db).migrate() == SHIPPED[3:]

    assert query(fresh_db, "SELECT scope FROM vigil.silences ORDER BY id") == [
        ("family=quality target=db",),
        ("colour=red",),
    ]
    assert query(
        fresh_db, "SELECT check_id, family, check_kind, parent FROM vigil.check_results ORDER BY id"
    ) == [
        ("orders_drift.public.orders", "quality", "schema_drift", "orders_drift"),
        ("orders_ok", "quality", "", None),
    ]
    alerts = query(
        fresh_db, "SELECT fingerprint, scope, state, detail ? 'closed_by_migration' "
        "FROM vigil.alerts ORDER BY id"
    )  # fmt: skip
    assert alerts[0] == (
        "slow/family=quality,target=db",
        {"family": "quality", "target": "db"},
        "firing",
        False,
    )
    # Too long to read: hashed, so closed with a note rather than left to never resolve.
    assert alerts[1][0] == "long/0123456789abcdef"
    assert alerts[1][1] == {"family": "quality", "target": "x" * 200}
    assert alerts[1][2:] == ("resolved", True)
    assert query(fresh_db, "SELECT kind, status FROM vigil.alert_notifications") == [
        ("firing", "superseded")
    ]


def test_first_evaluation_after_the_upgrade_neither_crashes_nor_fires_twice(
    fresh_db: str, tmp_path: Path
) -> None:
    store_at_0003_with_old_rows(fresh_db, tmp_path)
    store = ResultStore(fresh_db)
    runs = StoredRuns(store, {"orders_ok": ("quality", "db")})
    runs.add({"orders_ok": "failed"})
    rule = {"id": "slow", "kind": "window_failure_rate", "window": {"last_runs": 3},
            "group_by": ["family", "target"], "min_results": 1}  # fmt: skip
    with WebhookReceiver(secret="s") as hook:
        cfg = AlertsConfig.model_validate(
            {
                "channels": {"hook": {"kind": "webhook", "url": hook.url, "secret": "${S}"}},
                "routes": {"critical": ["hook"], "warning": ["hook"]},
                "rules": [rule],
                "delivery": {"attempts": 1, "backoff_s": 0.01, "max_total_s": 3},
            }
        )
        report = evaluate(store, runs.last, cfg, now=runs.now,
                          resolver=Resolver(environ={"S": "s"}))  # fmt: skip
        assert hook.received == []  # the old failed firing is not re-sent
    assert [(a.fingerprint, a.change) for a in report.alerts] == [
        ("slow/family=quality,target=db", "unchanged")
    ]
    assert len(report.problems) == 1
    assert "silence #2 (colour=red" in report.problems[0] and "ignored" in report.problems[0]
    assert query(fresh_db, "SELECT count(*) FROM vigil.alerts WHERE rule_id = 'slow'") == [(1,)]
