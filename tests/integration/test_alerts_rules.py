"""Every rule and the alert state machine, driven by real runs in a real results store and
counted at a real webhook receiver: exactly how many firing, reminder and resolve notices
a person gets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.support.receivers import StoredRuns, WebhookReceiver
from vigil.alerts.engine import EvaluationReport, evaluate
from vigil.results import ResultStore
from vigil.spec.alerts import AlertsConfig

pytestmark = pytest.mark.integration

SECRET = "hook-secret-123"
P, F, E = "passed", "failed", "error"


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret=SECRET) as receiver:
        yield receiver


def config(hook: WebhookReceiver, *rules: dict[str, Any], **extra: Any) -> AlertsConfig:
    return AlertsConfig.model_validate(
        {
            "channels": {"hook": {"kind": "webhook", "url": hook.url, "secret": "${HOOK_SECRET}"}},
            "routes": {"critical": ["hook"], "warning": ["hook"]},
            "rules": list(rules),
            "delivery": {"attempts": 2, "backoff_s": 0.01, "max_total_s": 3},
            **extra,
        }
    )


def notices(hook: WebhookReceiver) -> list[list[tuple[str, str]]]:
    """Per message received: (notice kind, fingerprint) of each alert in it."""
    assert all(r.signature_ok for r in hook.received)
    return [[(n["notice"], n["fingerprint"]) for n in p["notices"]] for p in hook.payloads()]


class Scenario:
    """Write a run, evaluate it as its evaluate task would, keep the report."""

    def __init__(self, store: ResultStore, cfg: AlertsConfig, runs: StoredRuns) -> None:
        self.store, self.cfg, self.runs = store, cfg, runs
        self.reports: list[EvaluationReport] = []

    def step(self, statuses: dict[str, Any], **kwargs: Any) -> EvaluationReport:
        now = kwargs.pop("now", None)
        self.runs.add(statuses, **kwargs)
        report = evaluate(self.store, self.runs.last, self.cfg, now=now or self.runs.now,
                          resolver=resolver())  # fmt: skip
        assert report.problems == []
        self.reports.append(report)
        return report

    def changes(self) -> list[list[str]]:
        return [[f"{a.change}:{a.fingerprint}" for a in r.alerts if a.change not in
                 ("unchanged",)] for r in self.reports]  # fmt: skip


def resolver() -> Any:
    from vigil.alerts.resolver import Resolver

    return Resolver(environ={"HOOK_SECRET": SECRET})


def scenario(fresh_db: str, hook: WebhookReceiver, *rules: dict[str, Any], **kw: Any) -> Scenario:
    store = ResultStore(fresh_db)
    checks = kw.pop("checks", {})
    runs = StoredRuns(store, checks, **{k: kw.pop(k) for k in ("step",) if k in kw})
    return Scenario(store, config(hook, *rules, **kw), runs)


def test_consecutive_failures_fire_once_and_resolve_after_m_passes(
    fresh_db: str, hook: WebhookReceiver
) -> None:
    rule = {"id": "streak", "kind": "consecutive_failures", "count": 3, "resolve_after": 2}
    s = scenario(fresh_db, hook, rule)
    for status in (P, F, F, F, E, P, F, P, P, P):
        s.step({"api_up": status, "api_body": P})
    fp = "streak/check_id=api_up"
    assert notices(hook) == [[("firing", fp)], [("resolve", fp)]]
    fired = [i for i, c in enumerate(s.changes()) if f"fired:{fp}" in c]
    resolved = [i for i, c in enumerate(s.changes()) if f"resolved:{fp}" in c]
    assert (fired, resolved) == ([3], [8])  # the 3rd failure in a row; the 2nd pass in a row
    first = hook.payloads()[0]["notices"][0]
    assert first["detail"]["streak"] == 3 and first["title"].startswith("api_up (health on api)")


def test_skipped_runs_neither_break_nor_extend_a_streak(
    fresh_db: str, hook: WebhookReceiver
) -> None:
    rule = {"id": "streak", "kind": "consecutive_failures", "count": 2}
    s = scenario(fresh_db, hook, rule)
    s.step({"api_up": F})
    s.step({"api_up": ("skipped", "db")})
    s.step({"api_up": F})
    assert notices(hook) == [[("firing", "streak/check_id=api_up")]]
    assert [len(c) for c in s.changes()] == [0, 0, 1]


def test_reminders_follow_repeat_interval_then_one_resolve(
    fresh_db: str, hook: WebhookReceiver
) -> None:
    rule = {"id": "down", "kind": "consecutive_failures", "count": 1, "resolve_after": 1,
            "repeat_interval": "24h"}  # fmt: skip
    s = scenario(fresh_db, hook, rule, step=timedelta(hours=5))
    for _ in range(11):  # every 5 h for 50 h: reminders at >= 24 h and >= 48 h
        s.step({"api_up": F})
    s.step({"api_up": P})
    kinds = [[kind for kind, _ in message] for message in notices(hook)]
    assert kinds == [["firing"], ["reminder"], ["reminder"], ["resolve"]]
    reminded_at = [i for i, r in enumerate(s.reports) if r.changed("reminded")]
    assert reminded_at == [5, 10]  # 25 h and 50 h after firing


def test_run_failure_rate_above_threshold_fires_and_resolves(
    fresh_db: str, hook: WebhookReceiver
) -> None:
    rule = {"id": "run-rate", "kind": "run_failure_rate", "threshold": 0.05}
    s = scenario(fresh_db, hook, rule)
    checks = [f"c{i:02d}" for i in range(20)]

    def run(failing: int) -> None:
        s.step({c: (F if i < failing else P) for i, c in enumerate(checks)})

    for failing in (1, 2, 3, 0, 0):  # 5% is not above 5%; 10% is
        run(failing)
    assert notices(hook) == [[("firing", "run-rate")], [("resolve", "run-rate")]]
    fired = hook.payloads()[0]["notices"][0]
    assert fired["detail"]["problems"] == 2 and fired["detail"]["total"] == 20
    assert "c00, c01" in fired["title"]


def test_run_failure_rate_scoped_by_kind_ignores_other_kinds(
    fresh_db: str, hook: WebhookReceiver
) -> None:
    rule = {"id": "quality-rate", "kind": "run_failure_rate", "threshold": 0.2,
            "select": {"families": ["quality"]}}  # fmt: skip
    checks = {"q1": ("quality", "db"), "q2": ("quality", "db"), "h1": ("health", "db")}
    s = scenario(fresh_db, hook, rule, checks=checks)
    s.step({"q1": P, "q2": P, "h1": F})  # health failing: not this rule's business
    s.step({"q1": F, "q2": P, "h1": P})  # 50% of quality checks
    assert notices(hook) == [[("firing", "quality-rate")]]


def test_window_failure_rate_per_check_over_last_runs(fresh_db: str, hook: WebhookReceiver) -> None:
    rule = {"id": "flaky", "kind": "window_failure_rate", "window": {"last_runs": 4},
            "threshold": 0.3, "min_results": 3}  # fmt: skip
    s = scenario(fresh_db, hook, rule)
    for status in (P, P, F, F, P, P, P, P):
        s.step({"api_up": status, "steady": P})
    fp = "flaky/check_id=api_up"
    assert notices(hook) == [[("firing", fp)], [("resolve", fp)]]
    changed = [i for i, c in enumerate(s.changes()) if c]
    assert changed == [2, 6]  # 1 of 3 (33%) fires; 1 of 4 (25%) resolves
    assert not any("steady" in c for cs in s.changes() for c in cs)


def test_window_failure_rate_per_target_over_a_time_window(
    fresh_db: str, hook: WebhookReceiver
) -> None:
    rule = {"id": "target-rate", "kind": "window_failure_rate", "window": {"last": "3h"},
            "group_by": ["target"], "threshold": 0.5, "min_results": 2}  # fmt: skip
    checks = {"a1": ("health", "a"), "a2": ("http", "a"), "b1": ("health", "b")}
    s = scenario(fresh_db, hook, rule, checks=checks)
    s.step({"a1": F, "a2": F, "b1": P})  # a: 2/2
    s.step({"a1": P, "a2": P, "b1": P})  # a: 2/4 (not above 50%) -> resolves
    s.step({"a1": P, "a2": P, "b1": F})  # b: 1/3
    s.step({"a1": P, "a2": P, "b1": P})
    s.step({"a1": P, "a2": P, "b1": P})  # the first run left the 3 h window long ago
    assert notices(hook) == [[("firing", "target-rate/target=a")],
                             [("resolve", "target-rate/target=a")]]  # fmt: skip


def test_duration_regression_of_the_run_against_its_median(
    fresh_db: str, hook: WebhookReceiver
) -> None:
    rule = {"id": "slow-run", "kind": "duration_regression", "subject": "run", "factor": 2.0,
            "baseline_runs": 7, "min_runs": 3}  # fmt: skip
    s = scenario(fresh_db, hook, rule)

    def run(ms: float, status: str = P, **kw: Any) -> EvaluationReport:
        return s.step({"api_up": status, "api_body": P}, durations={"api_up": ms}, **kw)

    run(100)
    run(900)  # one baseline run: too few to judge
    run(5000, status=F)  # a run with a critical failure is no baseline
    run(5000, cadence="weekly")  # another cadence is not this run's baseline
    run(100)
    run(250)  # baseline 100, 900, 100 -> median 100; 250 > 2 x 100
    run(150)
    assert notices(hook) == [[("firing", "slow-run")], [("resolve", "slow-run")]]
    fired = hook.payloads()[0]["notices"][0]["detail"]
    assert fired["median"] == 100 and fired["current"] == 250


def test_duration_regression_per_check_and_per_task(fresh_db: str, hook: WebhookReceiver) -> None:
    rules = [
        {"id": "slow-check", "kind": "duration_regression", "subject": "check", "min_runs": 2,
         "min_duration_ms": 50},
        {"id": "slow-task", "kind": "duration_regression", "subject": "task", "min_runs": 2},
    ]  # fmt: skip
    checks = {"a1": ("health", "a"), "a2": ("health", "a"), "b1": ("health", "b")}
    s = scenario(fresh_db, hook, *rules, checks=checks)
    for a1, b1 in ((100, 10), (100, 10), (300, 30)):  # b1 triples but stays under 50 ms
        s.step({"a1": P, "a2": P, "b1": P}, durations={"a1": a1, "a2": 20, "b1": b1})
    [message] = notices(hook)
    assert sorted(message) == [("firing", "slow-check/check_id=a1"),
                               ("firing", "slow-task/family=health,target=a"),
                               ("firing", "slow-task/family=health,target=b")]  # fmt: skip


def test_for_runs_keeps_an_alert_pending_until_it_persists(
    fresh_db: str, hook: WebhookReceiver
) -> None:
    rule = {"id": "rate", "kind": "run_failure_rate", "threshold": 0.0, "for_runs": 2}
    s = scenario(fresh_db, hook, rule)
    for status in (F, P, F, F, P):
        s.step({"api_up": status})
    assert [[c.split(":")[0] for c in cs] for cs in s.changes()] == [
        ["pending"],
        ["cleared"],
        ["pending"],
        ["fired"],
        ["resolved"],
    ]
    assert notices(hook) == [[("firing", "rate")], [("resolve", "rate")]]


def test_routes_by_severity_and_per_rule_override(
    fresh_db: str, hook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    rules = [
        {"id": "crit", "kind": "run_failure_rate", "severity": "critical", "threshold": 0},
        {"id": "warn", "kind": "run_failure_rate", "severity": "warning", "threshold": 0},
        {"id": "warn-to-hook", "kind": "run_failure_rate", "severity": "warning",
         "threshold": 0, "channels": ["hook"]},
    ]  # fmt: skip
    store = ResultStore(fresh_db)
    raw = config(hook, *rules).model_dump(by_alias=True)
    raw["channels"]["ops-log"] = {"kind": "log"}
    raw["routes"] = {"critical": ["hook"], "warning": ["ops-log"]}
    cfg = AlertsConfig.model_validate(raw)
    runs = StoredRuns(store, {})
    runs.add({"api_up": F})
    with caplog.at_level("WARNING", logger="vigil.alerts.notify"):
        evaluate(store, runs.last, cfg, now=runs.now, resolver=resolver())
    assert notices(hook) == [[("firing", "crit"), ("firing", "warn-to-hook")]]
    logged = [r.getMessage() for r in caplog.records if r.name == "vigil.alerts.notify"]
    assert len(logged) == 1 and "warn: " in logged[0] and "crit: " not in logged[0]
