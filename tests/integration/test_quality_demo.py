"""The demo's quality checks (include/specs/demo.yaml → expectations/demo/) against the real
demo database: clean data passes every expectation; `demo.faults.corrupt` fails exactly the
expectations its defects break, with evidence naming table, column, count and samples;
`restore` passes again. Three runs of the quality family, recorded in a real results store
(so the second and third compare row counts with the run before), with Data Docs."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

import demo.db
from demo import defects
from vigil.context import RunContext
from vigil.quality.run import run_checks
from vigil.result import CheckResult, Status
from vigil.results.store import ResultStore, RunRef
from vigil.spec.loader import load_spec
from vigil.spec.models import Spec
from vigil.stack.postgres import LocalPostgres

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "include" / "specs" / "demo.yaml"
DAG = "demo_daily"
SUITE_CHECKS = (
    "tenants-data",
    "customers-data",
    "products-data",
    "inventory-data",
    "orders-data",
    "order-items-data",
    "payments-data",
)
# Each planted defect, and exactly the checks it must fail.
BROKEN = {
    "null_country": {"customers-data.country.not_null"},
    "price_out_of_range": {"products-data.price.range"},
    "orphan_order_items": {"order-items-data.order_id.in_orders"},
    "duplicate_payments": {"payments-data.provider_ref.unique"},
    "total_mismatch": {"orders-data.total.matches_items"},
    "dropped_column": {
        "customers-data.columns",
        "customers-data.loyalty_tier.type",
        "customers-data.loyalty_tier.in_set",
        "demo-db-schema.public.customers.column.loyalty_tier",
        "demo-db-schema.public.customers.constraint.customers_loyalty_tier_check",
    },
}


@dataclass
class Runs:
    spec: Spec
    state: Path
    dsn: str
    environ: dict[str, str]
    clean: dict[str, CheckResult]
    corrupt: dict[str, CheckResult]
    restored: dict[str, CheckResult]


def by_id(results: list[CheckResult]) -> dict[str, CheckResult]:
    found = {r.check_id: r for r in results}
    assert len(found) == len(results), "check ids must be unique within a run"
    return found


def not_passed(results: dict[str, CheckResult]) -> dict[str, str]:
    return {i: f"{r.status.value}: {r.message}" for i, r in results.items() if r.status != "passed"}


@pytest.fixture(scope="module")
def runs(pg: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """Clean, corrupted and restored runs of the demo's quality checks, recorded in order."""
    name = "q_demo_" + uuid.uuid4().hex[:8]
    pg.create_database(name)
    pg.create_database(name + "_results")
    dsn, results_dsn = pg.dsn(name), pg.dsn(name + "_results")
    demo.db.install(dsn)
    state = tmp_path_factory.mktemp("state")
    spec = load_spec(SPEC)
    store = ResultStore(results_dsn)
    environ = {"AIRFLOW_CONN_VIGIL_DEMO_DB": dsn, "AIRFLOW_CONN_VIGIL_RESULTS": results_dsn}
    checks = spec.checks_of_target("quality", "demo-db")

    def run(run_id: str) -> dict[str, CheckResult]:
        ctx = RunContext(spec, environ=environ, run_id=run_id, dag_id=DAG, cadence="daily")
        results = run_checks(checks, ctx)
        store.record(RunRef(spec.environment, "daily", DAG, run_id), results)
        return by_id(results)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VIGIL_STATE_DIR", str(state))
        patch.delenv("VIGIL_EXPECTATIONS_DIR", raising=False)
        clean = run("run-1")
        assert defects.corrupt(dsn) == list(defects.ACTIONS)
        corrupt = run("run-2")
        assert defects.restore(dsn)
        restored = run("run-3")
    yield Runs(spec, state, dsn, environ, clean, corrupt, restored)


def test_every_suite_check_reports_every_expectation(runs: Runs) -> None:
    for check in SUITE_CHECKS:
        ids = [i for i in runs.clean if i.startswith(check + ".")]
        assert len(ids) >= 9, (check, ids)
        assert f"{check}.row_count.change" in ids
    assert set(runs.clean) == set(runs.restored)
    for result in runs.clean.values():
        assert result.family == "quality" and result.target == "demo-db"


def test_clean_demo_passes_every_expectation(runs: Runs) -> None:
    changes = {f"{c}.row_count.change" for c in SUITE_CHECKS}
    problems = {i: m for i, m in not_passed(runs.clean).items() if i not in changes}
    assert problems == {}
    # The first run has nothing to compare row counts with: skipped, saying why.
    for check_id in changes:
        result = runs.clean[check_id]
        assert result.status is Status.SKIPPED
        assert "no earlier run recorded a row count" in result.message
    assert runs.clean["demo-db-schema"].status is Status.PASSED
    assert runs.clean["orders-data.freshness"].status is Status.PASSED


