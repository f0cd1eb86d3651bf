"""demo_daily's data-quality group in dag.test(): green on clean data, red with named
evidence after `demo.faults corrupt`, green again after `restore`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
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
    with vigil_env(
        pg, demo_system, "dagtest_quality", VIGIL_STATE_DIR=str(tmp_path_factory.mktemp("state"))
    ) as values:
        yield values


def test_corrupted_data_fails_quality_with_evidence_then_restore_passes(
    env: dict[str, str], demo_system: Any
) -> None:
    from demo import faults

    store = ResultStore(env["AIRFLOW_CONN_VIGIL_RESULTS"])
    faults.corrupt(demo_system.dsn)
    try:
        dag_run = run_dag("demo_daily", {"families": ["health", "quality"]})
    finally:
        faults.restore(demo_system.dsn)
    run = RunRef("demo", "daily", "demo_daily", dag_run.run_id)
    results = {r.check_id: r for r in store.run_results(run)}
    failed = {k for k, r in results.items() if r.status is Status.FAILED}
    assert dag_run.state == "failed"
    assert {
        "customers-data.country.not_null",
        "products-data.price.range",
        "order-items-data.order_id.in_orders",
        "payments-data.provider_ref.unique",
        "orders-data.total.matches_items",
        "customers-data.columns",
        "demo-db-schema.public.customers.column.loyalty_tier",
    } <= failed
    assert not any(r.family == "health" and r.is_problem for r in results.values())
    nulls = results["customers-data.country.not_null"].message
    assert "customers" in nulls and "country" in nulls and "7" in nulls
    prices = results["products-data.price.range"].message
    assert "price" in prices and "1000000" in prices
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states["quality.demo-db"] == "failed"
    assert states["health.demo-db"] == "success"

    docs = Path(env["VIGIL_STATE_DIR"]) / "data_docs" / "demo" / "demo_daily" / run.run_id
    assert (docs / "index.html").is_file()
    report = next((Path(env["VIGIL_STATE_DIR"]) / "reports" / "demo" / "demo_daily").glob("*.html"))
    html = report.read_text()
    assert "orders-data.total.matches_items" in html and "index.html" in html

    clean = run_dag("demo_daily", {"families": ["quality"]})
    clean_results = store.run_results(RunRef("demo", "daily", "demo_daily", clean.run_id))
    assert clean.state == "success"
    assert not [r.check_id for r in clean_results if r.is_problem]
