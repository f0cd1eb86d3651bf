"""A real test suite for the demo's orders-api, as a team would keep next to its service.

Vigil runs it as a `suite` scenario and ingests its JUnit XML, one result per test. It
talks HTTP only (`requests`), to the orders-api at DEMO_ORDERS_URL, with the demo's fixed
tenant tokens; it passes on a healthy demo. Orders it creates are cancelled afterwards
(when the worker has not shipped them yet), so repeated runs do not drain the stock.

Seed data it relies on (demo/sql/seed.sql): customer c belongs to tenant ((c-1) % 5) + 1,
so customer 1 is acme's; product p is tenant ((p-1) % 5) + 1's SKU number (p-1)//5 + 1,
active unless p % 41 == 0 and in stock unless p % 97 == 0: SKU-0003 of acme is product
11, active, 391 in stock.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

BASE_URL = os.environ.get("DEMO_ORDERS_URL", "http://127.0.0.1:18081").rstrip("/")
ACME = {"Authorization": "Bearer demo-token-acme"}
GLOBEX = {"Authorization": "Bearer demo-token-globex"}
ACME_CUSTOMER = 1
ACME_SKU = "SKU-0003"
TIMEOUT_S = 10


def order_body(quantity: int = 1) -> dict[str, Any]:
    return {"customer_id": ACME_CUSTOMER, "items": [{"sku": ACME_SKU, "quantity": quantity}]}


def cancel(order_id: int) -> None:
    # 200 cancelled (stock released); 409 when the worker shipped it already: both fine.
    response = requests.post(
        f"{BASE_URL}/v1/orders/{order_id}/cancel", headers=ACME, timeout=TIMEOUT_S
    )
    assert response.status_code in (200, 409), response.text


@pytest.fixture(scope="module")
def acme_order() -> Iterator[dict[str, Any]]:
    """One order created for acme (the create response), cancelled after the module."""
    response = requests.post(
        f"{BASE_URL}/v1/orders", json=order_body(), headers=ACME, timeout=TIMEOUT_S
    )
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    yield order
    cancel(order["id"])


def test_health_is_ok() -> None:
    response = requests.get(f"{BASE_URL}/health", timeout=TIMEOUT_S)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["service"] == "orders-api"


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer not-a-demo-token"}], ids=["none", "unknown"]
)
def test_listing_orders_needs_a_token(headers: dict[str, str]) -> None:
    response = requests.get(f"{BASE_URL}/v1/orders", headers=headers, timeout=TIMEOUT_S)
    assert response.status_code == 401, response.text
    assert "token" in response.json()["error"]


def test_acme_lists_its_orders() -> None:
    response = requests.get(f"{BASE_URL}/v1/orders?limit=5", headers=ACME, timeout=TIMEOUT_S)
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == 5


def test_create_order_for_acme(acme_order: dict[str, Any]) -> None:
    assert acme_order["customer_id"] == ACME_CUSTOMER
    # reserved once inventory-api took the stock; pending while it could not answer.
    assert acme_order["status"] in ("pending", "reserved")
    assert [(i["sku"], i["quantity"]) for i in acme_order["items"]] == [(ACME_SKU, 1)]
    assert acme_order["total"] > 0


def test_created_order_reads_back(acme_order: dict[str, Any]) -> None:
    response = requests.get(
        f"{BASE_URL}/v1/orders/{acme_order['id']}", headers=ACME, timeout=TIMEOUT_S
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == acme_order["id"]
    assert response.json()["customer_id"] == ACME_CUSTOMER


def test_globex_cannot_read_acme_order(acme_order: dict[str, Any]) -> None:
    response = requests.get(
        f"{BASE_URL}/v1/orders/{acme_order['id']}", headers=GLOBEX, timeout=TIMEOUT_S
    )
    assert response.status_code == 404, response.text


def test_idempotency_key_replay_returns_the_same_order() -> None:
    headers = {**ACME, "Idempotency-Key": f"demo-suite-{uuid.uuid4()}"}
    first = requests.post(
        f"{BASE_URL}/v1/orders", json=order_body(), headers=headers, timeout=TIMEOUT_S
    )
    assert first.status_code == 201, first.text
    try:
        replay = requests.post(
            f"{BASE_URL}/v1/orders", json=order_body(), headers=headers, timeout=TIMEOUT_S
        )
        assert replay.status_code == 200, replay.text
        assert replay.headers.get("Idempotent-Replayed") == "true"
        assert replay.json()["id"] == first.json()["id"]
    finally:
        cancel(first.json()["id"])


@pytest.mark.parametrize(
    "body",
    [
        {"customer_id": "one", "items": [{"sku": ACME_SKU, "quantity": 1}]},
        {"customer_id": ACME_CUSTOMER, "items": []},
        {"customer_id": ACME_CUSTOMER, "items": [{"sku": ACME_SKU, "quantity": 0}]},
    ],
    ids=["customer-not-an-integer", "no-items", "zero-quantity"],
)
def test_bad_body_is_rejected(body: dict[str, Any]) -> None:
    response = requests.post(f"{BASE_URL}/v1/orders", json=body, headers=ACME, timeout=TIMEOUT_S)
    assert response.status_code == 422, response.text
