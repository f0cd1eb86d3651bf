"""A real `dag.test()` of demo_weekly's own scenario: the demo's pytest suite, run as a
command by the `orders-suite` task and ingested from its JUnit XML, one result per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.dags.conftest import run_dag, vigil_env
from vigil.result import Status
from vigil.results.store import ResultStore, RunRef

pytestmark = pytest.mark.dags


@pytest.fixture(scope="module")
def env(
    pg: Any, demo_system: Any, airflow_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    state = tmp_path_factory.mktemp("state")
    with vigil_env(pg, demo_system, "dagtest_weekly", VIGIL_STATE_DIR=str(state)) as values:
        yield values


def test_demo_weekly_runs_the_demo_suite_and_stores_each_test_case(env: dict[str, str]) -> None:
    dag_run = run_dag("demo_weekly", {"checks": ["orders-suite"]})
    run = RunRef("demo", "weekly", "demo_weekly", dag_run.run_id)
    results = {
        r.check_id: r for r in ResultStore(env["AIRFLOW_CONN_VIGIL_RESULTS"]).run_results(run)
    }
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert dag_run.state == "success", {k: r.message for k, r in results.items()}
    assert states["scenarios.orders-suite"] == "success"
    cases = {k: r for k, r in results.items() if r.parent == "orders-suite"}
    # Every test case of demo/suite, by `<suite>::<classname>::<name>`, passed.
    assert len(cases) >= 8, sorted(results)
    assert all(k.startswith("orders-suite::test_orders_api::") for k in cases), sorted(cases)
    assert {r.status for r in cases.values()} == {Status.PASSED}
    summary = results["orders-suite"]
    assert summary.status is Status.PASSED
    assert summary.observed["tests"] == len(cases) and summary.observed["exit_code"] == 0
