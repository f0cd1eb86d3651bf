"""Results store migrations: applied once, idempotent, safe under concurrency, atomic."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from vigil.context import env_connection
from vigil.results import ResultStore, StoreError
from vigil.results.migrations import MIGRATIONS_DIR, load

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
TABLES = ["alert_notifications", "alerts", "check_results", "runs", "schema_migrations", "silences"]


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
