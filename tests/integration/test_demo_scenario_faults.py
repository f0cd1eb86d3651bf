"""The scenario faults on the running demo: tenant-leak, duplicate-ids, stuck and feed-drop.

Each switched on shows its symptom through the real API, feed or database, and switched
off the demo behaves again; an older database gets the new switches when installed.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import psycopg2
import pytest
import requests
from websockets.sync.client import ClientConnection, connect

from demo import config, db, faults
from demo.config import ACME_TOKEN, GLOBEX_TOKEN
from demo.fault_state import FaultError, validate
from demo.launcher import DemoSystem
from tests.support.demo_system import faults_cli, running_demo, until
from vigil.stack.postgres import LocalPostgres

pytestmark = pytest.mark.integration
ACME = {"Authorization": f"Bearer {ACME_TOKEN}"}
GLOBEX = {"Authorization": f"Bearer {GLOBEX_TOKEN}"}
ADMIN = {"Authorization": f"Bearer {config.admin_token()}"}
NEW = (config.TENANT_LEAK, config.DUPLICATE_IDS, config.STUCK, config.FEED_DROP)
OFF = {"enabled": False, "value": None}
ACME_ORDER = 1  # seed order 1 is acme's (order o belongs to tenant ((o-1) % 5) + 1)


@pytest.fixture(scope="module")
def demo(pg: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSystem]:
    # Laid out like the repo's .state, so the CLI can find it through VIGIL_STATE_DIR.
    state = tmp_path_factory.mktemp("state") / ".state" / "demo"
    with running_demo(pg, "demo_scenarios_" + uuid.uuid4().hex[:8], state) as system:
        yield system


@pytest.fixture(autouse=True)
def all_faults_off(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "demo" in request.fixturenames:
        faults.clear(request.getfixturevalue("demo").dsn)


def get(url: str, headers: dict[str, str] = ACME) -> requests.Response:
    return requests.get(url, headers=headers, timeout=10)


def sql(dsn: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def order_body(customer_id: int = 1, sku: str = "SKU-0010", quantity: int = 1) -> dict[str, Any]:
    return {"customer_id": customer_id, "items": [{"sku": sku, "quantity": quantity}]}


def create(demo: DemoSystem, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{demo.orders_url}/v1/orders", json=body, headers=ACME, timeout=15)


def seen_by_orders_api(demo: DemoSystem, name: str, enabled: bool) -> None:
    """Make orders-api re-read its switches now: GET /admin/faults refreshes its cache."""
    listed = get(f"{demo.orders_url}/admin/faults", ADMIN).json()
    assert listed[name]["enabled"] is enabled


# --- the switches themselves -------------------------------------------------------------


def test_new_switches_are_rows_that_take_no_value(demo: DemoSystem) -> None:
    listed = faults.get_faults(demo.dsn)
    assert set(listed) == set(config.ALL_FAULTS)
    assert all(listed[name] == OFF for name in NEW)
    admin = f"{demo.orders_url}/admin/faults"
    for name in NEW:
        with pytest.raises(FaultError, match=f"{name} takes no value"):
            validate(name, 1.0)
        valued = requests.post(
            admin, json={"name": name, "enabled": True, "value": 1}, headers=ADMIN, timeout=5
        )
        assert valued.status_code == 422 and "takes no value" in valued.json()["error"]
        refused = faults_cli(demo, name, "on", "--value", "1")
        assert refused.returncode == 1 and f"{name} takes no value" in refused.stderr
    assert not any(faults.get_faults(demo.dsn)[name]["enabled"] for name in NEW)


def test_status_lists_the_new_switches_and_clear_turns_them_off(demo: DemoSystem) -> None:
    assert all(f"{name:<15} off" in faults_cli(demo, "status").stdout for name in NEW)
    for name in NEW:
        switched = faults_cli(demo, name, "on")
        assert switched.returncode == 0, switched.stderr
        assert f"  {name:<15} ON\n" in switched.stdout
    listed = get(f"{demo.inventory_url}/admin/faults", ADMIN).json()
    assert all(listed[name] == {"enabled": True, "value": None} for name in NEW)
    cleared = faults_cli(demo, "clear")
    assert cleared.returncode == 0, cleared.stderr
    assert all(f"  {name:<15} off\n" in cleared.stdout for name in NEW)
    assert not any(faults.get_faults(demo.dsn)[name]["enabled"] for name in NEW)


OLD_CHECK = "CHECK (name IN ('errors', 'latency', 'inventory-down'))"


def test_install_adds_the_new_switches_to_an_older_database(fresh_db: str) -> None:
    assert db.install(fresh_db) is True
    # Back to what the first demo installed: three switches, the CHECK naming only them.
    sql(fresh_db, "DELETE FROM demo_admin.faults WHERE name = ANY(%s)", list(NEW))
    sql(
        fresh_db,
        "ALTER TABLE demo_admin.faults DROP CONSTRAINT faults_name_check,"
        f" ADD CONSTRAINT faults_name_check {OLD_CHECK}",
    )
    sql(fresh_db, "UPDATE demo_admin.faults SET enabled = true, value = 0.2 WHERE name = 'errors'")
    with pytest.raises(FaultError, match="restart the demo"):
        faults.set_fault(config.STUCK, True, dsn=fresh_db)  # no row to switch: said, not ignored

    assert db.install(fresh_db) is False  # present: not reinstalled, only the rows added
    listed = faults.get_faults(fresh_db)
    assert all(listed[name] == OFF for name in NEW)
    assert listed["errors"] == {"enabled": True, "value": 0.2}  # existing state kept
    check = "SELECT oid FROM pg_constraint WHERE conname = 'faults_name_check'"
    constraint = sql(fresh_db, check)
    assert db.install(fresh_db) is False  # again: a no-op, the CHECK not even rebuilt
    assert sql(fresh_db, check) == constraint
    with pytest.raises(psycopg2.errors.CheckViolation):
        sql(fresh_db, "INSERT INTO demo_admin.faults (name) VALUES ('gremlins')")
    faults.set_fault(config.STUCK, True, dsn=fresh_db)
    assert faults.get_faults(fresh_db)[config.STUCK]["enabled"] is True


def test_a_fresh_install_has_every_switch_at_its_default(fresh_db: str) -> None:
    """admin.sql's CHECK and seed rows, held to demo/config.py."""
    db.install(fresh_db)
    rows = sql(fresh_db, "SELECT name, enabled, value FROM demo_admin.faults")
    assert {name: (on, value) for name, on, value in rows} == {
        name: (False, default) for name, default in config.FAULT_DEFAULTS.items()
    }
    conn = psycopg2.connect(fresh_db)
    try:
        with conn, conn.cursor() as cur:
            assert db.sync_faults(cur) == []
    finally:
        conn.close()


