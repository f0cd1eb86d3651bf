"""The demo spec's journeys against the real demo system and its PostgreSQL: all green when
healthy, and each fault turns exactly the journeys it should red, naming the right step.

Every fault is switched through `demo.faults` (the same switch `python -m demo.faults`
flips) and cleared after each test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.demo_system import DEMO_JOURNEYS, running_demo
from vigil import families
from vigil.context import RunContext
from vigil.result import CheckResult, Status
from vigil.spec.loader import load_spec
from vigil.stack.postgres import LocalPostgres

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "include" / "specs" / "demo.yaml"


@pytest.fixture(scope="module")
def demo(pg: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with running_demo(pg, "scenarios_demo", tmp_path_factory.mktemp("demo")) as system:
        yield system


@pytest.fixture(autouse=True)
def healthy(demo: Any) -> Iterator[None]:
    from demo import faults

    faults.clear(demo.dsn)
    time.sleep(0.7)  # the services re-read their switches every 0.5 s
    yield
    faults.clear(demo.dsn)


def context(demo: Any, run_id: str, spec: Path = SPEC) -> RunContext:
    from demo import config as demo_config

    environ = {
        "AIRFLOW_CONN_VIGIL_DEMO_DB": demo.dsn,
        "DEMO_ORDERS_URL": demo.orders_url,
        "DEMO_INVENTORY_URL": demo.inventory_url,
        "DEMO_TOKEN_ACME": demo_config.ACME_TOKEN,
        "DEMO_TOKEN_GLOBEX": demo_config.GLOBEX_TOKEN,
        "DEMO_ADMIN_TOKEN": demo_config.admin_token(),
        "DEMO_WEBHOOK_SECRET": "scenario-test-secret",
    }
    return RunContext(
        load_spec(spec), environ=environ, cadence="daily", dag_id="demo_daily", run_id=run_id
    )


def run_journeys(
    demo: Any, run_id: str, only: tuple[str, ...] = DEMO_JOURNEYS, spec: Path = SPEC
) -> dict[str, Any]:
    """The chosen journeys, one after another as their tasks would run them."""
    ctx = context(demo, run_id, spec)
    found: dict[str, CheckResult] = {}
    for check in ctx.spec.checks_of("scenarios"):
        if check.id in only:
            for result in families.get("scenarios").run([check], ctx):
                found[result.check_id] = result
    return found


def fault(demo: Any, name: str, on: bool, value: float | None = None) -> None:
    from demo import faults

    faults.set_fault(name, on, dsn=demo.dsn, value=value)
    time.sleep(0.7)  # the services re-read their switches every 0.5 s


def red(results: dict[str, Any]) -> dict[str, str | None]:
    """journey -> the step it failed in, for every journey that did not pass."""
    return {
        check_id: r.details.get("failed_step")
        for check_id, r in results.items()
        if r.status is not Status.PASSED and r.parent is None
    }


def test_every_demo_journey_passes_on_a_healthy_demo_and_again_the_next_run(demo: Any) -> None:
    from demo import config as demo_config
    from demo import faults

    first = run_journeys(demo, "healthy-1")
    assert red(first) == {}, {k: r.message for k, r in first.items()}
    assert set(DEMO_JOURNEYS) <= set(first)
    lifecycle = first["order-lifecycle"]
    assert list(lifecycle.observed["steps_ms"]) == [
        "stock-before",
        "create",
        "shipped",
        "rows",
        "stock-after",
    ]
    # Repeated runs give the same result: every name they create carries the run's marker.
    second = run_journeys(demo, "healthy-2")
    assert red(second) == {}, {k: r.message for k, r in second.items()}
    # The recovery journey saw inventory refuse, an order wait and proceed, and its cleanup
    # left inventory-down as it found it (off).
    recovery = second["inventory-recovery"]
    steps = [s["step"] for s in recovery.details["trace"]]
    assert steps[:4] == [
        "faults-before",
        "inventory-down",
        "inventory-refuses",
        "create-while-down",
    ]
    assert [s["step"] for s in recovery.details["cleanup"]] == ["restore-inventory"]
    assert faults.get_faults(demo.dsn)["inventory-down"]["enabled"] is False
    # No token the journeys sent (the admin's, another tenant's) reaches a stored trace.
    stored = json.dumps([r.to_row() for r in [*first.values(), *second.values()]])
    for secret in (demo_config.admin_token(), demo_config.GLOBEX_TOKEN, demo_config.ACME_TOKEN):
        assert secret not in stored
    assert "***" in stored


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("tenant-leak", None, {"tenant-isolation": "other-tenant-refused"}),
        ("duplicate-ids", None, {"concurrent-creates": "burst"}),
        ("feed-drop", None, {"feed-lifecycle": "every-transition"}),
        # 2.5 s on every request: over the create step's 2 s budget.
        ("latency", 2500.0, {"order-lifecycle": "create"}),
    ],
)
def test_each_fault_turns_exactly_its_journeys_red_at_the_right_step(
    demo: Any, name: str, value: float | None, expected: dict[str, str]
) -> None:
    only = tuple(expected) + (("idempotent-replay",) if name != "latency" else ())
    fault(demo, name, True, value)
    results = run_journeys(demo, f"fault-{name}", only)
    assert red(results) == expected, {k: r.message for k, r in results.items()}
    for journey, step in expected.items():
        assert f"step '{step}'" in results[journey].message


def test_a_stuck_worker_fails_the_lifecycle_at_the_wait_naming_the_last_state(
    demo: Any, tmp_path: Path
) -> None:
    # The demo spec with the lifecycle's 20 s wait for "shipped" cut to 3 s: the wait
    # times out all the same, without holding the suite for 20 s.
    text = SPEC.read_text()
    wait = (
        "until: ['status == \"shipped\"']\n            interval_s: 0.5\n            timeout_s: 20"
    )
    assert text.count(wait) == 1, "the lifecycle's wait for shipped moved in the demo spec"
    spec = tmp_path / SPEC.name
    spec.write_text(text.replace(wait, wait.replace("timeout_s: 20", "timeout_s: 3")))
    fault(demo, "stuck", True)
    results = run_journeys(demo, "fault-stuck", ("order-lifecycle",), spec)
    lifecycle = results["order-lifecycle"]
    assert red(results) == {"order-lifecycle": "shipped"}
    # The wait names the condition and what it saw last.
    assert "shipped" in lifecycle.message and "reserved" in lifecycle.message


def test_errors_turn_journeys_red_and_the_recovery_journey_leaves_inventory_as_it_found_it(
    demo: Any,
) -> None:
    from demo import faults

    fault(demo, "errors", True, 1.0)
    results = run_journeys(demo, "fault-errors", ("idempotent-replay", "inventory-recovery"))
    assert set(red(results)) == {"idempotent-replay", "inventory-recovery"}
    assert results["idempotent-replay"].details["failed_step"] == "create"
    # Its cleanup ran and put inventory-down back as it was (off).
    assert faults.get_faults(demo.dsn)["inventory-down"]["enabled"] is False
