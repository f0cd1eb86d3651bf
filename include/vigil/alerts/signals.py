"""Signals: what a regression rule measures, per scope, now and in its baseline.

A Signal turns the loaded history into Series: for each scope (the run, a task, a check)
the value in the evaluated run and the values of earlier successful runs, newest first.
`duration_regression` compares the two and knows nothing else about where values come
from. Latency regressions from performance probes plug in the same way: a `ProbeLatency`
signal reading a percentile per probe (from the probe-metrics table, once History loads
it), registered in SIGNALS under "probe_latency" and named in the rule's `subject`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from vigil.alerts.history import History, Row, RunRecord
from vigil.spec.alerts import Select


@dataclass(frozen=True)
class Series:
    scope: dict[str, str]
    label: str  # how a message names the scope
    current: float
    baseline: list[float]  # successful samples before the evaluated run, newest first
    unit: str = "ms"
    target: str | None = None
    family: str | None = None
    check_ids: list[str] = field(default_factory=list)


class Signal(Protocol):
    name: str

    def series(self, history: History, select: Select) -> list[Series]: ...


def _selected(run: RunRecord, select: Select) -> list[Row]:
    return [r for r in run.rows() if r.ran and select.admits(r.family, r.target, r.severity)]


def _span_ms(rows: Iterable[Row]) -> float | None:
    """Wall time from the first check's start to the last one's end: checks of one task
    run concurrently, so their durations do not add up."""
    rows = list(rows)
    if not rows:
        return None
    start = min(r.started_at for r in rows)
    return (max(r.ended_at for r in rows) - start).total_seconds() * 1000


class RunDuration:
    """The span of the run's checks, against earlier runs of the same cadence (a weekly run
    does more than a daily one) that had no critical problem."""

    name = "run"

    def series(self, history: History, select: Select) -> list[Series]:
        current_run = history.current
        current = _span_ms(_selected(current_run, select))
        if current is None:
            return []
        baseline = []
        for run in history.runs[1:]:
            rows = _selected(run, select)
            span = _span_ms(rows)
            same_cadence = run.ref.cadence == current_run.ref.cadence
            critical = any(r.is_problem and r.severity.value == "critical" for r in rows)
            if span is not None and same_cadence and not critical:
                baseline.append(span)
        label = f"run duration ({current_run.ref.cadence})"
        return [Series({}, label, current, baseline)]


class TaskDuration:
    """The span of one target's checks of one kind (one Airflow task), against earlier
    runs where all of them passed."""

    name = "task"

    def series(self, history: History, select: Select) -> list[Series]:
        out = []
        earlier_runs = [_tasks(_selected(run, select)) for run in history.runs[1:]]
        for (family, target), rows in _tasks(_selected(history.current, select)).items():
            current = _span_ms(rows)
            baseline = []
            for tasks in earlier_runs:
                earlier = tasks.get((family, target), [])
                span = _span_ms(earlier)
                if span is not None and all(r.status.value == "passed" for r in earlier):
                    baseline.append(span)
            if current is not None:
                scope = {"family": family, "target": target}
                ids = sorted(r.check_id for r in rows)
                out.append(
                    Series(
                        scope,
                        f"{family} task of {target}",
                        current,
                        baseline,
                        target=target,
                        family=family,
                        check_ids=ids,
                    )
                )
        return out


def _tasks(rows: Iterable[Row]) -> dict[tuple[str, str], list[Row]]:
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.family, row.target), []).append(row)
    return groups


class CheckDuration:
    """One check's own duration, against its earlier passing results."""

    name = "check"

    def series(self, history: History, select: Select) -> list[Series]:
        out = []
        for row in _selected(history.current, select):
            earlier = history.results_of(row.check_id)[1:]
            baseline = [r.duration_ms for r in earlier if r.status.value == "passed"]
            out.append(
                Series(
                    {"check_id": row.check_id},
                    f"check {row.check_id}",
                    row.duration_ms,
                    baseline,
                    target=row.target,
                    family=row.family,
                    check_ids=[row.check_id],
                )
            )
        return out


SIGNALS: dict[str, Signal] = {s.name: s for s in (RunDuration(), TaskDuration(), CheckDuration())}
