"""The vigil_maintenance DAG, run by Airflow (dag.test()) against a real results store:
old raw runs go, their days stay as rollups holding exactly what went, recent runs stay."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import psycopg2
import pytest

from tests.dags.conftest import DAGS, REPO
from vigil.result import CheckResult, Severity, Status
from vigil.results import ResultStore, RunRef
from vigil.results.retention_policy import RetentionConfigError

pytestmark = pytest.mark.dags

RAW_DAYS = 62
# Days back from today with a run: pruned (> RAW_DAYS), on the boundary, and recent.
OFFSETS = (90, 75, 63, 62, 10, 2)


def _query(dsn: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    conn.close()
    return rows


@pytest.fixture
def results_store(airflow_db: str, pg: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    pg.create_database("maintenance_results")
    dsn = pg.dsn("maintenance_results")
    # The demo spec names connection vigil_results: Airflow finds it in the environment.
    monkeypatch.setenv("AIRFLOW_CONN_VIGIL_RESULTS", dsn)
    monkeypatch.setenv("VIGIL_SPECS_DIR", str(REPO / "include" / "specs"))
    monkeypatch.setenv("VIGIL_RETENTION_RAW_DAYS", str(RAW_DAYS))
    monkeypatch.setenv("VIGIL_RETENTION_ROLLUP_DAYS", "400")
    store = ResultStore(dsn)
    today = datetime.now(UTC).date()
    for offset in OFFSETS:
        started = datetime.combine(today - timedelta(days=offset), time(6), UTC)
        run = RunRef("demo", "daily", "demo_daily", f"scheduled__{started.isoformat()}")
        store.record(
            run,
            [
                CheckResult(check_id="api-up", family="health", target="api",
                            status=Status.FAILED if offset % 2 else Status.PASSED,
                            severity=Severity.CRITICAL, started_at=started),
                CheckResult(check_id="db-up", family="health", target="db",
                            status=Status.PASSED, severity=Severity.CRITICAL,
                            started_at=started + timedelta(seconds=1)),
            ],
        )  # fmt: skip
    yield dsn


def test_the_dag_prunes_old_runs_into_rollups_and_keeps_recent_ones(results_store: str) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dsn = results_store
    cutoff = datetime.combine(datetime.now(UTC).date() - timedelta(days=RAW_DAYS), time(), UTC)
    going = _query(
        dsn,
        "SELECT (r.started_at AT TIME ZONE 'UTC')::date, c.check_id, "
        "count(*) FILTER (WHERE c.status = 'passed'), count(*) FILTER (WHERE c.status = 'failed') "
        "FROM vigil.check_results c JOIN vigil.runs r ON r.id = c.run WHERE r.started_at < %s "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        (cutoff,),
    )
    kept = _query(dsn, "SELECT * FROM vigil.check_results WHERE started_at >= %s ORDER BY id",
                  (cutoff,))  # fmt: skip
    assert len(going) == 3 * 2 and len(kept) == 3 * 2

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    dag = bag.dags["vigil_maintenance"]
    dag_run = dag.test()
    assert dag_run.state == "success"

    assert _query(dsn, "SELECT count(*) FROM vigil.runs WHERE started_at < %s", (cutoff,)) == [(0,)]
    rollups = _query(
        dsn,
        "SELECT day, check_id, passed, failed FROM vigil.daily_rollups WHERE day < %s "
        "ORDER BY 1, 2",
        (cutoff.date(),),
    )
    assert rollups == going
    after = _query(dsn, "SELECT * FROM vigil.check_results WHERE started_at >= %s ORDER BY id",
                   (cutoff,))  # fmt: skip
    assert after == kept


def test_the_dag_is_daily_without_catchup_and_parses_without_the_store(airflow_db: str) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import CronTriggerTimetable

    dag = DagBag(dag_folder=str(DAGS)).dags["vigil_maintenance"]
    assert dag.catchup is False
    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert [t.task_id for t in dag.tasks] == ["apply_retention"]
    assert dag.tasks[0].owner == "vigil"
    assert dag.tasks[0].retries == 1


def test_a_bad_policy_fails_the_task_saying_which_variable(
    airflow_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vigil.airflow.maintenance import apply_retention

    monkeypatch.setenv("VIGIL_RETENTION_RAW_DAYS", "14")
    with pytest.raises(RetentionConfigError, match="VIGIL_RETENTION_RAW_DAYS=14 is too short"):
        apply_retention()


def test_an_alert_window_longer_than_raw_history_is_refused(
    airflow_db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from vigil.airflow.maintenance import apply_retention

    spec = (REPO / "include" / "specs" / "demo.yaml").read_text()
    marker = "  rules:\n"
    assert marker in spec
    long_window = (
        "    - {id: quarterly-flakes, kind: window_failure_rate, window: {last: 120d}, "
        "threshold: 0.3}\n"
    )
    (tmp_path / "demo.yaml").write_text(spec.replace(marker, marker + long_window, 1))
    monkeypatch.setenv("VIGIL_SPECS_DIR", str(tmp_path))
    monkeypatch.setenv("VIGIL_RETENTION_RAW_DAYS", "90")
    with pytest.raises(RetentionConfigError, match="'quarterly-flakes' reads a window of 120 days"):
        apply_retention()


def test_one_specs_long_window_refuses_its_own_store_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """A spec whose alert window reaches past the raw days kept holds back the store it
    names; every other store is still maintained."""
    from vigil.airflow.maintenance import stores_of_specs
    from vigil.results.retention_policy import RetentionPolicy

    spec = (REPO / "include" / "specs" / "demo.yaml").read_text()
    (tmp_path / "demo.yaml").write_text(spec)
    other = spec.replace("environment: demo", "environment: other", 1)
    other = other.replace("results_conn_id: vigil_results", "results_conn_id: other_results")
    long_window = (
        "    - {id: quarterly-flakes, kind: window_failure_rate, window: {last: 120d}, "
        "threshold: 0.3}\n"
    )
    other = other.replace("  rules:\n", "  rules:\n" + long_window, 1)
    (tmp_path / "other.yaml").write_text(other)
    monkeypatch.setenv("VIGIL_SPECS_DIR", str(tmp_path))
    stores, refused = stores_of_specs(RetentionPolicy(raw_days=90))
    assert stores == {"vigil_results": ["demo"]}
    assert list(refused) == ["other_results"]
    assert "'quarterly-flakes' reads a window of 120 days" in refused["other_results"][0]
