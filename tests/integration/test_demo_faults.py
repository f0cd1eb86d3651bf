"""Fault switches on the running demo: each has its visible effect, and off undoes it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import requests

from demo import config, faults, slow_index
from demo.config import ACME_TOKEN
from demo.db import SQL_DIR
from demo.launcher import DemoSystem
from tests.support.demo_system import faults_cli, until
from vigil.stack.postgres import LocalPostgres, free_port

pytestmark = pytest.mark.integration
ACME = {"Authorization": f"Bearer {ACME_TOKEN}"}
ADMIN = {"Authorization": f"Bearer {config.admin_token()}"}


@pytest.fixture(scope="module")
def demo(pg: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSystem]:
    name = "demo_faults_" + uuid.uuid4().hex[:8]
    pg.create_database(name)
    # Laid out like the repo's .state, so the CLI can find it through VIGIL_STATE_DIR.
    state = tmp_path_factory.mktemp("state") / ".state"
    system = DemoSystem(
        pg.dsn(name), state / "demo", orders_port=free_port(), inventory_port=free_port()
    )
    system.start()
    yield system
    system.stop()


@pytest.fixture(autouse=True)
def all_faults_off(demo: DemoSystem) -> Iterator[None]:
    yield
    faults.clear(demo.dsn)  # recreates the slow-index index too


def get(url: str, headers: dict[str, str] = ACME) -> requests.Response:
    return requests.get(url, headers=headers, timeout=10)


def test_errors_fail_the_configured_share_of_requests(demo: DemoSystem) -> None:
    url = f"{demo.orders_url}/v1/orders?limit=1"
    faults.set_fault("errors", True, dsn=demo.dsn)  # default rate 0.5
    until(lambda: get(url).status_code == 500, "orders-api answers 500")
    responses = [get(url) for _ in range(20)]
    codes = [r.status_code for r in responses]
    assert codes.count(500) == 10 and codes.count(200) == 10  # exactly the share, not random
    failed = next(r for r in responses if r.status_code == 500)
    assert failed.json()["error"] == "injected failure (fault errors)"
    assert failed.headers["X-Demo-Faults"] == "errors"
    assert get(f"{demo.orders_url}/health").status_code == 200  # health is not an API call
    faults.set_fault("errors", False, dsn=demo.dsn)
    until(lambda: all(get(url).status_code == 200 for _ in range(4)), "errors stop")
    assert [get(url).status_code for _ in range(10)] == [200] * 10


def test_admin_endpoint_switches_faults_for_both_services(demo: DemoSystem) -> None:
    admin = f"{demo.inventory_url}/admin/faults"
    body = {"name": "errors", "enabled": True, "value": 1.0}
    assert requests.post(admin, json=body, timeout=5).status_code == 401
    assert requests.post(admin, json=body, headers=ACME, timeout=5).status_code == 401
    bad = requests.post(admin, json={**body, "name": "gremlins"}, headers=ADMIN, timeout=5)
    assert bad.status_code == 422 and "gremlins" in bad.json()["error"]
    out_of_range = requests.post(admin, json={**body, "value": 2}, headers=ADMIN, timeout=5)
    assert out_of_range.status_code == 422
    switched = requests.post(admin, json=body, headers=ADMIN, timeout=5)
    assert switched.status_code == 200
    assert switched.json()["errors"] == {"enabled": True, "value": 1.0}
    response = get(f"{demo.inventory_url}/v1/products")
    assert response.status_code == 500 and "fault errors" in response.json()["error"]
    until(lambda: get(f"{demo.orders_url}/v1/orders").status_code == 500, "orders-api too")
    off = requests.post(
        f"{demo.orders_url}/admin/faults",
        headers=ADMIN,
        timeout=5,
        json={"name": "errors", "enabled": False},
    )
    assert off.json()["errors"]["enabled"] is False
    until(lambda: get(f"{demo.inventory_url}/v1/products").status_code == 200, "errors off")


def test_latency_delays_responses(demo: DemoSystem) -> None:
    url = f"{demo.inventory_url}/v1/products?limit=1"
    assert "X-Demo-Faults" not in get(url).headers
    faults.set_fault("latency", True, dsn=demo.dsn)  # default 300 ms
    until(lambda: "latency" in get(url).headers.get("X-Demo-Faults", ""), "latency applied")
    started = time.perf_counter()
    delayed = get(url)
    # A lower bound, not a speed assertion: the service sleeps at least this long.
    assert time.perf_counter() - started >= 0.3
    assert delayed.status_code == 200
    assert "latency" in get(f"{demo.orders_url}/health", {}).headers["X-Demo-Faults"]
    faults.set_fault("latency", False, dsn=demo.dsn)
    until(lambda: "X-Demo-Faults" not in get(url).headers, "latency removed")


def test_inventory_down_via_cli(demo: DemoSystem) -> None:
    switched = faults_cli(demo, "inventory-down", "on")
    assert switched.returncode == 0, switched.stderr
    assert "inventory-down  ON" in switched.stdout
    until(lambda: get(f"{demo.orders_url}/health").status_code == 503, "orders-api degraded")
    health = get(f"{demo.orders_url}/health").json()
    assert health["status"] == "degraded"
    assert health["dependencies"]["inventory-api"]["status"] == "down"
    assert health["dependencies"]["database"]["status"] == "ok"
    inventory_health = get(f"{demo.inventory_url}/health")
    assert (inventory_health.status_code, inventory_health.json()["status"]) == (503, "down")
    assert get(f"{demo.inventory_url}/v1/products").status_code == 503
    assert get(f"{demo.inventory_url}/v1/products", {}).status_code == 503  # even unauthenticated
    assert get(f"{demo.inventory_url}/admin/faults", ADMIN).status_code == 200
    # Orders are still taken, but wait as pending until stock can be reserved.
    body = {"customer_id": 1, "items": [{"sku": "SKU-0010", "quantity": 1}]}
    order = requests.post(f"{demo.orders_url}/v1/orders", json=body, headers=ACME, timeout=10)
    assert (order.status_code, order.json()["status"]) == (201, "pending")

    assert faults_cli(demo, "inventory-down", "off").returncode == 0
    until(lambda: get(f"{demo.orders_url}/health").status_code == 200, "orders-api healthy")
    url = f"{demo.orders_url}/v1/orders/{order.json()['id']}"
    until(lambda: get(url).json()["status"] == "shipped", "pending order ships", timeout=15)


def test_cli_status_and_errors(demo: DemoSystem, tmp_path: Path) -> None:
    faults.set_fault("latency", True, dsn=demo.dsn, value=50)
    status = faults_cli(demo, "status")
    assert status.returncode == 0
    assert "latency         ON (value 50)" in status.stdout
    assert f"orders-api: {demo.orders_url}" in status.stdout
    assert faults_cli(demo, "gremlins", "on").returncode == 2
    assert faults_cli(demo, "errors").returncode == 2
    out_of_range = faults_cli(demo, "errors", "on", "--value", "3")
    assert out_of_range.returncode == 1 and "between 0 and 1" in out_of_range.stderr
    nowhere = subprocess.run(
        [sys.executable, "-m", "demo.faults", "status"],
        text=True,
        capture_output=True,
        timeout=30,
        cwd=config.REPO_ROOT,
        check=False,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("DEMO_")},
            config.ENV_STATE_DIR: str(tmp_path),
        },
    )
    assert nowhere.returncode == 1
    assert "DEMO_DATABASE_URL" in nowhere.stderr and str(tmp_path) in nowhere.stderr


# --- slow-index: a schema change, not a switch ------------------------------------------
ORDER_HISTORY = (
    "SELECT id, status, total, created_at FROM orders WHERE tenant_id = %s AND customer_id = %s"
    " ORDER BY created_at DESC LIMIT 20"
)


def sql(dsn: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall()
    finally:
        conn.close()


def index_def(dsn: str) -> str | None:
    rows = sql(dsn, "SELECT indexdef FROM pg_indexes WHERE indexname = %s", slow_index.INDEX)
    return str(rows[0][0]) if rows else None


def order_history_plan(dsn: str, analyze: bool = False) -> str:
    """EXPLAIN of the order-history query for tenant 1 (acme), customer 42."""
    explain = "EXPLAIN (ANALYZE, TIMING OFF) " if analyze else "EXPLAIN "
    return "\n".join(row[0] for row in sql(dsn, explain + ORDER_HISTORY, 1, 42))


def uses_the_index(plan: str) -> bool:
    return f"Index Scan using {slow_index.INDEX}" in plan or (
        f"Bitmap Index Scan on {slow_index.INDEX}" in plan
    )


@pytest.fixture
def index_restored(demo: DemoSystem) -> Iterator[None]:
    """Whatever a test does, the module's database ends with the index (as all_faults_off
    also ensures, through clear)."""
    try:
        yield
    finally:
        slow_index.off(demo.dsn)
    assert index_def(demo.dsn) is not None


@pytest.mark.usefixtures("index_restored")
def test_slow_index_drops_and_recreates_the_order_history_index(demo: DemoSystem) -> None:
    assert slow_index.DEFINITION + ";" in (SQL_DIR / "schema.sql").read_text()
    seeded = index_def(demo.dsn)
    assert seeded == (
        f"CREATE INDEX {slow_index.INDEX} ON public.orders USING btree (tenant_id, customer_id)"
    )
    before = order_history_plan(demo.dsn)
    assert uses_the_index(before), before
    assert faults.get_faults(demo.dsn)["slow-index"] == {"enabled": False, "value": None}

    for _ in range(2):  # on twice is harmless
        assert faults.set_fault("slow-index", True, dsn=demo.dsn)["slow-index"]["enabled"]
        assert index_def(demo.dsn) is None and slow_index.is_on(demo.dsn)
    dropped = order_history_plan(demo.dsn)
    # No index leads with customer_id any more: the query reads the whole tenant and
    # filters. On the seed the planner reads tenant 1 through the unique (tenant_id,
    # idempotency_key) index rather than scanning the table; either is the slow path.
    assert slow_index.INDEX not in dropped, dropped
    assert "Seq Scan on orders" in dropped or ("orders_tenant_id_idempotency_key_key" in dropped), (
        dropped
    )
    assert "customer_id = 42" in dropped.split("Filter:")[1].splitlines()[0], dropped
    tenant_orders = sql(demo.dsn, "SELECT count(*) FROM orders WHERE tenant_id = 1")[0][0]
    assert tenant_orders >= 1000
    analyzed = order_history_plan(demo.dsn, analyze=True)
    removed = [int(line.split(":")[1]) for line in analyzed.splitlines() if "Rows Removed" in line]
    assert removed and removed[0] >= tenant_orders, analyzed  # customer 42 is globex's

    for _ in range(2):  # off twice is harmless
        assert not faults.set_fault("slow-index", False, dsn=demo.dsn)["slow-index"]["enabled"]
        assert index_def(demo.dsn) == seeded  # exactly as schema.sql defines it
    after = order_history_plan(demo.dsn)
    assert uses_the_index(after) and "Filter:" not in after, after
    assert "Seq Scan" not in after


@pytest.mark.usefixtures("index_restored")
def test_slow_index_via_cli_status_and_clear(demo: DemoSystem) -> None:
    status = faults_cli(demo, "status")
    assert status.returncode == 0 and "slow-index      off" in status.stdout
    for _ in range(2):
        switched = faults_cli(demo, "slow-index", "on")
        assert switched.returncode == 0, switched.stderr
        assert "slow-index      ON\n" in switched.stdout
    assert index_def(demo.dsn) is None
    assert "slow-index      ON\n" in faults_cli(demo, "status").stdout
    assert faults_cli(demo, "slow-index").returncode == 2
    with_value = faults_cli(demo, "slow-index", "off", "--value", "1")
    assert with_value.returncode == 1 and "slow-index takes no value" in with_value.stderr
    assert index_def(demo.dsn) is None  # the refused call changed nothing
    # The switches are unaffected, and clear puts back both.
    faults.set_fault("latency", True, dsn=demo.dsn, value=5)
    cleared = faults_cli(demo, "clear")
    assert cleared.returncode == 0, cleared.stderr
    assert "slow-index      off" in cleared.stdout and "latency         off" in cleared.stdout
    assert index_def(demo.dsn) is not None
    assert uses_the_index(order_history_plan(demo.dsn))
    for _ in range(2):
        assert "slow-index      off" in faults_cli(demo, "slow-index", "off").stdout
    assert faults_cli(demo, "clear").returncode == 0  # clear with the index present: a no-op


@pytest.mark.usefixtures("index_restored")
def test_slow_index_through_the_admin_endpoint(demo: DemoSystem) -> None:
    listed = get(f"{demo.inventory_url}/admin/faults", ADMIN).json()
    assert listed["slow-index"] == {"enabled": False, "value": None}
    admin = f"{demo.orders_url}/admin/faults"
    body = {"name": "slow-index", "enabled": True}
    assert requests.post(admin, json=body, timeout=5).status_code == 401
    valued = requests.post(admin, json={**body, "value": 1}, headers=ADMIN, timeout=5)
    assert valued.status_code == 422 and "takes no value" in valued.json()["error"]
    switched = requests.post(admin, json=body, headers=ADMIN, timeout=5)
    assert switched.status_code == 200, switched.text
    assert switched.json()["slow-index"] == {"enabled": True, "value": None}
    assert switched.json()["errors"]["enabled"] is False  # the switches are untouched
    assert index_def(demo.dsn) is None
    # Other service sees it, and the services keep serving (their fault cache only knows
    # the switches in demo_admin.faults).
    assert get(f"{demo.inventory_url}/admin/faults", ADMIN).json()["slow-index"]["enabled"]
    assert get(f"{demo.orders_url}/v1/orders?limit=5").status_code == 200
    assert get(f"{demo.inventory_url}/v1/products?limit=5").status_code == 200
    assert "slow-index      ON" in faults_cli(demo, "status").stdout
    again = requests.post(admin, json=body, headers=ADMIN, timeout=5)
    assert again.status_code == 200 and again.json()["slow-index"]["enabled"] is True
    off = requests.post(admin, json={**body, "enabled": False}, headers=ADMIN, timeout=5)
    assert off.status_code == 200 and off.json()["slow-index"]["enabled"] is False
    assert index_def(demo.dsn) is not None
    assert uses_the_index(order_history_plan(demo.dsn))
