"""vigil.pipeline's pure pieces: what a run must report for checks nobody recorded."""

from __future__ import annotations

import pytest

from vigil.pipeline import Selection, unrecorded
from vigil.result import CheckResult, Status
from vigil.spec.models import Spec

pytestmark = pytest.mark.unit

# Nothing is contacted: only the spec's shape matters here.
NOWHERE = "127.0.0.1:9"


def _spec() -> Spec:
    return Spec.model_validate(
        {
            "environment": "chain",
            "targets": {
                "db": {"kind": "tcp", "address": NOWHERE},
                "inv": {"kind": "http", "base_url": f"http://{NOWHERE}", "depends_on": ["db"]},
                "orders": {
                    "kind": "http",
                    "base_url": f"http://{NOWHERE}",
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


def test_checks_nobody_recorded_become_errors() -> None:
    spec = _spec()
    recorded = [CheckResult(check_id="db-port", family="health", target="db", status=Status.PASSED)]
    missing = unrecorded(spec, Selection(frozenset({"health"})), recorded)
    assert {r.check_id for r in missing} == {"inv-health", "orders-health"}
    assert all(r.status is Status.ERROR and "no result recorded" in r.message for r in missing)
    only_db = Selection(frozenset({"health"}), targets=frozenset({"db"}))
    assert unrecorded(spec, only_db, recorded) == []
