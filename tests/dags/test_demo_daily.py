"""A real `dag.test()` of demo_daily against the running demo system and a real store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dags.conftest import fault_on, inventory_down, run_dag, vigil_env
from tests.support.demo_system import DEMO_JOURNEYS
from vigil.result import Status
from vigil.results.store import ResultStore, RunRef

pytestmark = pytest.mark.dags


@pytest.fixture(scope="module")
def env(
    pg: Any, demo_system: Any, airflow_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    state = tmp_path_factory.mktemp("state")
    with vigil_env(pg, demo_system, "dagtest_results", VIGIL_STATE_DIR=str(state)) as values:
        yield values


def _run(conf: dict[str, Any] | None = None) -> tuple[Any, RunRef]:
    dag_run = run_dag("demo_daily", conf)
    return dag_run, RunRef("demo", "daily", "demo_daily", dag_run.run_id)


def _results(env: dict[str, str], run: RunRef) -> dict[str, Any]:
    return {r.check_id: r for r in ResultStore(env["AIRFLOW_CONN_VIGIL_RESULTS"]).run_results(run)}


def _states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def test_demo_daily_is_green_and_stores_every_check(env: dict[str, str]) -> None:
    dag_run, run = _run()
    results = _results(env, run)
    problems = {k: (r.status, r.message) for k, r in results.items() if r.is_problem}
    assert dag_run.state == "success", problems
    health = {k for k, r in results.items() if r.family == "health"}
    assert health == {
        "demo-db-up",
        "demo-db-port-open",
        "inventory-api-health",
        "inventory-api-products",
        "orders-api-health",
        "orders-api-list-orders",
        "orders-api-metrics",
        "orders-feed-hello",
    }
    quality = {r.spec_check for r in results.values() if r.family == "quality"}
    assert quality == {
        "tenants-data",
        "customers-data",
        "products-data",
        "inventory-data",
        "orders-data",
        "order-items-data",
        "payments-data",
        "demo-db-schema",
    }
    scenarios = {r.spec_check for r in results.values() if r.family == "scenarios"}
    assert scenarios == set(DEMO_JOURNEYS)
    probes = {r.spec_check for r in results.values() if r.family == "probes"}
    assert probes == {
        "orders-api-load",
        "order-history-latency",
        "order-history-plan",
        "demo-db-connections",
    }
    # A first run has no earlier row count to compare with, and no probe baseline yet:
    # those checks skip, saying so.
    skipped = {k for k, r in results.items() if r.status is Status.SKIPPED}
    assert skipped and all(k.endswith((".row_count.change", ".baseline")) for k in skipped)
    assert "orders-api-load.p95.baseline" in skipped
    # Probes ran after every other check, in their one-slot pool.
    states = _states(dag_run)
    assert states["probes.orders-api"] == states["probes.demo-db"] == "success"
    # One task per journey, each green.
    assert (
        states["scenarios.order-lifecycle"] == states["scenarios.inventory-recovery"] == "success"
    )
    assert {r.status for k, r in results.items() if k not in skipped} == {Status.PASSED}
    summary = ResultStore(env["AIRFLOW_CONN_VIGIL_RESULTS"]).recent_runs("demo", limit=1)[0]
    assert summary.state == "success"
    assert summary.ended_at is not None
    report = Path(env["VIGIL_STATE_DIR"]) / "reports" / "demo" / "demo_daily"
    assert len(list(report.glob("*.html"))) == 1


def test_inventory_down_fails_inventory_and_skips_orders_with_the_reason(
    env: dict[str, str], demo_system: Any
) -> None:
    with inventory_down(demo_system):
        dag_run, run = _run()
    results = _results(env, run)
    assert dag_run.state == "failed"
    assert results["demo-db-up"].status is Status.PASSED
    assert results["inventory-api-health"].status is Status.FAILED
    assert "503" in results["inventory-api-health"].message
    assert results["inventory-api-products"].status is Status.FAILED
    for check_id in ("orders-api-health", "orders-api-list-orders", "orders-api-metrics"):
        assert results[check_id].status is Status.SKIPPED
        assert "inventory-api is unhealthy" in results[check_id].message
    states = _states(dag_run)
    assert states["health.inventory-api"] == "failed"
    assert states["health.orders-api"] == "skipped"
    assert states["health.demo-db"] == "success"
    assert states["summarize"] == "failed"
    assert states["evaluate"] == "failed"


def test_duplicate_ids_turn_exactly_the_concurrency_journey_red(
    env: dict[str, str], demo_system: Any
) -> None:
    with fault_on(demo_system, "duplicate-ids"):
        dag_run, run = _run({"families": ["health", "scenarios"]})
    results = _results(env, run)
    assert dag_run.state == "failed"
    red = {k: r for k, r in results.items() if r.is_problem}
    assert set(red) == {"concurrent-creates"}, {k: r.message for k, r in red.items()}
    assert "step 'burst' failed" in red["concurrent-creates"].message
    states = _states(dag_run)
    assert states["scenarios.concurrent-creates"] == "failed"
    assert states["scenarios.order-lifecycle"] == states["scenarios.tenant-isolation"] == "success"


def test_latency_turns_exactly_the_latency_thresholds_red(
    env: dict[str, str], demo_system: Any
) -> None:
    with fault_on(demo_system, "latency", 300):
        dag_run, run = _run({"families": ["health", "probes"]})
    results = _results(env, run)
    assert dag_run.state == "failed"
    red = {k for k, r in results.items() if r.is_problem}
    # 300 ms per request: p95 over its 250 ms, and 4 connections cannot serve 40/s.
    assert red == {"orders-api-load.p95", "orders-api-load.rps"}, {
        k: results[k].message for k in red
    }
    assert results["orders-api-load.p95"].observed["p95"] >= 300
    states = _states(dag_run)
    assert states["probes.orders-api"] == "failed"
    assert states["health.orders-api"] == "success"


def test_run_parameters_narrow_the_run_to_chosen_targets(env: dict[str, str]) -> None:
    dag_run, run = _run({"targets": ["demo-db"], "families": ["health"], "dry_run": True})
    results = _results(env, run)
    assert dag_run.state == "success"
    assert set(results) == {"demo-db-up"}
    states = _states(dag_run)
    assert states["health.orders-api"] == "skipped"
    assert states["quality.demo-db"] == "skipped"

    dag_run, run = _run({"checks": ["orders-data"]})
    results = _results(env, run)
    assert dag_run.state == "success"
    assert {k.split(".")[0] for k in results} == {"orders-data"}
