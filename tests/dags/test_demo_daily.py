"""A real `dag.test()` of demo_daily against the running demo system and a real store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dags.conftest import DAGS
from vigil.result import Status
from vigil.results.store import ResultStore, RunRef
from vigil.stack.postgres import LocalPostgres, free_port

pytestmark = pytest.mark.dags


@pytest.fixture(scope="module")
def demo_env(pg: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The demo system on free ports, its database and a results database, as Vigil's env."""
    from demo import config as demo_config
    from demo.launcher import DemoSystem

    pg.create_database("dagtest_demo")
    pg.create_database("dagtest_results")
    system = DemoSystem(pg.dsn("dagtest_demo"), tmp_path_factory.mktemp("demo"),
                        orders_port=free_port(), inventory_port=free_port())
    system.start()
    env = {
        "AIRFLOW_CONN_VIGIL_DEMO_DB": pg.dsn("dagtest_demo"),
        "AIRFLOW_CONN_VIGIL_RESULTS": pg.dsn("dagtest_results"),
        "DEMO_ORDERS_URL": system.orders_url,
        "DEMO_INVENTORY_URL": system.inventory_url,
        "DEMO_DB_ADDR": f"127.0.0.1:{pg.port}",
        "DEMO_TOKEN_ACME": demo_config.ACME_TOKEN,
        "VIGIL_SPECS_DIR": str(Path(DAGS).parent / "include" / "specs"),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    system.stop()


def _run_demo_daily(airflow_db: str, conf: dict[str, Any] | None = None) -> tuple[Any, RunRef]:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS)).dags["demo_daily"]
    dag_run = dag.test(run_conf=conf)
    return dag_run, RunRef("demo", "daily", "demo_daily", dag_run.run_id)


def _by_id(store: ResultStore, run: RunRef) -> dict[str, Any]:
    return {r.check_id: r for r in store.run_results(run)}


def test_demo_daily_is_green_and_stores_every_check(airflow_db: str, demo_env: dict[str, str]) -> None:
    dag_run, run = _run_demo_daily(airflow_db)
    store = ResultStore(demo_env["AIRFLOW_CONN_VIGIL_RESULTS"])
    results = _by_id(store, run)
    assert dag_run.state == "success", {k: (r.status, r.message) for k, r in results.items()}
    assert set(results) == {"demo-db-up", "demo-db-port-open", "inventory-api-health",
                            "inventory-api-products", "orders-api-health", "orders-api-list-orders"}
    assert {r.status for r in results.values()} == {Status.PASSED}
    summary = store.recent_runs("demo", limit=1)[0]
    assert summary.state == "success"
    assert summary.ended_at is not None


def test_inventory_down_fails_inventory_and_skips_orders_with_the_reason(
    airflow_db: str, demo_env: dict[str, str]
) -> None:
    from demo import faults

    faults.set_fault("inventory-down", True, dsn=demo_env["AIRFLOW_CONN_VIGIL_DEMO_DB"])
    try:
        dag_run, run = _run_demo_daily(airflow_db)
    finally:
        faults.set_fault("inventory-down", False, dsn=demo_env["AIRFLOW_CONN_VIGIL_DEMO_DB"])
    results = _by_id(ResultStore(demo_env["AIRFLOW_CONN_VIGIL_RESULTS"]), run)
    assert dag_run.state == "failed"
    assert results["demo-db-up"].status is Status.PASSED
    assert results["inventory-api-health"].status is Status.FAILED
    assert "503" in results["inventory-api-health"].message
    for check_id in ("orders-api-health", "orders-api-list-orders"):
        assert results[check_id].status is Status.SKIPPED
        assert "inventory-api is unhealthy" in results[check_id].message
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states["health.inventory-api"] == "failed"
    assert states["health.orders-api"] == "skipped"
    assert states["health.demo-db"] == "success"
    assert states["summarize"] == "failed"


def test_run_parameters_narrow_the_run_to_chosen_targets(
    airflow_db: str, demo_env: dict[str, str]
) -> None:
    dag_run, run = _run_demo_daily(airflow_db, conf={"targets": ["demo-db"], "dry_run": True})
    results = _by_id(ResultStore(demo_env["AIRFLOW_CONN_VIGIL_RESULTS"]), run)
    assert dag_run.state == "success"
    assert set(results) == {"demo-db-up"}
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states["health.orders-api"] == "skipped"
