"""latency_regression over a real results store: runs and their probes' figures recorded
as the probes runner records them, read back by load_history's query by run keys, judged,
and moved through the alert engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vigil.alerts.engine import evaluate
from vigil.alerts.history import load_history
from vigil.alerts.rules import evaluate_rules
from vigil.result import CheckResult, Severity, Status
from vigil.results import ResultStore, RunRef, probe_figures
from vigil.spec.alerts import AlertsConfig

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 3, 6, 0, tzinfo=UTC)
PROBE = "orders-api-load"
RULE = {"id": "slower", "kind": "latency_regression", "metric": "p95", "factor": 1.5,
        "min_runs": 3, "select": {"families": ["probes"], "severity": "warning"}}  # fmt: skip
FINGERPRINT = "slower/check_id=orders-api-load,profile=default"


def probe_run(
    store: ResultStore,
    n: int,
    p95: float,
    *,
    passed: bool = True,
    profile: str = "default",
    environment: str = "shop",
) -> RunRef:
    """Run number `n` (an hour apart): the probe's p95 threshold result, then its figures."""
    run = RunRef(environment, "daily", f"{environment}_daily", f"run{n:03d}")
    started = T0 + timedelta(hours=n)
    store.start_run(run, started_at=started)
    status = Status.PASSED if passed else Status.FAILED
    store.record(run, [
        CheckResult(check_id=f"{PROBE}.p95", family="probes", target="api", status=status,
                    severity=Severity.WARNING, started_at=started, duration_ms=30_000.0,
                    check_kind="http_load", parent=PROBE, message=f"p95 {p95} ms"),
    ])  # fmt: skip
    figures = {"p50": p95 / 3, "p95": p95, "p99": p95 * 1.5, "rps": 400.0, "error_rate": 0.0,
               "requests": 12_000.0, "errors": 0.0, "duration_s": 30.0}  # fmt: skip
    probe_figures.record(store, run, check_id=PROBE, target="api", check_kind="http_load",
                         profile=profile, passed=passed, figures=figures,
                         histogram="HISTFAAAA")  # fmt: skip
    store.finish_run(run, ended_at=started + timedelta(minutes=1))
    return run


def test_load_history_carries_the_figures_and_the_rule_judges_them(fresh_db: str) -> None:
    store = ResultStore(fresh_db)
    probe_run(store, 1, 240)
    probe_run(store, 2, 2000, passed=False)  # failed its thresholds: no baseline
    probe_run(store, 3, 900, profile="heavy")  # another load: no baseline either
    third = probe_run(store, 4, 250)
    probe_run(store, 5, 230)
    probe_run(store, 6, 999, environment="staging")  # another environment's history
    current = probe_run(store, 7, 812)
    kwargs = store.connect_kwargs("evaluate")

    history = load_history(kwargs, current, runs=200, since=None)
    assert [len(r.probes) for r in history.runs] == [1, 1, 1, 1, 1, 1]
    now = history.current.probes[PROBE]
    assert (now.target, now.passed, now.figures["p95"]) == ("api", True, 812)
    profiles = [r.probes[PROBE].profile for r in history.runs]
    assert profiles == ["default", "default", "default", "heavy", "default", "default"]

    cfg = AlertsConfig.model_validate({"rules": [RULE]})
    [found] = evaluate_rules(cfg.rules, history)
    assert found.breaching and found.fingerprint == FINGERPRINT
    assert found.detail["baseline"] == [230.0, 250.0, 240.0]
    assert found.title == (
        "probe orders-api-load p95 (profile default) was 812 ms, 3.4x the median 240 ms "
        "of the last 3 passing runs (limit 1.5x)"
    )

    # An older run re-evaluated sees its own figures and those before it, nothing newer.
    older = load_history(kwargs, third, runs=200, since=None)
    assert older.current.probes[PROBE].figures["p95"] == 250
    assert evaluate_rules(cfg.rules, older) == []  # 240 alone: fewer than 3 passing runs


def test_the_engine_fires_on_a_slower_probe_and_resolves_when_it_is_fast_again(
    fresh_db: str,
) -> None:
    store = ResultStore(fresh_db)
    cfg = AlertsConfig.model_validate({
        "channels": {"ops": {"kind": "log"}},
        "routes": {"warning": ["ops"]},
        "rules": [RULE],
    })  # fmt: skip
    changes = []
    for n, p95 in enumerate((240, 250, 230, 812, 245), start=1):
        run = probe_run(store, n, p95, passed=p95 < 500)
        report = evaluate(store, run, cfg, now=T0 + timedelta(hours=n, minutes=2))
        assert report.problems == []
        changes.append(
            [(a.change, a.fingerprint) for a in report.alerts if a.change != "unchanged"]
        )
    assert changes == [[], [], [], [("fired", FINGERPRINT)], [("resolved", FINGERPRINT)]]
