"""Signals: what a regression rule measures, per scope, now and in its baseline.

A Signal turns the loaded history into Series: for each scope (the run, a task, a check,
a probe) the value in the evaluated run and the values of earlier successful runs, newest
first. The regression rules compare the two and know nothing else about where values come
from: `duration_regression` reads the signal its `subject` names in SIGNALS, and
`latency_regression` a `ProbeLatency` of its `metric` (a percentile of each performance
probe, from the probe figures History loads with the runs).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from vigil.alerts.history import History, ProbeFigures, Row, RunRecord
from vigil.probes import FAMILY as PROBES
from vigil.result import Severity
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


class ProbeLatency:
    """One latency figure (p95, ...) of each performance probe in the evaluated run, against
    the same probe's figure under the same load profile in earlier runs where all of its
    thresholds passed (a regression must not become the norm)."""

    name = "probe_latency"

    def __init__(self, metric: str) -> None:
        self.metric = metric

    def series(self, history: History, select: Select) -> list[Series]:
        out = []
        current = history.current
        for probe in sorted(current.probes.values(), key=lambda p: (p.check_id, p.profile)):
            value = probe.figures.get(self.metric)
            if value is None or not _admits(select, probe, current):
                continue  # no such figure (nothing succeeded to be timed), or not selected
            baseline = [
                earlier.figures[self.metric]
                for earlier in (run.probes.get(probe.check_id) for run in history.runs[1:])
                if earlier is not None
                and earlier.passed
                and earlier.profile == probe.profile
                and self.metric in earlier.figures
            ]
            out.append(
                Series(
                    {"check_id": probe.check_id, "profile": probe.profile},
                    f"probe {probe.check_id} {self.metric} (profile {probe.profile})",
                    value,
                    baseline,
                    unit="ms",
                    target=probe.target,
                    family=PROBES,
                    check_ids=sorted(r.check_id for r in _results_of(probe, current))
                    or [probe.check_id],
                )
            )
        return out


def _results_of(probe: ProbeFigures, run: RunRecord) -> list[Row]:
    """The probe's results in the run: one per threshold (parts of the probe), or its own."""
    return [r for r in run.rows() if probe.check_id in (r.check_id, r.parent)]


def _admits(select: Select, probe: ProbeFigures, run: RunRecord) -> bool:
    """As for any check, by the severity of the probe's results; a probe with no result
    in the run (its figures were stored, its results not) has no known severity, and the
    selector's severity does not hold it back."""
    known = {r.severity for r in _results_of(probe, run)}
    severities = known or {select.severity or Severity.WARNING}
    return any(select.admits(PROBES, probe.target, s) for s in severities)


SIGNALS: dict[str, Signal] = {s.name: s for s in (RunDuration(), TaskDuration(), CheckDuration())}
