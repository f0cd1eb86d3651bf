"""What a person is sent when a target goes down, against a real results store and a real
webhook receiver: the headline is the most severe problem, a folded alert's first notice
is a firing, slowness caused by the outage folds under it, long values are cut."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.support.receivers import StoredRuns, WebhookReceiver
from vigil.alerts.digest import MAX_TEXT
from vigil.alerts.engine import EvaluationReport, evaluate
from vigil.alerts.resolver import Resolver
from vigil.result import CheckResult, Severity
from vigil.results import ResultStore
from vigil.spec.alerts import AlertsConfig

pytestmark = pytest.mark.integration

SECRET = "hook-secret-folding"
P, F = "passed", "failed"
TARGET_DOWN = {"id": "target-down", "kind": "consecutive_failures", "severity": "critical",
               "select": {"families": ["health"]}, "count": 1, "resolve_after": 1,
               "repeat_interval": "24h"}  # fmt: skip
ANY_FAIL = {"id": "any-fail", "kind": "consecutive_failures", "severity": "warning",
            "select": {"families": ["quality"]}, "count": 1, "resolve_after": 1}  # fmt: skip
SLOW_RUNS = {"id": "slow-runs", "kind": "duration_regression", "severity": "warning",
             "subject": "run", "factor": 2.0, "baseline_runs": 7, "min_runs": 3,
             "min_duration_ms": 1000}  # fmt: skip
CHECKS = {
    "inventory-api-health": ("health", "inventory-api"),  # GET /health, critical
    "inventory-api-a-latency": ("health", "inventory-api"),  # a warning, first by name
    "inventory-rows": ("quality", "inventory-api"),
    "db-up": ("health", "db"),
}


@dataclass
class Runs(StoredRuns):
    """StoredRuns with a severity and a message per check where the test says so."""

    severities: dict[str, Severity] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)

    def _result(self, check_id: str, status: Any, start: datetime, ms: float) -> CheckResult:
        result = super()._result(check_id, status, start, ms)
        update: dict[str, Any] = {"severity": self.severities.get(check_id, Severity.CRITICAL)}
        if check_id in self.messages and result.is_problem:
            update["message"] = self.messages[check_id]
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
        self.runs = Runs(self.store, CHECKS,
                         severities={"inventory-api-a-latency": Severity.WARNING})  # fmt: skip

    def step(self, statuses: dict[str, Any], **kwargs: Any) -> EvaluationReport:
        self.runs.add(statuses, **kwargs)
        resolver = Resolver(environ={"HOOK_SECRET": SECRET})
        report = evaluate(self.store, self.runs.last, self.cfg, now=self.runs.now,
                          resolver=resolver)  # fmt: skip
        assert report.problems == []
        return report


def notices(hook: WebhookReceiver) -> list[list[tuple[str, str]]]:
    assert all(r.signature_ok for r in hook.received)
    return [[(n["notice"], n["fingerprint"]) for n in p["notices"]] for p in hook.payloads()]


HEALTH_FP = "target-down/check_id=inventory-api-health"
LATENCY_FP = "target-down/check_id=inventory-api-a-latency"


def test_the_headline_of_a_folded_target_alert_is_its_critical_health_check(
    fresh_db: str, hook: WebhookReceiver
) -> None:
    s = Scenario(fresh_db, hook, TARGET_DOWN)
    s.step({"inventory-api-health": F, "inventory-api-a-latency": F, "db-up": P})
    [[(kind, fp)]] = notices(hook)
    assert (kind, fp) == ("firing", HEALTH_FP)
    [notice] = hook.payloads()[0]["notices"]
    assert notice["title"].startswith("inventory-api-health (health on inventory-api) failed")
    assert [f["fingerprint"] for f in notice["folding"]["folded"]] == [LATENCY_FP]


def test_a_folded_alerts_first_notice_is_a_firing_not_a_reminder(
    fresh_db: str, hook: WebhookReceiver
) -> None:
    s = Scenario(fresh_db, hook, TARGET_DOWN, ANY_FAIL)
    s.step({"inventory-api-health": F, "inventory-rows": F})  # rows fold under the health
    back = s.runs.starts[0] + timedelta(minutes=1)  # a minute later the API is back
    report = s.step({"inventory-api-health": P, "inventory-rows": F}, at=back)
    rows = "any-fail/check_id=inventory-rows"
    assert notices(hook) == [[("firing", HEALTH_FP)], [("firing", rows), ("resolve", HEALTH_FP)]]
    assert {a.fingerprint: a.change for a in report.alerts}[rows] == "notified"
    s.step({"inventory-api-health": P, "inventory-rows": F})  # an hour later: nothing new
    assert len(hook.payloads()) == 2


def test_a_run_slowed_down_by_an_outage_folds_its_duration_alert_under_the_target_alert(
    fresh_db: str, hook: WebhookReceiver
) -> None:
    s = Scenario(fresh_db, hook, TARGET_DOWN, SLOW_RUNS)
    healthy = {"inventory-api-health": P, "db-up": P}
    for _ in range(3):
        s.step(healthy, durations={"inventory-api-health": 1000})
    # Retries against a dead API: the run takes 5.9 times its median.
    down = s.step({"inventory-api-health": F, "db-up": P},
                  durations={"inventory-api-health": 5900})  # fmt: skip
    s.step(healthy, durations={"inventory-api-health": 1000})
    assert notices(hook) == [[("firing", HEALTH_FP)], [("resolve", HEALTH_FP)]]
    assert {a.fingerprint: a.folded_under for a in down.alerts if a.after == "firing"} == {
        HEALTH_FP: None, "slow-runs": HEALTH_FP
    }  # fmt: skip
    folded = hook.payloads()[0]["notices"][0]["folding"]["folded"]
    assert [f["fingerprint"] for f in folded] == ["slow-runs"]
    assert "5.9x the median" in folded[0]["title"]


def test_a_long_value_in_a_check_message_is_cut_in_the_digest(
    fresh_db: str, hook: WebhookReceiver
) -> None:
    s = Scenario(fresh_db, hook, ANY_FAIL)
    value = "v" * 300
    s.runs.messages["inventory-rows"] = f"1 row has note not matching the pattern: '{value}'"
    s.step({"inventory-rows": F})
    [payload] = hook.payloads()
    body = json.dumps(payload)
    assert value not in body and value[:100] in body  # cut, not dropped
    [notice] = payload["notices"]
    assert notice["title"].endswith(" chars cut]")
    assert len(notice["title"]) <= MAX_TEXT + len("… [1000 chars cut]")
    assert notice["detail"]["message"].endswith("chars cut]")
    assert "failed 1 run in a row" in notice["title"]  # not "1 runs"
