"""One task's work without Airflow (vigil.pipeline), against a real results store and real
closed ports: gating chains through dependencies, and a retried task's results replace its
earlier ones. (Checks nobody recorded: tests/unit/test_pipeline_pieces.py.)"""

from __future__ import annotations

import pytest

from vigil.context import RunContext
from vigil.pipeline import Selection, run_target
from vigil.result import CheckResult, Status
from vigil.results.store import ResultStore, RunRef
from vigil.spec.models import Spec
from vigil.stack.postgres import free_port

pytestmark = pytest.mark.integration
RUN = RunRef("chain", "daily", "chain_daily", "manual__1")


def _spec() -> Spec:
    closed = free_port()  # nothing listens: connections are refused at once
    return Spec.model_validate(
        {
            "environment": "chain",
            "targets": {
                "db": {"kind": "tcp", "address": f"127.0.0.1:{closed}"},
                "inv": {
                    "kind": "http",
                    "base_url": f"http://127.0.0.1:{closed}",
                    "depends_on": ["db"],
                },
                "orders": {
                    "kind": "http",
                    "base_url": f"http://127.0.0.1:{closed}",
                    "depends_on": ["inv"],
                },
            },
            "checks": {
                "health": [
                    {"id": "db-port", "kind": "tcp", "target": "db", "timeout_s": 2},
                    {"id": "inv-health", "kind": "http", "target": "inv", "timeout_s": 2},
                    {"id": "orders-health", "kind": "http", "target": "orders", "timeout_s": 2},
                ]
            },
        }
    )


def test_a_skip_chains_through_dependencies(fresh_db: str) -> None:
    spec, store = _spec(), ResultStore(fresh_db)
    ctx, selection = RunContext(spec, environ={}), Selection(frozenset({"health"}))
    outcomes = {
        t: run_target(ctx, "health", t, store, RUN, selection) for t in ("db", "inv", "orders")
    }
    assert [r.status for r in outcomes["db"].results] == [Status.ERROR]
    assert outcomes["inv"].skipped_reason and "db is unhealthy" in outcomes["inv"].skipped_reason
    # orders depends on inv, which was skipped because of db: it must not run into the outage.
    assert outcomes["orders"].skipped_reason
    assert "inv is unhealthy" in outcomes["orders"].skipped_reason
    [orders] = outcomes["orders"].results
    assert orders.status is Status.SKIPPED and orders.details["blocked_by"] == ["inv"]


def test_a_retry_replaces_what_the_failed_attempt_recorded(fresh_db: str) -> None:
    store = ResultStore(fresh_db)
    whole_suite_error = CheckResult(
        check_id="orders-data",
        family="quality",
        target="db",
        status=Status.ERROR,
        message="connection dropped",
    )
    store.record(RUN, [whole_suite_error], replace=("quality", "db"))
    retry = [
        CheckResult(
            check_id=f"orders-data.{name}", family="quality", target="db", status=Status.PASSED
        )
        for name in ("columns", "row_count")
    ]
    other = CheckResult(check_id="db-port", family="health", target="db", status=Status.PASSED)
    store.record(RUN, [other])
    store.record(RUN, retry, replace=("quality", "db"))
    assert sorted(r.check_id for r in store.run_results(RUN)) == [
        "db-port",
        "orders-data.columns",
        "orders-data.row_count",
    ]
    assert store.finish_run(RUN).state == "success"
