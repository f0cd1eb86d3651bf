"""The engine reads the alert history only as far back as the rules reach
(engine.load_rule_history), and further while a streak or a baseline needs more: its
findings are those the whole alerts.history_runs gives, against a real results store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.support.receivers import StoredRuns
from vigil.alerts import engine
from vigil.alerts.engine import evaluate, first_load_runs, load_rule_history
from vigil.alerts.history import History, load_history
from vigil.alerts.rules import Finding, evaluate_rules
from vigil.results import ResultStore
from vigil.spec.alerts import AlertsConfig

pytestmark = pytest.mark.integration

P, F = "passed", "failed"
SKIP = ("skipped", "network")  # skipped: the network target was unhealthy
CHECKS = {"api_up": ("health", "api"), "db_up": ("health", "db"),
          "etl_rows": ("quality", "warehouse")}  # fmt: skip
STREAK = {"id": "api-down", "kind": "consecutive_failures", "count": 3, "resolve_after": 2,
          "select": {"targets": ["api"]}}  # fmt: skip
FLAKY = {"id": "flaky", "kind": "window_failure_rate", "window": {"last_runs": 10},
         "threshold": 0.3, "min_results": 1}  # fmt: skip
SLOW = {"id": "slow-etl", "kind": "duration_regression", "subject": "check",
        "baseline_runs": 7, "min_runs": 3, "select": {"targets": ["warehouse"]}}  # fmt: skip
RUNS = 130


def alerts(*rules: dict[str, Any]) -> AlertsConfig:
    return AlertsConfig.model_validate({"rules": list(rules), "history_runs": 200})


def seed(store: ResultStore) -> StoredRuns:
    """130 hourly runs. api_up passed until run 70, then failed in runs 71, 100, 115 and
    130 and was skipped in every run between: a 4-run failing streak across 56 skips.
    etl_rows took 10 ms and passed until run 40, failed from 41 to 125, passed again in
    126-129 (10 ms), and in run 130 took 100 ms: its 7-sample baseline needs 3 passing runs
    from before run 41. db_up passed throughout."""
    runs = StoredRuns(store, CHECKS)
    for n in range(1, RUNS + 1):
        api = P if n <= 70 else F if n in (71, 100, 115, 130) else SKIP
        etl = P if n <= 40 or n >= 126 else F
        runs.add({"api_up": api, "db_up": P, "etl_rows": etl},
                 durations={"etl_rows": 100.0 if n == RUNS else 10.0})  # fmt: skip
    return runs


def judged(config: AlertsConfig, history: History) -> list[tuple[Any, ...]]:
    return [_key(f) for f in evaluate_rules(config.rules, history)]


def _key(f: Finding) -> tuple[Any, ...]:
    return (f.fingerprint, f.breaching, f.recovered, f.title, f.detail, f.target, f.family)


@pytest.fixture
def seeded(fresh_db: str) -> tuple[ResultStore, StoredRuns]:
    store = ResultStore(fresh_db)
    return store, seed(store)


def test_a_streak_across_skips_is_read_back_to_where_it_began(
    seeded: tuple[ResultStore, StoredRuns],
) -> None:
    store, runs = seeded
    config = alerts(STREAK, FLAKY)
    kwargs = store.connect_kwargs("test")
    first = first_load_runs(config)
    assert first == 20  # FLAKY reaches 10 runs, twice that for skips and other cadences
    short = load_history(kwargs, runs.last, runs=first, since=None)
    full = load_history(kwargs, runs.last, runs=200, since=None)
    assert judged(config, short) != judged(config, full)  # 20 runs hold 2 of the 4 failures

    history = load_rule_history(kwargs, runs.last, config)
    assert len(history.runs) == 80  # 20, 40, then 80: back to run 51, past the streak start
    assert judged(config, history) == judged(config, full)
    streak = next(f for f in evaluate_rules(config.rules, history) if f.rule.id == "api-down")
    assert (streak.breaching, streak.detail["streak"]) == (True, 4)


def test_a_baseline_is_read_back_to_older_passing_runs(
    seeded: tuple[ResultStore, StoredRuns],
) -> None:
    store, runs = seeded
    config = alerts(STREAK, FLAKY, SLOW)
    kwargs = store.connect_kwargs("test")
    full = load_history(kwargs, runs.last, runs=200, since=None)

    history = load_rule_history(kwargs, runs.last, config)
    assert len(history.runs) == RUNS  # 80 runs hold 4 passing samples; then every run
    assert judged(config, history) == judged(config, full)
    slow = next(f for f in evaluate_rules(config.rules, history) if f.rule.id == "slow-etl")
    assert slow.breaching
    assert slow.detail["baseline"] == [10.0] * 7


def test_history_runs_stays_the_ceiling(seeded: tuple[ResultStore, StoredRuns]) -> None:
    store, runs = seeded
    config = AlertsConfig.model_validate({"rules": [STREAK, FLAKY, SLOW], "history_runs": 50})
    kwargs = store.connect_kwargs("test")
    history = load_rule_history(kwargs, runs.last, config)
    assert len(history.runs) == 50
    assert judged(config, history) == judged(
        config, load_history(kwargs, runs.last, runs=50, since=None)
    )


def test_a_time_window_is_loaded_whole(seeded: tuple[ResultStore, StoredRuns]) -> None:
    store, runs = seeded
    by_time = {**FLAKY, "id": "flaky-2d", "window": {"last": "2d"}}
    config = alerts(STREAK, by_time)
    kwargs = store.connect_kwargs("test")
    history = load_rule_history(kwargs, runs.last, config)
    assert len(history.runs) >= 49  # every run of the last 48 hours, and the one at its edge
    full = load_history(kwargs, runs.last, runs=200, since=timedelta(days=2))
    assert judged(config, history) == judged(config, full)


def test_the_engine_judges_as_with_the_whole_history(
    seeded: tuple[ResultStore, StoredRuns], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, runs = seeded
    config = alerts(STREAK, FLAKY, SLOW)

    def outcomes() -> list[tuple[Any, ...]]:
        # A dry run: the state moves are judged and rolled back, so both see the same state.
        report = evaluate(store, runs.last, config, now=runs.now, dry_run=True)
        return [(a.fingerprint, a.change, a.after, a.title) for a in report.alerts]

    reached = outcomes()
    monkeypatch.setattr(engine, "first_load_runs", lambda config: config.history_runs)
    whole = outcomes()
    assert reached == whole
    assert ("api-down/check_id=api_up", "fired") in [(a[0], a[1]) for a in reached]


def test_a_run_of_passes_longer_than_the_load_is_counted_as_far_as_loaded(
    seeded: tuple[ResultStore, StoredRuns],
) -> None:
    """The one figure that may differ: a check passing in every loaded run is judged
    recovered either way, and `passes` counts the passes loaded (not all 130), so that a
    check that always passes does not need the whole history on every evaluation."""
    store, runs = seeded
    config = alerts({**STREAK, "id": "db-down", "select": {"targets": ["db"]}})
    kwargs = store.connect_kwargs("test")
    history = load_rule_history(kwargs, runs.last, config)
    full = load_history(kwargs, runs.last, runs=200, since=None)
    [near] = evaluate_rules(config.rules, history)
    [whole] = evaluate_rules(config.rules, full)
    assert (near.breaching, near.recovered) == (whole.breaching, whole.recovered) == (False, True)
    assert (near.detail["passes"], whole.detail["passes"]) == (6, RUNS)
