"""latency_regression: a probe's latency figure against the median of its passing runs
under the same load profile, over a History built in memory (as duration_regression's
cases in test_alerts_pieces.py)."""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import vigil.alerts
from vigil.alerts.history import History, ProbeFigures, Row, RunRecord
from vigil.alerts.rules import EVALUATORS, duration_regression, latency_regression
from vigil.alerts.signals import ProbeLatency
from vigil.result import Severity, Status
from vigil.results import RunRef
from vigil.spec.alerts import (
    RULE_KINDS,
    AlertsConfig,
    DurationRegression,
    LatencyRegression,
    Select,
)

pytestmark = pytest.mark.unit

T = datetime(2025, 3, 3, 6, 0, tzinfo=UTC)
RUN = RunRef("demo", "daily", "demo_daily", "r1")
PROBE = "orders-api-load"


def rule(**kw: Any) -> LatencyRegression:
    return LatencyRegression.model_validate({"id": "slower", "kind": "latency_regression", **kw})


def run_of(
    age: int,
    *probes: tuple[str, float | None, bool, str],
    severity: Severity = Severity.WARNING,
    target: str = "api",
) -> RunRecord:
    """Run `age` runs back; each probe: (id, p95 or None for no figure, passed, profile),
    with one threshold result (`<id>.p95`, a part of the probe) of `severity`."""
    record = RunRecord(age, RUN, "success", T - timedelta(hours=age), None, False)
    for check_id, p95, passed, profile in probes:
        figures = {"p50": 1.0, "rps": 100.0} | ({"p95": p95} if p95 is not None else {})
        record.probes[check_id] = ProbeFigures(check_id, target, profile, passed, figures)
        status = Status.PASSED if passed else Status.FAILED
        part = Row(f"{check_id}.p95", "probes", target, status, severity, T, 1000.0, "",
                   parent=check_id)  # fmt: skip
        record.results[part.check_id] = part
    return record


def history(current: float, *earlier: float | tuple[float, bool, str], **kw: Any) -> History:
    """The evaluated run (p95 `current`) and earlier ones, newest first: a p95 that passed
    under the default profile, or (p95, passed, profile)."""
    runs = [run_of(0, (PROBE, current, True, "default"), **kw)]
    for age, value in enumerate(earlier, start=1):
        p95, passed, profile = value if isinstance(value, tuple) else (value, True, "default")
        runs.append(run_of(age, (PROBE, p95, passed, profile), **kw))
    return History(runs)


def test_fires_above_factor_times_the_median_with_the_numbers_in_the_title() -> None:
    [found] = latency_regression(rule(), history(812, 240, 200, 260, 250, 230))
    assert found.breaching and not found.recovered
    assert found.title == (
        "probe orders-api-load p95 (profile default) was 812 ms, 3.4x the median 240 ms "
        "of the last 5 passing runs (limit 1.5x)"
    )
    assert found.scope == {"check_id": PROBE, "profile": "default"}
    assert found.fingerprint == "slower/check_id=orders-api-load,profile=default"
    assert (found.target, found.family) == ("api", "probes")
    assert found.detail == {
        "current": 812.0, "median": 240.0, "factor": 1.5, "ratio": 3.38,
        "baseline": [240.0, 200.0, 260.0, 250.0, 230.0], "unit": "ms", "metric": "p95",
    }  # fmt: skip
    json.dumps(found.detail, allow_nan=False)


def test_does_not_fire_at_or_below_the_limit_and_then_says_it_recovered() -> None:
    [found] = latency_regression(rule(), history(360, 240, 240, 240))  # exactly 1.5 x 240
    assert not found.breaching and found.recovered
    assert "1.5x the median 240 ms of the last 3 passing runs" in found.title


def test_not_enough_passing_runs_yield_no_finding() -> None:
    assert latency_regression(rule(), history(900, 240, 240)) == []
    assert latency_regression(rule(min_runs=2), history(900, 240, 240)) != []
    # A run that did not measure the probe is no sample either.
    runs = [*history(900, 240, 240).runs, RunRecord(9, RUN, "success", T, None, False)]
    assert latency_regression(rule(), History(runs)) == []


def test_a_failing_earlier_run_is_left_out_of_the_baseline() -> None:
    # The slow run that failed its thresholds must not become the norm: 240, 250, 230.
    found = latency_regression(rule(), history(500, 240, (2000, False, "default"), 250, 230))
    [finding] = found
    assert finding.breaching and finding.detail["baseline"] == [240.0, 250.0, 230.0]
    assert "of the last 3 passing runs" in finding.title


def test_another_profile_is_not_a_baseline() -> None:
    heavy = (1000.0, True, "heavy")
    assert latency_regression(rule(), history(500, 240, heavy, heavy, heavy)) == []
    [found] = latency_regression(rule(), history(500, 240, heavy, 250, heavy, 230))
    assert found.detail["baseline"] == [240.0, 250.0, 230.0]
    # A heavy run is judged against heavy runs only, under its own scope.
    earlier = history(0, 240, heavy, heavy, heavy).runs[1:]
    runs = [run_of(0, (PROBE, 1100, True, "heavy")), *earlier]
    [heavy_found] = latency_regression(rule(), History(runs))
    assert heavy_found.scope == {"check_id": PROBE, "profile": "heavy"}
    assert not heavy_found.breaching and heavy_found.detail["median"] == 1000.0


