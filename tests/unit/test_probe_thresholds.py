"""Probe thresholds, load profiles and verdicts, without a server: what a spec says is what
is judged, and what cannot be judged is never a pass."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from vigil.probes.judge import Baselines, judge, passed
from vigil.probes.measure import Measurement
from vigil.probes.models import HttpLoad, HttpLoadProbe, PgQueryProbe
from vigil.probes.run import AbortRules, _unreachable
from vigil.probes.thresholds import parse, slugs
from vigil.result import Status

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "metric", "op", "limit"),
    [
        ("p95 < 250ms", "p95", "<", 250.0),
        ("p99<0.5s", "p99", "<", 500.0),
        ("p50 <= 800us", "p50", "<=", 0.8),
        ("p99.9 < 2 s", "p99.9", "<", 2000.0),
        ("max < 40", "max", "<", 40.0),  # a bare latency is in ms, as in k6
        ("error_rate < 1%", "error_rate", "<", 0.01),
        ("error_rate <= 0.05", "error_rate", "<=", 0.05),
        ("rps >= 1000", "rps", ">=", 1000.0),
        ("headroom >= 10", "headroom", ">=", 10.0),
        ("failed == 0", "failed", "==", 0.0),
    ],
)
def test_thresholds_read_as_written(text: str, metric: str, op: str, limit: float) -> None:
    threshold = parse(text)
    assert (threshold.metric, threshold.op) == (metric, op)
    assert threshold.limit == pytest.approx(limit)
    assert not threshold.is_baseline


@pytest.mark.parametrize("times", ["x", "\u00d7", "*"])
def test_baseline_thresholds_take_a_factor(times: str) -> None:
    threshold = parse(f"p95 < 1.5 {times} baseline")
    assert threshold.is_baseline and threshold.factor == 1.5
    assert threshold.limit_for(200.0) == 300.0
    assert threshold.holds(299.0, baseline=200.0) and not threshold.holds(301.0, baseline=200.0)


@pytest.mark.parametrize(
    ("text", "abort", "fragment"),
    [
        ("p95 < ", False, "cannot read threshold"),
        ("p96 < 3ms", False, "did you mean 'p99'"),
        ("error_rate < 250ms", False, "a share"),
        ("error_rate < 150%", False, "between 0% and 100%"),
        ("p95 < 10%", False, "is a time"),
        ("rps >= 10ms", False, "plain number"),
        ("error_rate > 50% after 2s", False, "abort_when thresholds only"),
        ("p95 < 2 x baseline", True, "cannot use a baseline"),
        ("p95 < 0 x baseline", False, "must be positive"),
    ],
)
def test_bad_thresholds_say_what_is_wrong(text: str, abort: bool, fragment: str) -> None:
    with pytest.raises(ValueError, match=None) as raised:
        parse(text, abort=abort)
    assert fragment in str(raised.value)


def test_abort_thresholds_carry_their_delay() -> None:
    rule = parse("error_rate > 50% after 2s", abort=True)
    assert rule.after_s == 2.0 and rule.limit == 0.5
    assert parse("error_rate > 50% after 500ms", abort=True).after_s == 0.5


def test_result_ids_are_stable_and_distinct() -> None:
    found = [parse(t) for t in ("p95 < 1s", "rps >= 10", "rps <= 5000", "p95 < 2 x baseline")]
    assert slugs(found) == ["p95", "rps", "rps-2", "p95.baseline"]


def http_probe(**extra: Any) -> HttpLoadProbe:
    fields: dict[str, Any] = {
        "id": "load",
        "kind": "http_load",
        "target": "api",
        "request": {"path": "/"},
        "thresholds": ["p95 < 250ms", "error_rate < 1%", "rps >= 100", "p95 < 2 x baseline"],
    }
    return HttpLoadProbe.model_validate({**fields, **extra})


def test_a_profile_overrides_only_what_it_names() -> None:
    probe = http_probe(
        load={"connections": 4, "duration_s": 2},
        profiles={"heavy": {"model": "open", "rate": 300}},
    )
    heavy = probe.load_for("heavy")
    assert isinstance(heavy, HttpLoad)
    assert (heavy.model, heavy.rate, heavy.connections, heavy.duration_s) == ("open", 300, 4, 2)
    assert probe.load_for(None) == probe.load_for("unknown") == probe.load
    assert probe.profile_used("heavy") == "heavy" and probe.profile_used("light") == "default"


def test_a_profile_that_breaks_the_load_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError) as raised:
        http_probe(profiles={"heavy": {"rate": 300}})  # a rate on the closed default
    assert "profiles.heavy" in str(raised.value) and "rate belongs to model: open" in str(
        raised.value
    )
    with pytest.raises(ValidationError):
        http_probe(profiles={"heavy": {}})


def test_query_probe_figures_are_checked_by_kind() -> None:
    with pytest.raises(ValidationError) as raised:
        PgQueryProbe.model_validate(
            {"id": "q", "kind": "pg_query", "target": "db", "query": "SELECT 1",
             "thresholds": ["headroom >= 3"]}
        )  # fmt: skip
    assert "a pg_query probe has no figure 'headroom'" in str(raised.value)


def figures(**values: float) -> dict[str, float]:
    base = {"p50": 10.0, "p95": 20.0, "p99": 30.0, "rps": 500.0, "error_rate": 0.0}
    return {**base, "requests": 1000.0, "errors": 0.0, **values}


def verdicts(found: dict[str, float], baselines: Baselines) -> dict[str, Any]:
    results = judge(
        http_probe(), found, baselines, started_at=datetime.now(UTC), duration_ms=1.0, details={}
    )
    return {r.check_id: r for r in results}


def test_every_threshold_is_one_result_linked_to_its_probe() -> None:
    history = Baselines([{"p95": 10.0}, {"p95": 12.0}, {"p95": 11.0}], min_runs=3)
    found = verdicts(figures(p95=30.0), history)
    assert list(found) == ["load.p95", "load.error_rate", "load.rps", "load.p95.baseline"]
    assert {r.parent for r in found.values()} == {"load"}
    assert found["load.p95"].status is Status.PASSED
    regression = found["load.p95.baseline"]
    assert regression.status is Status.FAILED  # 30 ms > 2 x median 11 ms
    assert regression.details["baseline"] == 11.0 and regression.details["baseline_runs"] == 3
    assert "2.73x" in regression.message
    assert regression.observed["p95"] == 30.0


def test_without_enough_history_the_baseline_gives_no_verdict_and_says_so() -> None:
    found = verdicts(figures(), Baselines([{"p95": 10.0}], min_runs=3))
    early = found["load.p95.baseline"]
    assert early.status is Status.SKIPPED
    assert "needs 3 passing run(s)" in early.message and "has 1" in early.message
    assert passed(list(found.values()))  # a missing baseline does not spoil the run


def test_an_unreadable_baseline_is_an_error_and_no_store_a_skip() -> None:
    down = verdicts(figures(), Baselines(unavailable="connection refused"))
    assert down["load.p95.baseline"].status is Status.ERROR
    assert not passed(list(down.values()))
    alone = verdicts(figures(), Baselines(not_configured=True))
    assert alone["load.p95.baseline"].status is Status.SKIPPED


def test_nothing_to_time_is_an_error_not_a_pass() -> None:
    found = figures(requests=50.0, errors=50.0, error_rate=1.0, rps=0.0, errors_status=50.0)
    for name in ("p50", "p95", "p99"):
        found.pop(name)
    judged = verdicts(found, Baselines())
    assert judged["load.p95"].status is Status.ERROR
    assert "50 status" in judged["load.p95"].message
    assert judged["load.error_rate"].status is Status.FAILED


def test_a_target_that_refuses_every_connection_cannot_be_measured() -> None:
    refused = Measurement()
    for _ in range(20):
        refused.record(0, "connection", message="connection refused")
    assert _unreachable(refused) is not None
    assert "20 connection error(s)" in str(_unreachable(refused))
    served = Measurement()
    served.record(1000)
    served.record(0, "connection")
    assert _unreachable(served) is None


def test_fast_errors_do_not_count_as_latency_or_throughput() -> None:
    measured = Measurement(elapsed_s=1.0)
    measured.record(200_000)  # one success at 200 ms
    for _ in range(9):
        measured.record(100, "status", status=500)  # fast 500s
    out = measured.figures()
    assert out["p50"] == pytest.approx(200.0, rel=0.01)
    assert out["rps"] == 1.0 and out["error_rate"] == 0.9


def test_the_abort_rule_waits_for_its_delay_and_fails_the_probe_when_it_fires() -> None:
    stop = AbortRules([parse("error_rate > 50% after 2s", abort=True)])
    failing = Measurement()
    for _ in range(10):
        failing.record(100, "status", status=500)
    assert stop(failing, 1.0) is None
    reason = stop(failing, 2.5)
    assert reason is not None and "error_rate > 50% after 2s" in reason
    [result] = stop.results(http_probe(), failing.figures(), {}, None, started_at=datetime.now(UTC))
    assert result.check_id == "load.abort.error_rate" and result.status is Status.FAILED
    assert not passed([result])  # an aborted probe never joins a baseline

    calm = AbortRules([parse("error_rate > 50% after 2s", abort=True)])
    [held] = calm.results(http_probe(), figures(), {}, None, started_at=datetime.now(UTC))
    assert held.status is Status.PASSED and "never held" in held.message


def test_error_classes_are_judged_on_a_clean_run_too() -> None:
    clean = Measurement(elapsed_s=1.0)
    for _ in range(30):
        clean.record(1000)
    out = clean.figures()
    assert out["errors_timeout"] == out["errors_status"] == out["errors_connection"] == 0.0
    probe = http_probe(thresholds=["errors_timeout == 0", "errors_status < 1"])
    results = judge(
        probe, out, Baselines(), started_at=datetime.now(UTC), duration_ms=1.0, details={}
    )
    assert [r.status for r in results] == [Status.PASSED, Status.PASSED]


def test_a_percentile_of_a_handful_of_successes_is_not_judged() -> None:
    found = figures(requests=10_000.0, errors=9_995.0, error_rate=0.9995, errors_status=9_995.0)
    judged = verdicts(found, Baselines())
    assert judged["load.p95"].status is Status.ERROR
    assert "too few successful requests" in judged["load.p95"].message
    assert "5 of 10000" in judged["load.p95"].message
    # A small probe where every attempt succeeded is judged (10 connections, 10 timed).
    small = figures(requests=10.0, errors=0.0)
    assert verdicts(small, Baselines())["load.p95"].status is Status.PASSED


def test_a_changed_load_starts_a_new_baseline_series() -> None:
    probe = http_probe(load={"connections": 8}, profiles={"heavy": {"connections": 64}})
    assert probe.series_key(None).startswith("default@")
    assert probe.series_key("heavy").startswith("heavy@")
    assert probe.series_key(None) != probe.series_key("heavy")
    assert probe.series_key(None) == http_probe(load={"connections": 8}).series_key(None)
    assert probe.series_key(None) != http_probe(load={"connections": 9}).series_key(None)
    moved = http_probe(load={"connections": 8}, request={"path": "/other"})
    assert probe.series_key(None) != moved.series_key(None)
    with pytest.raises(ValidationError, match="the name is taken"):
        http_probe(profiles={"default": {"connections": 2}})
