"""The demo services as real processes: health, tenants, orders, lifecycle, feed."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import aiohttp
import psycopg2
import pytest
import requests

from demo.config import ACME_TOKEN, GLOBEX_TOKEN
from demo.launcher import DemoSystem
from vigil.stack.postgres import LocalPostgres, free_port

pytestmark = pytest.mark.integration
ACME = {"Authorization": f"Bearer {ACME_TOKEN}"}
GLOBEX = {"Authorization": f"Bearer {GLOBEX_TOKEN}"}
ACME_CUSTOMER = 1  # customer c belongs to tenant ((c - 1) % 5) + 1


@pytest.fixture(scope="module")
def demo(pg: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSystem]:
    name = "demo_svc_" + uuid.uuid4().hex[:8]
    pg.create_database(name)
    system = DemoSystem(
        pg.dsn(name),
        tmp_path_factory.mktemp("demo-state"),
        orders_port=free_port(),
        inventory_port=free_port(),
    )
    system.start()
    yield system
    system.stop()


def create_order(
    demo: DemoSystem,
    sku: str,
    quantity: int = 1,
    key: str | None = None,
    headers: dict[str, str] = ACME,
) -> requests.Response:
    extra = {"Idempotency-Key": key} if key else {}
    body = {"customer_id": ACME_CUSTOMER, "items": [{"sku": sku, "quantity": quantity}]}
    return requests.post(
        f"{demo.orders_url}/v1/orders", json=body, headers={**headers, **extra}, timeout=10
    )


def wait_for_status(
    demo: DemoSystem, order_id: int, status: str, timeout: float = 15
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    order: dict[str, Any] = {}
    while time.monotonic() < deadline:
        order = requests.get(
            f"{demo.orders_url}/v1/orders/{order_id}", headers=ACME, timeout=5
        ).json()
        if order["status"] == status:
            return order
        time.sleep(0.2)
    raise AssertionError(f"order {order_id} not {status} within {timeout}s: {order}")


def wait_for_ticks(demo: DemoSystem, count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while demo.worker_ticks() < count:
        assert time.monotonic() < deadline, (
            f"worker completed {demo.worker_ticks()} ticks, not {count}, within {timeout}s"
        )
        time.sleep(0.05)


def stock(demo: DemoSystem, sku: str) -> dict[str, Any]:
    response = requests.get(f"{demo.inventory_url}/v1/inventory/{sku}", headers=ACME, timeout=5)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_health_reports_dependencies(demo: DemoSystem) -> None:
    orders = requests.get(f"{demo.orders_url}/health", timeout=5)
    inventory = requests.get(f"{demo.inventory_url}/health", timeout=5)
    assert orders.status_code == inventory.status_code == 200
    assert orders.json()["status"] == "ok" and orders.json()["service"] == "orders-api"
    assert set(orders.json()["dependencies"]) == {"database", "inventory-api"}
    assert orders.json()["dependencies"]["database"]["latency_ms"] >= 0
    assert inventory.json()["service"] == "inventory-api"
    assert list(inventory.json()["dependencies"]) == ["database"]
    assert demo.running


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
@pytest.mark.parametrize("where", ["orders_url", "inventory_url"])
def test_api_needs_a_tenant_token(demo: DemoSystem, where: str, headers: dict[str, str]) -> None:
    path = "/v1/orders" if where == "orders_url" else "/v1/products"
    response = requests.get(getattr(demo, where) + path, headers=headers, timeout=5)
    assert response.status_code == 401
    assert "token" in response.json()["error"]


def test_tenants_see_only_their_own_data(demo: DemoSystem) -> None:
    acme_orders = requests.get(
        f"{demo.orders_url}/v1/orders?limit=200", headers=ACME, timeout=5
    ).json()["items"]
    with closing(psycopg2.connect(demo.dsn)) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT tenant_id FROM orders WHERE id = ANY(%s)",
            ([o["id"] for o in acme_orders],),
        )
        assert cur.fetchall() == [(1,)]
    globex_order = 2
    assert (
        requests.get(
            f"{demo.orders_url}/v1/orders/{globex_order}", headers=ACME, timeout=5
        ).status_code
        == 404
    )
    assert (
        requests.get(
            f"{demo.orders_url}/v1/orders/{globex_order}", headers=GLOBEX, timeout=5
        ).status_code
        == 200
    )
    assert (
        requests.post(
            f"{demo.orders_url}/v1/orders/{globex_order}/cancel", headers=ACME, timeout=5
        ).status_code
        == 404
    )
    # Same SKU, different tenants, different products.
    acme_sku = stock(demo, "SKU-0001")
    globex_sku = requests.get(
        f"{demo.inventory_url}/v1/inventory/SKU-0001", headers=GLOBEX, timeout=5
    ).json()
    assert acme_sku["price"] != globex_sku["price"]
    # An order cannot name another tenant's customer.
    body = {"customer_id": 2, "items": [{"sku": "SKU-0001", "quantity": 1}]}
    response = requests.post(f"{demo.orders_url}/v1/orders", json=body, headers=ACME, timeout=5)
    assert response.status_code == 422 and "customer_id" in response.json()["error"]


def test_order_creation_is_idempotent(demo: DemoSystem) -> None:
    key = "key-" + uuid.uuid4().hex
    first = create_order(demo, "SKU-0003", 2, key=key)
    again = create_order(demo, "SKU-0003", 2, key=key)
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.json()["id"] == again.json()["id"]
    orders = requests.get(f"{demo.orders_url}/v1/orders?limit=200", headers=ACME, timeout=5).json()[
        "items"
    ]
    assert [o["id"] for o in orders if o["idempotency_key"] == key] == [first.json()["id"]]
    # The key is per tenant: globex may use the same one for its own order.
    body = {"customer_id": 2, "items": [{"sku": "SKU-0003", "quantity": 1}]}
    other = requests.post(
        f"{demo.orders_url}/v1/orders",
        json=body,
        headers={**GLOBEX, "Idempotency-Key": key},
        timeout=5,
    )
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


def test_order_reserves_stock_and_advances_to_shipped(demo: DemoSystem) -> None:
    before = stock(demo, "SKU-0004")
    response = create_order(demo, "SKU-0004", 3)
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "reserved"
    assert order["total"] == pytest.approx(3 * before["price"])
    shipped = wait_for_status(demo, order["id"], "shipped")
    assert shipped["shipped_at"] is not None
    payments = [(p["status"], p["amount"]) for p in shipped["payments"]]
    assert payments == [("captured", order["total"])]
    after = stock(demo, "SKU-0004")
    assert (after["on_hand"], after["reserved"]) == (before["on_hand"] - 3, before["reserved"])


def test_order_beyond_stock_is_refused(demo: DemoSystem) -> None:
    available = stock(demo, "SKU-0005")["available"]
    response = create_order(demo, "SKU-0005", available + 1)
    assert response.status_code == 409 and "SKU-0005" in response.json()["error"]
    assert stock(demo, "SKU-0005")["available"] == available


def test_cancel_releases_stock_and_refunds(demo: DemoSystem) -> None:
    before = stock(demo, "SKU-0006")
    # The worker may ship an order before the cancel arrives on a busy machine: retry.
    for _ in range(3):
        order = create_order(demo, "SKU-0006", 2).json()
        cancel = requests.post(
            f"{demo.orders_url}/v1/orders/{order['id']}/cancel", headers=ACME, timeout=10
        )
        if cancel.status_code == 200:
            break
        assert cancel.status_code == 409 and "shipped" in cancel.json()["error"]
    assert cancel.status_code == 200, cancel.text
    cancelled = cancel.json()
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "customer_request")
    assert all(p["status"] == "refunded" for p in cancelled["payments"])
    assert stock(demo, "SKU-0006")["reserved"] == before["reserved"]
    # A cancelled order must stay cancelled while the worker looks at open orders again:
    # wait for three more completed ticks (at least two begun after the cancel).
    wait_for_ticks(demo, demo.worker_ticks() + 3)
    assert wait_for_status(demo, order["id"], "cancelled", timeout=1)["shipped_at"] is None
    # Cancelling again is a no-op; a shipped order (seed order 1) cannot be cancelled.
    again = requests.post(
        f"{demo.orders_url}/v1/orders/{order['id']}/cancel", headers=ACME, timeout=5
    )
    assert again.status_code == 200 and again.json()["cancelled_at"] == cancelled["cancelled_at"]
    shipped = requests.post(f"{demo.orders_url}/v1/orders/1/cancel", headers=ACME, timeout=5)
    assert shipped.status_code == 409


async def _watch_feed(demo: DemoSystem) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    async with aiohttp.ClientSession() as session:
        acme = await session.ws_connect(f"{demo.orders_url}/v1/orders/feed", headers=ACME)
        globex = await session.ws_connect(f"{demo.orders_url}/v1/orders/feed", headers=GLOBEX)
        hello = [await ws.receive_json(timeout=5) for ws in (acme, globex)]
        assert [h["tenant"] for h in hello] == ["acme", "globex"]
        order_id = (await asyncio.to_thread(create_order, demo, "SKU-0007")).json()["id"]
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + 15
        while not any(e.get("status") == "shipped" for e in seen):
            assert time.monotonic() < deadline, f"no shipped event for {order_id}: {seen}"
            event = await acme.receive_json(timeout=max(0.1, deadline - time.monotonic()))
            if event.get("order_id") == order_id:
                seen.append(event)
        others: list[dict[str, Any]] = []
        while True:
            try:
                others.append(json.loads((await globex.receive(timeout=0.5)).data))
            except TimeoutError:
                break
        await acme.close()
        await globex.close()
        return seen, others, order_id


def test_feed_streams_status_changes_of_the_tenant_only(demo: DemoSystem) -> None:
    seen, globex_events, order_id = asyncio.run(_watch_feed(demo))
    assert [e["status"] for e in seen] == ["pending", "reserved", "paid", "shipped"]
    assert seen[-1]["previous_status"] == "paid"
    assert all(e["tenant_id"] == 1 for e in seen)
    assert not [e for e in globex_events if e.get("order_id") == order_id]


def test_feed_needs_a_token(demo: DemoSystem) -> None:
    response = requests.get(f"{demo.orders_url}/v1/orders/feed", timeout=5)
    assert response.status_code == 401


def test_start_again_reuses_the_running_processes(demo: DemoSystem) -> None:
    pids = {p.name: p.read_text() for p in Path(demo.state_dir).glob("*.pid")}
    assert len(pids) == 3
    again = DemoSystem(demo.dsn, demo.state_dir, demo.orders_port, demo.inventory_port).start()
    assert again.running
    assert {p.name: p.read_text() for p in Path(demo.state_dir).glob("*.pid")} == pids
    env = (Path(demo.state_dir) / "demo.env").read_text()
    assert f"DEMO_ORDERS_URL={demo.orders_url}" in env and f"DEMO_DATABASE_URL={demo.dsn}" in env