def test_min_latency_ms_is_a_floor_under_which_nothing_fires() -> None:
    fast = history(3.0, 0.4, 0.5, 0.4)  # 7.5x, but 3 ms
    [quiet] = latency_regression(rule(min_latency_ms=20), fast)
    assert not quiet.breaching and quiet.recovered
    assert "was 3.0 ms, 7.5x the median 0.4 ms" in quiet.title
    [loud] = latency_regression(rule(), fast)
    assert loud.breaching


def test_the_metric_chosen_is_the_figure_compared() -> None:
    runs = history(812, 240, 240, 240).runs
    [p50] = latency_regression(rule(metric="p50"), History(runs))  # every p50 is 1 ms
    assert not p50.breaching and p50.title.startswith("probe orders-api-load p50 ")
    # A probe with no p95 this run (nothing succeeded to be timed) is not judged on it.
    runs[0] = run_of(0, (PROBE, None, False, "default"))
    assert latency_regression(rule(), History(runs)) == []


def test_select_applies_by_family_target_and_the_probe_results_severity() -> None:
    hist = history(812, 240, 240, 240, severity=Severity.CRITICAL)
    assert latency_regression(rule(select={"families": ["probes"]}), hist) != []
    assert latency_regression(rule(select={"families": ["health"]}), hist) == []
    assert latency_regression(rule(select={"targets": ["api"]}), hist) != []
    assert latency_regression(rule(select={"targets": ["db"]}), hist) == []
    assert latency_regression(rule(select={"severity": "critical"}), hist) != []
    assert latency_regression(rule(select={"severity": "warning"}), hist) == []
    # Figures without results in the run: no severity known, so the selector admits them.
    for run in hist.runs:
        run.results.clear()
    assert latency_regression(rule(select={"severity": "warning"}), hist) != []


def test_one_series_per_probe_with_its_threshold_results_named() -> None:
    current = run_of(0, ("a-load", 300, True, "default"), ("b-query", 2.0, True, "default"))
    earlier = [run_of(i, ("a-load", 100, True, "default"), ("b-query", 1.0, True, "default"))
               for i in (1, 2, 3)]  # fmt: skip
    series = ProbeLatency("p95").series(History([current, *earlier]), Select())
    assert [(s.scope["check_id"], s.current, s.baseline, s.check_ids) for s in series] == [
        ("a-load", 300.0, [100.0] * 3, ["a-load.p95"]),
        ("b-query", 2.0, [1.0] * 3, ["b-query.p95"]),
    ]
    assert series[0].label == "probe a-load p95 (profile default)" and series[0].unit == "ms"


def test_a_history_without_probe_figures_is_judged_as_before() -> None:
    # Built as older tests build it: no probes on the runs; duration rules unchanged.
    def plain(pk: int, ms: float) -> RunRecord:
        record = RunRecord(pk, RUN, "success", T - timedelta(hours=pk), None, False)
        record.results = {"x": Row("x", "health", "a", Status.PASSED, Severity.CRITICAL, T, ms, "")}
        return record

    hist = History([plain(0, 50.0), plain(1, 10.0), plain(2, 10.0)])
    assert latency_regression(rule(), hist) == []
    slow = DurationRegression(id="slow", kind="duration_regression", subject="check", min_runs=2)
    [found] = duration_regression(slow, hist)
    assert found.title == (
        "check x took 50 ms, 5.0x the median 10 ms of the last 2 successful runs (limit 2x)"
    )


def test_the_rule_model_defaults_bounds_and_registrations() -> None:
    r = rule()
    defaults = (r.metric, r.factor, r.baseline_runs, r.min_runs, r.min_latency_ms)
    assert defaults == ("p95", 1.5, 10, 3, 0.0)
    for bad in ({"factor": 1.0}, {"metric": "p42"}, {"metric": "min"}, {"baseline_runs": 0}):
        with pytest.raises(ValidationError):
            rule(**bad)
    assert "latency_regression" in RULE_KINDS and LatencyRegression in EVALUATORS
    metrics = typing.get_args(LatencyRegression.model_fields["metric"].annotation)
    assert set(metrics) == {"p50", "p90", "p95", "p99", "p99.9", "max", "mean"}
    schema_path = Path(vigil.alerts.__file__).parent / "webhook_payload.schema.json"
    schema = json.loads(schema_path.read_text())
    kinds = schema["$defs"]["notice"]["properties"]["rule"]["properties"]["kind"]["enum"]
    assert set(kinds) == set(RULE_KINDS)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"min_runs": 11}, "min_runs (11) cannot exceed baseline_runs (10)"),
        ({"baseline_runs": 4, "min_runs": 5}, "min_runs (5) cannot exceed baseline_runs (4)"),
        ({"min_runs": 5, "history": 5}, "min_runs (5) needs more earlier runs than "
         "alerts.history_runs (5) loads (4 before the evaluated run)"),
    ],
)  # fmt: skip
def test_the_baseline_must_be_able_to_hold_its_minimum(extra: dict[str, Any], words: str) -> None:
    history_runs = extra.pop("history", 200)
    raw = {"id": "slower", "kind": "latency_regression", **extra}
    with pytest.raises(ValidationError, match=words.replace("(", r"\(").replace(")", r"\)")):
        AlertsConfig.model_validate({"rules": [raw], "history_runs": history_runs})
    ok = {"id": "slower", "kind": "latency_regression", "min_runs": 4}
    assert AlertsConfig.model_validate({"rules": [ok], "history_runs": 5}).rules
