"""The probes family against the real demo system and its PostgreSQL: the demo spec's
probes green when healthy, and red for the right reason (the right thresholds, with the
figures as evidence) under `latency`, `errors` and `slow-index`; baselines read from a real
results store; consent enforced at run time; a target that is down an error, not a crash.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.demo_system import running_demo
from vigil import families
from vigil.context import RunContext
from vigil.probes.run import run_probe
from vigil.result import CheckResult, Status
from vigil.results import probe_figures
from vigil.results.store import ResultStore, RunRef
from vigil.spec.loader import load_spec
from vigil.spec.models import Spec
from vigil.stack.postgres import LocalPostgres

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "include" / "specs" / "demo.yaml"


@pytest.fixture(scope="module")
def demo(pg: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with running_demo(pg, "probes_demo", tmp_path_factory.mktemp("demo")) as system:
        yield system


@pytest.fixture(scope="module")
def results_dsn(pg: LocalPostgres) -> str:
    pg.create_database("probes_results")
    return str(pg.dsn("probes_results"))


@pytest.fixture(autouse=True)
def healthy(demo: Any) -> Iterator[None]:
    from demo import faults

    yield
    faults.clear(demo.dsn)


def environ(pg: LocalPostgres, demo: Any, results: str | None = None) -> dict[str, str]:
    from demo import config as demo_config

    env = {
        "AIRFLOW_CONN_VIGIL_DEMO_DB": demo.dsn,
        "DEMO_ORDERS_URL": demo.orders_url,
        "DEMO_INVENTORY_URL": demo.inventory_url,
        "DEMO_DB_ADDR": f"127.0.0.1:{pg.port}",
        "DEMO_TOKEN_ACME": demo_config.ACME_TOKEN,
        "DEMO_WEBHOOK_SECRET": "probe-test-secret",
    }
    if results is not None:
        env["AIRFLOW_CONN_VIGIL_RESULTS"] = results
    return env


def context(env: dict[str, str], spec: Spec | None = None, run_id: str = "r1") -> RunContext:
    return RunContext(
        spec or load_spec(SPEC),
        environ=env,
        cadence="daily",
        dag_id="demo_daily",
        run_id=run_id,
    )


def probe(ctx: RunContext, probe_id: str) -> Any:
    return next(c for c in ctx.spec.checks_of("probes") if c.id == probe_id)


def by_id(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.check_id: r for r in results}


def fault(demo: Any, name: str, on: bool, value: float | None = None) -> None:
    """Switch a fault and wait (bounded) until the services' 0.5 s cache has it."""
    from demo import faults

    faults.set_fault(name, on, dsn=demo.dsn, value=value)
    time.sleep(0.7)


def test_a_healthy_demo_passes_every_probe_threshold(pg: LocalPostgres, demo: Any) -> None:
    ctx = context(environ(pg, demo))
    checks = ctx.spec.checks_of("probes")
    results = families.get("probes").run(checks, ctx)

    assert {r.parent for r in results} == {c.id for c in checks}
    assert all(r.family == "probes" for r in results)
    judged = [r for r in results if r.status is not Status.SKIPPED]
    assert all(r.status is Status.PASSED for r in judged), [r.message for r in judged]
    # The baseline threshold has no store to read (none configured): no verdict, said so.
    [baseline] = [r for r in results if r.check_id == "orders-api-load.p95.baseline"]
    assert baseline.status is Status.SKIPPED
    assert "no results store is configured" in baseline.message

    load = by_id(results)["orders-api-load.p95"]
    figures = load.observed
    assert figures["requests"] > 0 and figures["errors"] == 0
    assert figures["p50"] <= figures["p95"] <= figures["p99"] <= figures["max"]
    assert load.details["profile"] == "default"
    assert load.details["load"]["model"] == "closed"
    assert load.details["histogram"]  # the encoded HdrHistogram, to recompute from

    plan = by_id(results)["order-history-plan.uses_index.orders_tenant_id_customer_id_idx"]
    assert "orders_tenant_id_customer_id_idx" in plan.observed["indexes_used"]
    connections = by_id(results)["demo-db-connections.headroom"]
    assert connections.observed["opened"] == 20 and connections.observed["headroom"] >= 10


def test_latency_turns_the_latency_thresholds_red_with_the_figures(
    pg: LocalPostgres, demo: Any
) -> None:
    fault(demo, "latency", True, value=300)
    ctx = context(environ(pg, demo))
    found = by_id(run_probe(probe(ctx, "orders-api-load"), ctx))

    p95 = found["orders-api-load.p95"]
    assert p95.status is Status.FAILED
    assert p95.observed["p95"] >= 300, p95.observed
    assert "p95" in p95.message and "250.0 ms" in p95.message
    # 300 ms per request over 4 connections cannot serve 40/s: throughput is red too.
    assert found["orders-api-load.rps"].status is Status.FAILED
    # Slow, not broken: the error rate holds, and so does the p99 bound of 1 s.
    assert found["orders-api-load.error_rate"].status is Status.PASSED
    assert found["orders-api-load.p99"].status is Status.PASSED


def test_errors_turn_the_error_rate_red_and_abort_early(pg: LocalPostgres, demo: Any) -> None:
    fault(demo, "errors", True, value=0.9)
    ctx = context(environ(pg, demo))
    found = by_id(run_probe(probe(ctx, "orders-api-load"), ctx))

    rate = found["orders-api-load.error_rate"]
    red = {k for k, r in found.items() if r.is_problem}
    assert red == {"orders-api-load.error_rate", "orders-api-load.abort.error_rate"}
    assert rate.observed["error_rate"] > 0.5
    assert rate.details["errors_by_class"]["status"] == rate.observed["errors"]
    assert rate.details["statuses"].get("500", 0) > 0
    # abort_when: error_rate > 50% after 2s stopped it before its 3 s window, and says so.
    assert "aborted after" in rate.details["stopped_because"]
    assert "aborted after" in found["orders-api-load.abort.error_rate"].message
    assert rate.observed["duration_s"] < 3.0


