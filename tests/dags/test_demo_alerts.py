"""Alerting end to end through real DAG runs: inventory-down fires exactly one alert at a
real webhook receiver (HMAC verified), and switching it off resolves it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.dags.conftest import inventory_down, run_dag, vigil_env
from tests.support.receivers import WebhookReceiver

pytestmark = pytest.mark.dags
SECRET = "dag-alert-secret"


@pytest.fixture(scope="module")
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret=SECRET) as receiver:
        yield receiver


@pytest.fixture(scope="module")
def env(
    pg: Any,
    demo_system: Any,
    airflow_db: str,
    hook: WebhookReceiver,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, str]]:
    with vigil_env(
        pg,
        demo_system,
        "dagtest_alerts",
        DEMO_WEBHOOK_URL=hook.url,
        DEMO_WEBHOOK_SECRET=SECRET,
        VIGIL_STATE_DIR=str(tmp_path_factory.mktemp("state")),
    ) as values:
        yield values


def _notices(hook: WebhookReceiver) -> list[tuple[str, str]]:
    return [(n["notice"], n["rule"]["id"]) for p in hook.payloads() for n in p["notices"]]


def test_inventory_down_fires_one_alert_then_resolves(
    env: dict[str, str], hook: WebhookReceiver, demo_system: Any
) -> None:
    assert run_dag("demo_daily").state == "success"
    assert hook.payloads() == []

    with inventory_down(demo_system):
        states = [run_dag("demo_daily").state for _ in range(3)]
    assert states == ["failed"] * 3
    assert all(r.signature_ok for r in hook.received)
    assert _notices(hook) == [("firing", "target-down")]
    [digest] = hook.payloads()
    title = digest["notices"][0]["title"]  # headed by the critical /health check
    assert title.startswith("inventory-api-health (health on inventory-api)")

    assert run_dag("demo_daily").state == "success"
    assert _notices(hook) == [("firing", "target-down"), ("resolve", "target-down")]


def test_dry_run_records_but_sends_nothing(
    env: dict[str, str], hook: WebhookReceiver, demo_system: Any
) -> None:
    before = len(hook.received)
    with inventory_down(demo_system):
        dag_run = run_dag("demo_daily", {"dry_run": True})
    assert dag_run.state == "failed"
    assert len(hook.received) == before