# --- tenant-leak ------------------------------------------------------------------------------


def test_tenant_leak_lets_globex_read_acmes_order(demo: DemoSystem) -> None:
    url = f"{demo.orders_url}/v1/orders/{ACME_ORDER}"
    acme_view = get(url).json()
    assert get(url, GLOBEX).status_code == 404

    switched = requests.post(
        f"{demo.orders_url}/admin/faults",
        json={"name": config.TENANT_LEAK, "enabled": True},
        headers=ADMIN,
        timeout=5,
    )
    assert switched.status_code == 200
    assert switched.json()[config.TENANT_LEAK] == {"enabled": True, "value": None}
    leaked = get(url, GLOBEX)
    assert leaked.status_code == 200
    assert leaked.json() == acme_view  # all of it: items, payments, customer
    assert leaked.headers["X-Demo-Faults"] == config.TENANT_LEAK
    # Only that lookup: globex's listing and cancel still filter by tenant.
    globex_ids = {
        o["id"] for o in get(f"{demo.orders_url}/v1/orders?limit=200", GLOBEX).json()["items"]
    }
    assert globex_ids and ACME_ORDER not in globex_ids
    assert all((i - 1) % 5 == 1 for i in globex_ids if i <= 5000)  # seed orders: globex's
    cancel = requests.post(f"{url}/cancel", headers=GLOBEX, timeout=5)
    assert cancel.status_code == 404  # acme's own cancel would be 409: shipped

    faults.set_fault(config.TENANT_LEAK, False, dsn=demo.dsn)
    until(lambda: get(url, GLOBEX).status_code == 404, "globex no longer reads acme's order")
    assert get(url).json() == acme_view and "X-Demo-Faults" not in get(url).headers


