"""Rules read the history and say, per scope, whether they are breached this run.

A Finding is one rule's verdict on one scope it could judge in this run: `breaching`
(the condition holds) and `recovered` (a firing alert may resolve). For most rules the two
are opposites; a streak rule resolves only after enough passes, so it says both.
Scopes a rule cannot judge this run (a check that did not run) yield no Finding, and
their alerts stay as they are.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from vigil.alerts.history import History, Row
from vigil.alerts.signals import SIGNALS, ProbeLatency, Series
from vigil.spec.alerts import (
    ConsecutiveFailures,
    DurationRegression,
    LatencyRegression,
    RuleBase,
    RunFailureRate,
    WindowFailureRate,
)

MAX_NAMES = 5  # checks named in one title; the rest are counted


@dataclass(frozen=True)
class Finding:
    rule: RuleBase
    scope: dict[str, str]
    breaching: bool
    recovered: bool
    title: str
    detail: dict[str, Any] = field(default_factory=dict)
    target: str | None = None  # the target the scope is about, for folding and silences
    family: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule.id, self.scope)

    def labels(self, environment: str) -> dict[str, str]:
        labels = {
            "environment": environment,
            "rule": self.rule.id,
            "fingerprint": self.fingerprint,
            "severity": self.rule.severity.value,
        }
        labels.update({k: v for k, v in (("target", self.target), ("family", self.family)) if v})
        labels.update(self.scope)
        return labels


def fingerprint(rule_id: str, scope: dict[str, str]) -> str:
    """Readable and stable: "api-streak/check_id=api_up"; hashed when scope values are long."""
    parts = ",".join(f"{k}={scope[k]}" for k in sorted(scope))
    text = f"{rule_id}/{parts}" if parts else rule_id
    if len(text) <= 200:
        return text
    digest = hashlib.sha256(json.dumps(scope, sort_keys=True).encode()).hexdigest()[:16]
    return f"{rule_id}/{digest}"


def evaluate_rules(rules: Iterable[RuleBase], history: History) -> list[Finding]:
    findings: list[Finding] = []
    for rule in rules:
        findings.extend(EVALUATORS[type(rule)](rule, history))
    return findings


def _names(rows: list[Row]) -> str:
    ids = sorted(r.check_id for r in rows)
    more = f" and {len(ids) - MAX_NAMES} more" if len(ids) > MAX_NAMES else ""
    return ", ".join(ids[:MAX_NAMES]) + more


def _runs(n: int, noun: str = "run") -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%".replace(".0%", "%")


def run_failure_rate(rule: Any, history: History) -> list[Finding]:
    assert isinstance(rule, RunFailureRate)
    run = history.current
    rows = [r for r in run.rows() if r.ran and rule.select.admits(r.family, r.target, r.severity)]
    if not rows:
        return []
    problems = [r for r in rows if r.is_problem]
    rate = len(problems) / len(rows)
    breaching = rate > rule.threshold
    title = (
        f"{_pct(rate)} of checks failed in run {run.ref.run_id} ({len(problems)} of "
        f"{len(rows)}, threshold {_pct(rule.threshold)})"
        + (f": {_names(problems)}" if problems else "")
    )
    detail = {
        "rate": rate,
        "threshold": rule.threshold,
        "problems": len(problems),
        "total": len(rows),
        "checks": sorted(r.check_id for r in problems),
    }
    return [Finding(rule, {}, breaching, not breaching, title, detail)]


def window_failure_rate(rule: Any, history: History) -> list[Finding]:
    assert isinstance(rule, WindowFailureRate)
    runs = history.window(rule.window.last_runs, rule.window.last)
    groups: dict[tuple[str, ...], list[Row]] = {}
    for run in runs:
        for row in run.rows():
            if row.ran and rule.select.admits(row.family, row.target, row.severity):
                key = tuple(str(getattr(row, k)) for k in rule.group_by)
                groups.setdefault(key, []).append(row)
    findings = []
    for key, rows in sorted(groups.items()):
        if len(rows) < rule.min_results:
            continue
        scope: dict[str, str] = dict(zip(rule.group_by, key, strict=True))
        problems = [r for r in rows if r.is_problem]
        rate = len(problems) / len(rows)
        breaching = rate > rule.threshold
        what = ", ".join(f"{k} {v}" for k, v in scope.items()) or "all checks"
        title = (
            f"{what}: {_pct(rate)} failed over {_describe_window(rule, len(runs))} "
            f"({len(problems)} of {len(rows)} results, threshold {_pct(rule.threshold)})"
        )
        detail = {
            "rate": rate,
            "threshold": rule.threshold,
            "problems": len(problems),
            "total": len(rows),
            "runs": len(runs),
        }
        target, family = _common(rows, "target"), _common(rows, "family")
        findings.append(
            Finding(rule, scope, breaching, not breaching, title, detail, target, family)
        )
    return findings


def _describe_window(rule: WindowFailureRate, runs: int) -> str:
    from vigil.alerts.durations import format_duration

    parts = []
    if rule.window.last_runs is not None:
        parts.append(f"the last {_runs(rule.window.last_runs)}")
    if rule.window.last is not None:
        parts.append(f"the last {format_duration(rule.window.last)}")
    return " within ".join(parts) + f" ({_runs(runs)})"


def _common(rows: list[Row], attr: str) -> str | None:
    values = {getattr(r, attr) for r in rows}
    return values.pop() if len(values) == 1 else None


def consecutive_failures(rule: Any, history: History) -> list[Finding]:
    assert isinstance(rule, ConsecutiveFailures)
    findings = []
    for row in history.current.rows():
        if not row.ran or not rule.select.admits(row.family, row.target, row.severity):
            continue
        results = history.results_of(row.check_id)
        streak = next((i for i, r in enumerate(results) if not r.is_problem), len(results))
        passes = next((i for i, r in enumerate(results) if r.is_problem), len(results))
        breaching = streak >= rule.count
        recovered = passes >= rule.resolve_after
        title = (
            f"{row.check_id} ({row.family} on {row.target}) failed {_runs(streak)} in a row: "
            f"{row.message}"
            if row.is_problem
            else f"{row.check_id} ({row.family} on {row.target}) passed {_runs(passes)} in a row"
        )
        detail = {
            "streak": streak,
            "passes": passes,
            "count": rule.count,
            "resolve_after": rule.resolve_after,
            "status": row.status.value,
            "message": row.message,
        }
        findings.append(
            Finding(
                rule,
                {"check_id": row.check_id},
                breaching,
                recovered,
                title,
                detail,
                row.target,
                row.family,
            )
        )
    return findings


@dataclass(frozen=True)
class Comparison:
    """A Series' current value against the median of its baseline, as the regression
    rules judge it."""

    baseline: list[float]  # the samples compared against, newest first
    median: float
    ratio: float | None  # current / median, None when the median is 0 (JSON has no inf)
    breaching: bool

    @property
    def times(self) -> str:
        return f"{self.ratio:.1f}x" if self.ratio is not None else "above"


def compare(
    series: Series, *, factor: float, baseline_runs: int, min_runs: int, floor: float
) -> Comparison | None:
    """Breaching when the current value is above `factor` x the median of the newest
    `baseline_runs` samples and at least `floor`; None while fewer than `min_runs` exist."""
    baseline = series.baseline[:baseline_runs]
    if len(baseline) < min_runs:
        return None
    median = statistics.median(baseline)
    breaching = series.current > factor * median and series.current >= floor
    ratio = round(series.current / median, 2) if median else None
    return Comparison(baseline, median, ratio, breaching)


def _regressions(
    rule: DurationRegression | LatencyRegression,
    serieses: Iterable[Series],
    floor: float,
    title: Callable[[Series, Comparison], str],
    **detail: Any,
) -> list[Finding]:
    """One finding per series the baseline can judge."""
    findings = []
    for series in serieses:
        found = compare(
            series,
            factor=rule.factor,
            baseline_runs=rule.baseline_runs,
            min_runs=rule.min_runs,
            floor=floor,
        )
        if found is None:
            continue
        details = {
            "current": series.current,
            "median": found.median,
            "factor": rule.factor,
            "ratio": found.ratio,
            "baseline": found.baseline,
            "unit": series.unit,
            **detail,
        }
        findings.append(
            Finding(
                rule,
                series.scope,
                found.breaching,
                not found.breaching,
                title(series, found),
                details,
                series.target,
                series.family,
            )
        )
    return findings


def duration_regression(rule: Any, history: History) -> list[Finding]:
    assert isinstance(rule, DurationRegression)

    def title(series: Series, found: Comparison) -> str:
        return (
            f"{series.label} took {series.current:.0f} {series.unit}, {found.times} the median "
            f"{found.median:.0f} {series.unit} of the last {len(found.baseline)} successful "
            f"runs (limit {rule.factor:g}x)"
        )

    serieses = SIGNALS[rule.subject].series(history, rule.select)
    return _regressions(rule, serieses, rule.min_duration_ms, title)


def latency_regression(rule: Any, history: History) -> list[Finding]:
    assert isinstance(rule, LatencyRegression)

    def title(series: Series, found: Comparison) -> str:
        return (
            f"{series.label} was {_ms(series.current)} ms, {found.times} the median "
            f"{_ms(found.median)} ms of the last {_runs(len(found.baseline), 'passing run')} "
            f"(limit {rule.factor:g}x)"
        )

    serieses = ProbeLatency(rule.metric).series(history, rule.select)
    return _regressions(rule, serieses, rule.min_latency_ms, title, metric=rule.metric)


def _ms(value: float) -> str:
    """Whole milliseconds, but a tenth below 10 ms (a fast query's 0.4 ms is not 0)."""
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


EVALUATORS: dict[type, Callable[[Any, History], list[Finding]]] = {
    RunFailureRate: run_failure_rate,
    WindowFailureRate: window_failure_rate,
    ConsecutiveFailures: consecutive_failures,
    DurationRegression: duration_regression,
    LatencyRegression: latency_regression,
}


# How far back each rule reads, for the engine's first, narrower history load. The history
# is the environment's newest runs, newest first, of every cadence; a rule's answer is
# settled by a prefix of it. `reach` is the runs a rule reads when every run holds what it
# needs; `runs_out` says, after a load, whether its answer could still change with older
# runs (a streak or a baseline reached the oldest run loaded); the engine then reads further
# back, up to alerts.history_runs, so the answer is the one the whole history gives (but for
# the length of a run of passes, _streak_runs_out says why).


def reach(rule: RuleBase) -> int:
    """Runs (the evaluated one included) a rule reads when none is skipped or of another
    cadence; a time window (`window.last`) is loaded by time whatever this says."""
    if isinstance(rule, WindowFailureRate):
        return rule.window.last_runs or 1
    if isinstance(rule, ConsecutiveFailures):
        return max(rule.count, rule.resolve_after)
    if isinstance(rule, DurationRegression | LatencyRegression):
        return rule.baseline_runs + 1
    return 1  # run_failure_rate: the evaluated run alone


def runs_out(rule: RuleBase, history: History) -> bool:
    """Whether older runs than `history` holds could change the rule's findings."""
    if isinstance(rule, WindowFailureRate):
        last_runs = rule.window.last_runs
        return last_runs is not None and len(history.runs) < last_runs
    if isinstance(rule, ConsecutiveFailures):
        return _streak_runs_out(rule, history)
    if isinstance(rule, DurationRegression):
        serieses = SIGNALS[rule.subject].series(history, rule.select)
    elif isinstance(rule, LatencyRegression):
        serieses = ProbeLatency(rule.metric).series(history, rule.select)
    else:
        return False
    # compare() reads the newest baseline_runs samples: fewer means older runs may add some.
    return any(len(s.baseline) < rule.baseline_runs for s in serieses)


def _streak_runs_out(rule: ConsecutiveFailures, history: History) -> bool:
    """A failing streak is reported by its length (title, detail), so it must end inside
    the load. A run of passes only has to settle `recovered`: once it holds resolve_after
    passes the verdict is final, and its length is the passes the load holds (a check that
    always passes would otherwise need the whole history on every evaluation)."""
    for row in history.current.rows():
        if not row.ran or not rule.select.admits(row.family, row.target, row.severity):
            continue
        results = history.results_of(row.check_id)
        ended = any(r.is_problem != row.is_problem for r in results)  # the streak broke
        if not ended and (row.is_problem or len(results) < rule.resolve_after):
            return True
    return False