def test_corrupt_fails_exactly_the_expectations_each_defect_breaks(runs: Runs) -> None:
    expected = set().union(*BROKEN.values())
    assert set(not_passed(runs.corrupt)) == expected
    assert {runs.corrupt[i].status for i in expected} == {Status.FAILED}
    # The row counts moved (3 orders gone, 4 payments more) but well within ±25%.
    payments = runs.corrupt["payments-data.row_count.change"]
    assert payments.status is Status.PASSED
    assert payments.observed["row_count"] == 4504
    assert payments.observed["previous_row_count"] == 4500
    assert payments.observed["previous_run_id"] == "run-1"


def test_evidence_names_table_column_count_and_samples(runs: Runs) -> None:
    found = runs.corrupt
    country = found["customers-data.country.not_null"]
    assert country.message.startswith("customers.country: 7 of 3,000 rows (0.23%) NULL")
    assert country.observed["unexpected_count"] == 7
    keys = [row["id"] for row in country.details["unexpected_index"]]
    assert keys == defects.NULL_COUNTRY_CUSTOMERS
    assert country.details["table"] == "public.customers"

    price = found["products-data.price.range"]
    assert price.message.startswith("products.price: 3 of 2,000 rows (0.15%) outside [0.01, 10000]")
    assert "e.g. 1000000.00" in price.message and "id=7, 77, 777" in price.message
    assert price.details["unexpected_values"] == ["1000000.00"] * 3

    orphans = found["order-items-data.order_id.in_orders"]
    assert orphans.observed == {"observed_value": 9}
    assert orphans.message.startswith("order_items: 9 unexpected rows (items of an order")
    rows = orphans.details["unexpected_rows"]
    assert {row["order_id"] for row in rows} == set(defects.ORPHANED_ORDERS)

    duplicates = found["payments-data.provider_ref.unique"]
    assert duplicates.observed["unexpected_count"] == 8  # 4 values, each twice
    assert len(set(duplicates.details["unexpected_values"])) == 4
    assert re.match(r"payments\.provider_ref: 8 of 4,504 rows .* duplicated", duplicates.message)

    total = found["orders-data.total.matches_items"]
    assert [row["id"] for row in total.details["unexpected_rows"]] == [defects.MISMATCHED_ORDER]
    row = total.details["unexpected_rows"][0]
    assert float(row["total"]) - float(row["items_total"]) == pytest.approx(100.0)

    dropped = found["customers-data.loyalty_tier.in_set"]
    assert (
        dropped.message
        == "customers.loyalty_tier: column loyalty_tier does not exist in table customers"
    )
    drift = found["demo-db-schema.public.customers.column.loyalty_tier"]
    assert "column loyalty_tier removed" in drift.message


def test_severity_comes_from_the_suite_else_the_spec_check(runs: Runs) -> None:
    assert runs.clean["customers-data.email.format"].severity == "warning"
    assert runs.clean["customers-data.country.not_null"].severity == "critical"
    assert runs.clean["orders-data.row_count.change"].severity == "warning"
    assert (
        runs.corrupt["demo-db-schema.public.customers.column.loyalty_tier"].severity == "critical"
    )


def test_restore_passes_again_and_compares_row_counts(runs: Runs) -> None:
    assert not_passed(runs.restored) == {}
    orders = runs.restored["orders-data.row_count.change"]
    assert orders.observed["row_count"] == 5000
    assert orders.observed["previous_row_count"] == 4997  # the corrupt run's count
    assert orders.observed["previous_run_id"] == "run-2"


def test_data_docs_site_shows_every_suite_of_each_run(runs: Runs) -> None:
    site = runs.state / "data_docs" / "demo" / DAG
    index = site / "run-1" / "index.html"
    assert index.is_file()
    text = index.read_text()
    for check in SUITE_CHECKS:
        assert check in text
    pages = list((site / "run-2" / "validations" / "customers-data").rglob("*.html"))
    assert len(pages) == 1
    page = pages[0].read_text()
    assert "loyalty_tier" in page and "country" in page
    assert "does not exist in table customers" in page


def test_freshness_fails_when_nothing_happened_for_48_hours(runs: Runs) -> None:
    # Seed orders keep their 2025 timestamps; the install counts as activity until it ages.
    conn = psycopg2.connect(runs.dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                "UPDATE demo_admin.schema_version SET installed_at = now() - interval '3 days'"
            )
        orders = [c for c in runs.spec.checks.quality if c.id == "orders-data"]
        ctx = RunContext(runs.spec, environ=runs.environ, run_id="run-4", dag_id=DAG)
        found = by_id(run_checks(orders, ctx))
    finally:
        with conn.cursor() as cur:
            cur.execute("UPDATE demo_admin.schema_version SET installed_at = now()")
        conn.close()
    stale = found["orders-data.freshness"]
    assert (stale.status, stale.severity) == (Status.FAILED, "warning")
    assert stale.message.startswith("orders: 1 unexpected row (no order created or changed")
    [row] = stale.details["unexpected_rows"]
    assert row["newest_order"].startswith("2025-12-05")
    assert {i for i, r in found.items() if r.status != "passed"} == {"orders-data.freshness"}