# --- duplicate-ids ----------------------------------------------------------------------------

CONCURRENT = 30


def concurrent_creates(demo: DemoSystem) -> list[tuple[int, dict[str, Any]]]:
    """CONCURRENT creates at once, each by its own acme customer (1, 6, 11, ...) so every
    answer and every stored order says whose it is; SKUs spread so stock lasts."""
    bodies = [order_body(1 + 5 * n, f"SKU-{10 + n:04d}") for n in range(CONCURRENT)]
    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        responses = list(pool.map(lambda body: create(demo, body), bodies))
    assert [r.status_code for r in responses] == [201] * CONCURRENT, responses[0].text
    return [(body["customer_id"], r.json()) for body, r in zip(bodies, responses, strict=True)]


def stored_since(demo: DemoSystem, after_id: int) -> dict[int, int]:
    """customer_id -> order id of the orders inserted after `after_id`."""
    rows = sql(demo.dsn, "SELECT customer_id, id FROM orders WHERE id > %s", after_id)
    return {int(customer): int(order) for customer, order in rows}


def max_order_id(demo: DemoSystem) -> int:
    return int(sql(demo.dsn, "SELECT max(id) FROM orders")[0][0])


def test_duplicate_ids_answer_concurrent_creates_with_one_id(demo: DemoSystem) -> None:
    assert faults_cli(demo, config.DUPLICATE_IDS, "on").returncode == 0
    seen_by_orders_api(demo, config.DUPLICATE_IDS, True)

    # One after another: the racy allocator hands out max(id) + 1, distinct every time.
    sequential = [create(demo, order_body(1, "SKU-0011", n + 1)) for n in range(10)]
    assert [r.status_code for r in sequential] == [201] * 10
    assert all(r.headers["X-Demo-Faults"] == config.DUPLICATE_IDS for r in sequential)
    ids = [r.json()["id"] for r in sequential]
    assert len(set(ids)) == 10 and ids == sorted(ids)
    for n, order_id in enumerate(ids):  # and each id is the order created
        assert (
            get(f"{demo.orders_url}/v1/orders/{order_id}").json()["items"][0]["quantity"] == n + 1
        )

    before = max_order_id(demo)
    answers = concurrent_creates(demo)
    by_id: dict[int, list[int]] = defaultdict(list)
    for customer, body in answers:
        assert body["customer_id"] == customer  # each answer is its own order...
        by_id[body["id"]].append(customer)
    duplicated = {order_id for order_id, customers in by_id.items() if len(customers) > 1}
    assert duplicated, f"no two of {CONCURRENT} concurrent creates shared an id: {sorted(by_id)}"
    # ... and every create was stored, once, under an id of its own.
    stored = stored_since(demo, before)
    assert sorted(stored) == sorted(customer for customer, _ in answers)
    assert len(set(stored.values())) == CONCURRENT
    # So of the creates answered with one id, all but (at most) one were stored under
    # another: their client, looking the order up, gets somebody else's.
    misnumbered = [(c, body["id"]) for c, body in answers if stored[c] != body["id"]]
    assert len(misnumbered) >= CONCURRENT - len(by_id)
    for customer, answered in misnumbered:
        found = get(f"{demo.orders_url}/v1/orders/{answered}").json()
        assert found["customer_id"] != customer

    assert faults_cli(demo, config.DUPLICATE_IDS, "off").returncode == 0
    seen_by_orders_api(demo, config.DUPLICATE_IDS, False)
    before = max_order_id(demo)
    answers = concurrent_creates(demo)  # all 201: the id sequence stayed ahead
    stored = stored_since(demo, before)
    assert len({body["id"] for _, body in answers}) == CONCURRENT
    assert all(stored[customer] == body["id"] for customer, body in answers)