def test_slow_index_fails_the_index_assertion_naming_what_the_plan_does(
    pg: LocalPostgres, demo: Any
) -> None:
    fault(demo, "slow-index", True)
    ctx = context(environ(pg, demo))
    found = by_id(families.get("probes").run(ctx.spec.checks_of("probes"), ctx))

    uses = found["order-history-plan.uses_index.orders_tenant_id_customer_id_idx"]
    red = {k for k, r in found.items() if r.is_problem}
    assert red == {uses.check_id}, {k: found[k].message for k in red}
    assert "orders_tenant_id_customer_id_idx" not in uses.observed["indexes_used"]
    assert "indexes used:" in uses.message
    assert uses.details["plan"]["node"]  # the plan itself, as evidence
    # The latency probe of the same query stays within its 50 ms at the demo's size (the
    # planner reads the tenant's orders through another index): the plan assertion sees
    # the lost index before any latency figure can.
    assert found["order-history-latency.p95"].status is Status.PASSED
    assert found["order-history-plan.no_seq_scan.orders"].status is Status.PASSED


def test_baseline_from_stored_history(pg: LocalPostgres, demo: Any, results_dsn: str) -> None:
    env = environ(pg, demo, results=results_dsn)
    store = ResultStore(results_dsn)
    series = probe(context(env), "orders-api-load").series_key(None)  # default@<load digest>

    def seed(run_id: str, p95: float) -> None:
        run = RunRef("demo", "daily", "demo_daily", run_id)
        store.start_run(run)
        probe_figures.record(
            store, run, check_id="orders-api-load", target="orders-api",
            check_kind="http_load", profile=series, passed=True,
            figures={"p50": p95 / 2, "p95": p95, "p99": p95 * 1.5}, histogram=None,
        )  # fmt: skip

    seed("h1", 4.0)
    ctx = context(env, run_id="now-1")
    early = by_id(run_probe(probe(ctx, "orders-api-load"), ctx))["orders-api-load.p95.baseline"]
    assert early.status is Status.SKIPPED
    assert "needs 3 passing run(s)" in early.message and "has 1" in early.message

    seed("h2", 5.0)
    seed("h3", 6.0)
    fault(demo, "latency", True, value=300)
    ctx = context(env, run_id="now-2")
    late = by_id(run_probe(probe(ctx, "orders-api-load"), ctx))["orders-api-load.p95.baseline"]
    assert late.status is Status.FAILED
    # Median of the passing history (which includes now-1's own, passing, run).
    assert late.details["baseline"] < 50 and late.details["baseline_runs"] >= 3
    assert "x baseline" in late.message

    stored = probe_figures.series(store, "demo", since=late.started_at.replace(year=2000))
    mine = [r for r in stored if r.run_id == "now-2"]
    assert len(mine) == 1 and not mine[0].passed and mine[0].figures["p95"] >= 300


def test_load_is_refused_at_run_time_without_consent(pg: LocalPostgres, demo: Any) -> None:
    spec = load_spec(SPEC)
    targets = dict(spec.targets)
    targets["orders-api"] = targets["orders-api"].model_copy(update={"allow_load": False})
    unchecked = spec.model_copy(update={"targets": targets})  # as a spec built in code
    ctx = context(environ(pg, demo), spec=unchecked)
    before = _served(demo)
    results = run_probe(probe(ctx, "orders-api-load"), ctx)

    assert {r.status for r in results} == {Status.ERROR}
    assert all("does not declare allow_load: true" in r.message for r in results)
    assert _served(demo) - before <= 1  # nothing was sent (the count request itself aside)


def _served(demo: Any) -> float:
    """Requests the orders service has counted, from its own /metrics."""
    text = requests.get(f"{demo.orders_url}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("http_requests_total{")
    )


def test_a_target_that_is_down_is_an_error_on_every_threshold(pg: LocalPostgres, demo: Any) -> None:
    from vigil.stack.postgres import free_port

    env = environ(pg, demo)
    env["DEMO_ORDERS_URL"] = f"http://127.0.0.1:{free_port()}"
    ctx = context(env)
    results = run_probe(probe(ctx, "orders-api-load"), ctx)

    judged = [r for r in results if r.check_id != "orders-api-load.p95.baseline"]
    assert {r.status for r in judged} == {Status.ERROR}, [r.message for r in judged]
    assert all("could not reach the target" in r.message for r in judged)


def test_the_weekly_cadence_runs_the_heavy_profile_as_an_open_loop(
    pg: LocalPostgres, demo: Any
) -> None:
    ctx = context(environ(pg, demo))
    ctx.cadence = "weekly"  # schedules.weekly.probe_profile: heavy
    found = by_id(run_probe(probe(ctx, "orders-api-load"), ctx))
    p95 = found["orders-api-load.p95"]
    # Judged on real figures (whether 60/s fits under 250 ms depends on the machine's load
    # while the suite runs; the daily closed loop, self-limiting, is the green-path proof).
    assert p95.status in (Status.PASSED, Status.FAILED), p95.message
    assert p95.details["profile"] == "heavy"
    assert p95.details["load"] == {
        "model": "open",
        "connections": 32,
        "rate": 60.0,
        "duration_s": 10.0,
        "warmup_s": 1.0,
        "max_requests": 20000,
    }
    # An open loop sends on schedule: about rate x duration requests were measured.
    assert 0.8 * 600 <= p95.observed["requests"] <= 1.1 * 600
