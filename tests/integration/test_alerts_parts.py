"""Alerts on part-results (an object of a schema-drift check, an expectation of a suite)
resolve when their parent passes or stops reporting them, against a real results store and
a real webhook receiver: exactly one resolve, to the channel that saw the part fire."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from tests.support.receivers import StoredRuns, WebhookReceiver
from vigil.alerts.engine import EvaluationReport, evaluate
from vigil.alerts.resolver import Resolver
from vigil.result import CheckResult
from vigil.results import ResultStore
from vigil.spec.alerts import AlertsConfig

pytestmark = pytest.mark.integration

SECRET = "hook-secret-parts"
P, F, E = "passed", "failed", "error"
STREAK = {"id": "down", "kind": "consecutive_failures", "count": 1, "resolve_after": 1}
FLAKY = {"id": "flaky", "kind": "window_failure_rate", "window": {"last_runs": 5},
         "threshold": 0.3, "min_results": 1, "group_by": ["check_id"]}  # fmt: skip
DRIFT = "schema"  # a schema_drift check; its parts are `schema.<object>`
PART = "schema.public.orders.note"


@dataclass
class PartRuns(StoredRuns):
    """StoredRuns whose results name their parent: `<parent>.<part>` ids are parts."""

    parents: tuple[str, ...] = ()
    kinds: dict[str, str] = field(default_factory=dict)

    def _result(self, check_id: str, status: Any, start: datetime, ms: float) -> CheckResult:
        result = super()._result(check_id, status, start, ms)
        parent = next((p for p in self.parents if check_id.startswith(p + ".")), None)
        kind = self.kinds.get(parent or check_id)
        if kind is None:
            return result
        update = {"parent": parent, "check_kind": kind, "family": "quality", "target": "db"}
        return result.model_copy(update=update)


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret=SECRET) as receiver:
        yield receiver


class Scenario:
    def __init__(self, fresh_db: str, hook: WebhookReceiver, *rules: dict[str, Any]) -> None:
        self.store = ResultStore(fresh_db)
        self.cfg = AlertsConfig.model_validate(
            {
                "channels": {
                    "hook": {"kind": "webhook", "url": hook.url, "secret": "${HOOK_SECRET}"}
                },
                "routes": {"critical": ["hook"], "warning": ["hook"]},
                "rules": list(rules),
                "delivery": {"attempts": 2, "backoff_s": 0.01, "max_total_s": 3},
            }
        )
        self.runs = PartRuns(
            self.store,
            {},
            parents=(DRIFT, "orders-data"),
            kinds={DRIFT: "schema_drift", "orders-data": "suite"},
        )

    def step(self, statuses: dict[str, Any]) -> EvaluationReport:
        self.runs.add(statuses)
        resolver = Resolver(environ={"HOOK_SECRET": SECRET})
        report = evaluate(self.store, self.runs.last, self.cfg, now=self.runs.now,
                          resolver=resolver)  # fmt: skip
        assert report.problems == []
        return report


def notices(hook: WebhookReceiver) -> list[list[tuple[str, str]]]:
    assert all(r.signature_ok for r in hook.received)
    return [[(n["notice"], n["fingerprint"]) for n in p["notices"]] for p in hook.payloads()]


def test_a_drift_part_alert_resolves_when_the_parent_check_passes(
    fresh_db: str, hook: WebhookReceiver
) -> None:
    s = Scenario(fresh_db, hook, STREAK)
    s.step({PART: F, "api_up": P})  # one drifted object: the part fires
    s.step({PART: F, "api_up": P})
    cleared = s.step({DRIFT: P, "api_up": P})  # a clean run records only the parent
    for _ in range(7):  # seven green runs: nothing more to say
        s.step({DRIFT: P, "api_up": P})
    fp = f"down/check_id={PART}"
    assert notices(hook) == [[("firing", fp)], [("resolve", fp)]]
    assert cleared.changed("resolved") == [fp]
    resolve = hook.payloads()[1]["notices"][0]
    assert resolve["title"] == f"{PART} is no longer reported: {DRIFT} passed"
    assert resolve["fired_title"].startswith(f"{PART} (quality on db) failed 2 runs in a row")
    assert resolve["state"] == "resolved" and resolve["detail"]["part_of"] == DRIFT


def test_a_part_no_longer_reported_resolves_and_its_window_alert_does_not_come_back(
    fresh_db: str, hook: WebhookReceiver
) -> None:
    s = Scenario(fresh_db, hook, STREAK, FLAKY)
    old, kept, new = "orders-data.expect_total", "orders-data.expect_id", "orders-data.total_ok"
    s.step({old: F, kept: P})  # the suite's `old` expectation fails: two alerts fire
    for _ in range(3):  # the suite's expectation ids changed: `old` is no longer reported
        s.step({new: P, kept: P})
    fired = [("firing", f"down/check_id={old}"), ("firing", f"flaky/check_id={old}")]
    resolved = [("resolve", f"down/check_id={old}"), ("resolve", f"flaky/check_id={old}")]
    assert notices(hook) == [fired, resolved]
    titles = {n["title"] for n in hook.payloads()[1]["notices"]}
    assert titles == {f"{old} is no longer reported: orders-data reported 2 other part(s) "
                      "and not this one"}  # fmt: skip


def test_a_parent_that_could_not_run_leaves_its_parts_alerts_firing(
    fresh_db: str, hook: WebhookReceiver
) -> None:
    s = Scenario(fresh_db, hook, STREAK)
    s.step({PART: F})
    s.step({DRIFT: E})  # the database was unreachable: nothing is known of the part
    s.step({})  # the check did not run at all (not selected): nothing either
    s.step({DRIFT: P})
    part, whole = f"down/check_id={PART}", f"down/check_id={DRIFT}"
    assert notices(hook) == [
        [("firing", part)], [("firing", whole)], [("resolve", whole), ("resolve", part)]
    ]  # fmt: skip