# --- stuck ----------------------------------------------------------------------------------


def status_of(demo: DemoSystem, order_id: int) -> str:
    status: str = get(f"{demo.orders_url}/v1/orders/{order_id}").json()["status"]
    return status


def after_ticks(demo: DemoSystem, n: int, timeout: float = 10) -> None:
    """Wait until the worker has completed `n` more ticks."""
    start = demo.worker_ticks()
    until(lambda: demo.worker_ticks() >= start + n, f"{n} worker ticks", timeout)


def test_stuck_worker_leaves_orders_reserved_until_switched_off(demo: DemoSystem) -> None:
    faults.set_fault(config.STUCK, True, dsn=demo.dsn)
    after_ticks(demo, 2)  # a whole tick began after the switch: every later one sees it
    order = create(demo, order_body(6, "SKU-0012"))
    assert (order.status_code, order.json()["status"]) == (201, "reserved")
    order_id = order.json()["id"]
    after_ticks(demo, 4)  # the worker is alive and ticking...
    assert status_of(demo, order_id) == "reserved"  # ...but moves nothing
    assert "fault stuck on: advancing no order" in demo.log_path("worker").read_text()

    faults.set_fault(config.STUCK, False, dsn=demo.dsn)
    until(lambda: status_of(demo, order_id) == "shipped", "the order ships", timeout=15)
    assert "fault stuck off: resuming" in demo.log_path("worker").read_text()


# --- feed-drop ------------------------------------------------------------------------------


@contextmanager
def open_feed(demo: DemoSystem) -> Iterator[ClientConnection]:
    """acme's feed, once orders-api's listener is up (hello says so)."""
    url = demo.orders_url.replace("http://", "ws://") + "/v1/orders/feed"
    deadline = time.monotonic() + 10
    while True:
        with connect(url, additional_headers=ACME, open_timeout=5) as ws:
            hello = json.loads(ws.recv(timeout=5))
            if hello["type"] == "hello" and hello["listening"]:
                yield ws
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"feed listener not up within 10s: {hello}")
        time.sleep(0.2)


def feed_statuses(demo: DemoSystem, ws: ClientConnection) -> tuple[int, list[str]]:
    """Create an order; its id and the statuses the feed delivers for it, up to shipped."""
    order = create(demo, order_body(11, "SKU-0013"))
    assert order.status_code == 201
    order_id: int = order.json()["id"]
    statuses: list[str] = []
    deadline = time.monotonic() + 15
    while "shipped" not in statuses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"order {order_id} not shipped on the feed: {statuses}")
        event = json.loads(ws.recv(timeout=remaining))
        if event.get("order_id") == order_id:
            statuses.append(event["status"])
    return order_id, statuses


def test_feed_drop_swallows_paid_events_only(demo: DemoSystem) -> None:
    every = ["pending", "reserved", "paid", "shipped"]
    with open_feed(demo) as ws:
        assert feed_statuses(demo, ws)[1] == every
        faults.set_fault(config.FEED_DROP, True, dsn=demo.dsn)
        seen_by_orders_api(demo, config.FEED_DROP, True)
        # The same connection: the switch is read per event, not per subscriber.
        dropped, statuses = feed_statuses(demo, ws)
        assert statuses == ["pending", "reserved", "shipped"]
        faults.set_fault(config.FEED_DROP, False, dsn=demo.dsn)
        seen_by_orders_api(demo, config.FEED_DROP, False)
        assert feed_statuses(demo, ws)[1] == every
    # The order did go through paid (its payment is there): only the feed lost it.
    payments = "SELECT status FROM payments WHERE order_id = %s"
    assert sql(demo.dsn, payments, dropped) == [("captured",)]
