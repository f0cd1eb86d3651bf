"""The quality family on its own terms: check ids per spec check, error results instead of
exceptions (missing files, a database that is down, a missing table, no connection), the
row-count change against the previous run from a real results store, and Data Docs as a
side channel that never fails a validation."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from vigil.context import RunContext
from vigil.quality.run import run_checks
from vigil.result import CheckResult, Severity, Status
from vigil.results.store import ResultStore, RunRef
from vigil.spec.models import Spec
from vigil.stack.postgres import LocalPostgres, free_port

pytestmark = pytest.mark.integration

EVENTS_SUITE = {
    "name": "events",
    "expectations": [
        {
            "type": "expect_table_row_count_to_be_between",
            "kwargs": {"min_value": 1, "max_value": 1000},
            "meta": {"id": "row_count", "row_count_change": {"max_pct": 20}},
        },
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "kind"},
            "meta": {"id": "kind.not_null", "severity": "warning"},
        },
    ],
}


def sql(dsn: str, statements: str) -> None:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statements)
    finally:
        conn.close()


def spec(*quality: dict[str, Any]) -> Spec:
    return Spec.model_validate(
        {
            "environment": "qa",
            "targets": {
                "events-db": {"kind": "postgres", "conn_id": "events_db"},
                "site": {"kind": "http", "base_url": "http://127.0.0.1:1"},
            },
            "checks": {"quality": list(quality)},
        }
    )


def suite_check(check_id: str = "events-data", **kw: Any) -> dict[str, Any]:
    return {
        "id": check_id,
        "kind": "suite",
        "target": "events-db",
        "suite": "qa/events.json",
        "table": "events",
        **kw,
    }


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "expectations" / "qa").mkdir(parents=True)
    (tmp_path / "expectations" / "qa" / "events.json").write_text(json.dumps(EVENTS_SUITE))
    monkeypatch.setenv("VIGIL_EXPECTATIONS_DIR", str(tmp_path / "expectations"))
    monkeypatch.setenv("VIGIL_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


@pytest.fixture
def events_db(fresh_db: str) -> str:
    sql(fresh_db, "CREATE TABLE events (id int PRIMARY KEY, kind text)")
    sql(fresh_db, "INSERT INTO events SELECT g, 'click' FROM generate_series(1, 100) g")
    return fresh_db


def run(the_spec: Spec, dsn: str, results_dsn: str = "", run_id: str = "r1") -> list[CheckResult]:
    environ = {"AIRFLOW_CONN_EVENTS_DB": dsn}
    if results_dsn:
        environ["AIRFLOW_CONN_VIGIL_RESULTS"] = results_dsn
    ctx = RunContext(the_spec, environ=environ, run_id=run_id, dag_id="qa_daily")
    return run_checks(the_spec.checks.quality, ctx)


def by_id(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.check_id: r for r in results}


def test_ids_are_prefixed_by_the_spec_check_and_severity_falls_back_to_it(
    folders: Path, events_db: str, pg: LocalPostgres
) -> None:
    the_spec = spec(
        suite_check("events-a"),
        suite_check("events-b", severity="warning", row_filter="id <= 50"),
    )
    found = by_id(run(the_spec, events_db))
    assert set(found) == {
        "events-a.row_count",
        "events-a.row_count.change",
        "events-a.kind.not_null",
        "events-b.row_count",
        "events-b.row_count.change",
        "events-b.kind.not_null",
    }
    assert found["events-b.row_count"].observed == {"observed_value": 50}
    # meta.severity wins; without it the spec check's severity applies.
    assert found["events-a.row_count"].severity is Severity.CRITICAL
    assert found["events-b.row_count"].severity is Severity.WARNING
    assert found["events-a.kind.not_null"].severity is Severity.WARNING
    # No results store configured: the change checks say so, the rest stands.
    change = found["events-a.row_count.change"]
    assert change.status is Status.ERROR
    assert "vigil_results" in change.message
    assert found["events-a.row_count"].status is Status.PASSED


def test_row_count_change_against_the_previous_run(
    folders: Path, events_db: str, pg: LocalPostgres
) -> None:
    results_db = "qres_" + Path(events_db).name
    pg.create_database(results_db)
    store = ResultStore(pg.dsn(results_db))
    the_spec = spec(suite_check())
    outcomes: list[CheckResult] = []
    for run_id, more_rows in (("r1", 0), ("r2", 10), ("r3", 55)):
        if more_rows:
            first_id = 1000 * len(outcomes)
            ids = f"generate_series({first_id}, {first_id + more_rows - 1})"
            sql(events_db, f"INSERT INTO events SELECT g, 'view' FROM {ids} g")
        results = run(the_spec, events_db, pg.dsn(results_db), run_id)
        store.record(RunRef("qa", "daily", "qa_daily", run_id), results)
        outcomes.append(by_id(results)["events-data.row_count.change"])
    first, second, third = outcomes
    assert first.status is Status.SKIPPED
    assert second.status is Status.PASSED
    assert second.observed == {
        "row_count": 110,
        "previous_row_count": 100,
        "change_pct": 10.0,
        "previous_run_id": "r1",
    }
    assert third.status is Status.FAILED
    assert third.severity is Severity.CRITICAL  # no severity in the rule: the row count's
    assert third.message == ("public.events: 165 rows, +50.0% against 110 in run r2 (beyond ±20%)")
    # A retried run compares with the run before it, not with its own first attempt.
    again = by_id(run(the_spec, events_db, pg.dsn(results_db), "r3"))
    assert again["events-data.row_count.change"].observed["previous_run_id"] == "r2"


def test_missing_files_unknown_connection_and_missing_table_are_errors(
    folders: Path, events_db: str
) -> None:
    the_spec = spec(
        suite_check("no-suite", suite="qa/nope.json"),
        suite_check("no-table", table="gone"),
        {
            "id": "no-snapshot",
            "kind": "schema_drift",
            "target": "events-db",
            "snapshot": "qa/s.yaml",
        },
    )
    found = by_id(run(the_spec, events_db))
    nope = found["no-suite"]
    assert nope.status is Status.ERROR
    assert nope.message.startswith("no-suite could not run: suite file qa/nope.json not found in")
    snapshot = found["no-snapshot"]
    assert snapshot.status is Status.ERROR and "qa/s.yaml" in snapshot.message
    for check_id in ("no-table.row_count", "no-table.kind.not_null"):
        assert found[check_id].status is Status.ERROR
        assert "table public.gone does not exist" in found[check_id].message
    # Without AIRFLOW_CONN_EVENTS_DB nothing can connect: one error per spec check.
    ctx = RunContext(the_spec, environ={}, run_id="r1", dag_id="qa_daily")
    found = by_id(run_checks([the_spec.checks.quality[1]], ctx))
    assert list(found) == ["no-table"]
    assert "AIRFLOW_CONN_EVENTS_DB" in found["no-table"].message


def test_a_database_that_is_down_is_an_error_for_every_check(folders: Path, tmp_path: Path) -> None:
    (folders / "expectations" / "qa" / "s.yaml").write_text(
        "format: 1\nschemas: {public: {tables: {}}}\n"
    )
    the_spec = spec(
        suite_check(),
        {"id": "drift", "kind": "schema_drift", "target": "events-db", "snapshot": "qa/s.yaml"},
    )
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/events"
    found = by_id(run(the_spec, down))
    assert found["events-data.row_count"].status is Status.ERROR
    assert "cannot connect to PostgreSQL at 127.0.0.1" in found["events-data.row_count"].message
    assert found["events-data.kind.not_null"].status is Status.ERROR
    assert found["events-data.row_count.change"].status is Status.SKIPPED
    assert found["drift"].status is Status.ERROR
    # The site still shows what happened.
    assert (folders / "state" / "data_docs" / "qa" / "qa_daily" / "r1" / "index.html").is_file()


def test_data_docs_that_cannot_be_built_only_warn(
    folders: Path, events_db: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = folders / "not-a-folder"
    blocker.write_text("a file where the state folder should be")
    monkeypatch.setenv("VIGIL_STATE_DIR", str(blocker))
    with caplog.at_level(logging.INFO, logger="vigil"):
        found = by_id(run(spec(suite_check()), events_db))
    assert found["events-data.row_count"].status is Status.PASSED
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("Data Docs not built in") for m in warnings), warnings
