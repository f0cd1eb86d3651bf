"""What the environment, check, run and task pages show, read from the store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path

from markupsafe import Markup

from vigil.reports import probe_trends, trend
from vigil.reports.data import (
    Counts,
    DayStats,
    SlowCheck,
    Window,
    check_statuses,
    day_stats,
    find_runs,
    slowest_checks,
    window,
)
from vigil.reports.review import CheckRecord
from vigil.reports.run_report import (
    Group,
    group_results,
    problem_order,
    run_duration_ms,
    skip_reason,
    tally,
)
from vigil.result import CheckResult, Status
from vigil.results import ResultStore, RunSummary
from vigil.spec.models import Spec
from vigil.ui import data, evidence
from vigil.ui.specs import timezone, trigger_dag

SLOWEST = 10
MAX_DAYS = 90
PROBLEM_LOOKBACK = timedelta(days=90)


# --- environment ----------------------------------------------------------------------------


@dataclass
class EnvironmentView:
    environment: str
    window: Window
    latest: RunSummary | None
    trigger: str
    days: list[DayStats] = field(default_factory=list)
    runs: list[RunSummary] = field(default_factory=list)  # the window's, oldest first
    slowest: list[SlowCheck] = field(default_factory=list)
    records: list[CheckRecord] = field(default_factory=list)
    latest_results: list[CheckResult] = field(default_factory=list)
    charts: dict[str, Markup] = field(default_factory=dict)
    probes: Markup = field(default_factory=Markup)

    @cached_property
    def flaky(self) -> list[CheckRecord]:
        flaky = [r for r in self.records if r.flaky]
        return sorted(flaky, key=lambda r: (-r.flip_rate, r.check_id))

    @cached_property
    def always_failing(self) -> list[CheckRecord]:
        return [r for r in self.records if r.always_failing]

    def shown_latest(self) -> tuple[list[tuple[str, str, list[CheckResult]]], int]:
        """`by_task`, cut at SHOWN_ROWS results (problems kept first): a page for people,
        not every row of an environment with thousands of checks; the JSON API has all."""
        groups, shown, left = [], 0, 0
        for family, target, results in self.by_task():
            take = results if shown >= SHOWN_ROWS else results[: SHOWN_ROWS - shown]
            if shown >= SHOWN_ROWS:
                take = [r for r in results if r.is_problem][: SHOWN_ROWS // 10]
            left += len(results) - len(take)
            shown += len(take)
            if take:
                groups.append((family, target, take))
        return groups, left

    @property
    def totals(self) -> Counts:
        return Counts.total(d.counts for d in self.days)

    def by_task(self) -> list[tuple[str, str, list[CheckResult]]]:
        """The latest result of every check, per family and target, problems first."""
        groups: dict[tuple[str, str], list[CheckResult]] = {}
        for r in self.latest_results:
            groups.setdefault((r.family, r.target), []).append(r)
        return [
            (family, target, sorted(rs, key=lambda r: (not r.is_problem, r.check_id)))
            for (family, target), rs in sorted(groups.items())
        ]


# Rows a table on the environment page shows before it says how many more there are.
SHOWN_ROWS = 100


def environment_view(
    store: ResultStore, environment: str, spec: Spec | None, days: int, now: datetime
) -> EnvironmentView:
    win = window(days, now, timezone(spec))
    latest = data.latest_runs(store, [environment]).get(environment)
    view = EnvironmentView(environment, win, latest, trigger_dag(environment, spec))
    if latest is None:
        return view
    view.days = day_stats(store, environment, win)
    view.runs = data.window_runs(store, environment, win.start, win.end)
    view.slowest = slowest_checks(store, environment, win, SLOWEST)
    view.records = [
        CheckRecord(r.check_id, r.family, r.target, r.statuses, r.parent)
        for r in check_statuses(store, environment, win)
    ]
    view.latest_results = store.latest_results(environment)
    run_times = [trend.RunTime(r, ms) for r in view.runs if (ms := run_duration_ms(r)) is not None]
    view.charts = trend.charts(
        trend.TrendData(environment, win, view.days, view.slowest, view.runs, run_times)
    )
    view.probes = probe_trends.section(store, environment, win)
    return view


# --- check ----------------------------------------------------------------------------------


@dataclass
class CheckView:
    environment: str
    check_id: str
    history: list[data.HistoryItem]  # newest first
    latest: data.StoredResult | None
    last_problem: data.StoredResult | None
    parts: list[CheckResult]
    trigger: str
    data_docs: str | None = None  # an http(s) link the evidence names

    @property
    def strip(self) -> list[data.HistoryItem]:
        return list(reversed(self.history))

    @property
    def counts(self) -> Counts:
        by = {s: sum(1 for h in self.history if h.status is s) for s in Status}
        return Counts(by[Status.PASSED], by[Status.FAILED], by[Status.ERROR], by[Status.SKIPPED])

    @property
    def flips(self) -> int:
        record = CheckRecord(self.check_id, "", "", tuple(h.status for h in self.strip))
        return record.flips

    def evidence(self, stored: data.StoredResult) -> list[evidence.Block]:
        return evidence.blocks(stored.result)


def check_view(
    store: ResultStore,
    environment: str,
    check_id: str,
    spec: Spec | None,
    last: int,
    now: datetime,
) -> CheckView:
    latest = data.latest_result(store, environment, check_id)
    history = data.check_history(store, environment, check_id, last) if latest else []
    last_problem = None
    if latest is not None and not latest.result.is_problem:
        last_problem = data.latest_result(
            store, environment, check_id, problems=True, cutoff=now - PROBLEM_LOOKBACK
        )
    parts = data.parts(store, latest.run_pk, check_id) if latest else []
    view = CheckView(
        environment, check_id, history, latest, last_problem, parts, trigger_dag(environment, spec)
    )
    if latest is not None:
        view.data_docs = data_docs_link(latest.result)
    return view


def data_docs_link(result: CheckResult) -> str | None:
    """An http(s) Data Docs link the evidence carries, if any."""
    for key in ("data_docs_url", "data_docs"):
        value = result.details.get(key)
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return value
    return None


def local_data_docs(environment: str, dag_id: str, run_id: str) -> Path | None:
    """The run's Data Docs site on this machine's disk (the quality tasks build it under
    the state folder), when the API server shares that folder with them."""
    from vigil.quality.paths import data_docs_dir

    try:
        index = data_docs_dir(environment, dag_id, run_id) / "index.html"
        return index if index.is_file() else None
    except (OSError, ValueError):
        return None


# --- run and task ---------------------------------------------------------------------------


@dataclass
class RunView:
    summary: RunSummary
    results: list[CheckResult]
    groups: list[Group]
    notices: list[data.RunNotice]
    has_data_docs: bool

    @property
    def counts(self) -> Counts:
        return tally(self.results)

    @property
    def duration_ms(self) -> float | None:
        return run_duration_ms(self.summary)

    @property
    def problems(self) -> list[CheckResult]:
        return sorted((r for r in self.results if r.is_problem), key=problem_order)

    @property
    def skipped(self) -> list[tuple[CheckResult, str]]:
        return [(r, skip_reason(r)) for r in self.results if r.status is Status.SKIPPED]

    @property
    def passed(self) -> list[CheckResult]:
        return [r for r in self.results if r.status is Status.PASSED]

    def alerts(self) -> list[tuple[str, data.RunNotice, list[str]]]:
        """One line per alert and notice kind this run queued: (kind, a notice, the
        channels with their status)."""
        seen: dict[tuple[str, str], tuple[str, data.RunNotice, list[str]]] = {}
        for n in self.notices:
            key = (n.fingerprint, n.kind)
            if key not in seen:
                seen[key] = (n.kind, n, [])
            seen[key][2].append(f"{n.channel}: {n.status}")
        return list(seen.values())


def find_run(store: ResultStore, dag_id: str, run_id: str) -> RunSummary | None:
    matches = find_runs(store, run_id, dag_id)
    return matches[0] if matches else None


def run_view(
    store: ResultStore,
    summary: RunSummary,
    *,
    family: str | None = None,
    target: str | None = None,
    check: str | None = None,
) -> RunView:
    """The run, or one task's part of it: a family's checks of one target, or (a family
    with a task per check) one spec check and its parts."""
    run = summary.ref
    targets = [target] if target is not None else None
    results = store.results_of(run, family=family, targets=targets)
    if check is not None:
        results = [r for r in results if r.spec_check == check]
    notices = data.run_notices(store, run.dag_id, run.run_id) if family is None else []
    docs = local_data_docs(run.environment, run.dag_id, run.run_id) is not None
    return RunView(summary, results, group_results(results, None, run), notices, docs)


def split_task(task_id: str, families: Mapping[str, object]) -> tuple[str, str] | None:
    """A check task's (family, target) from its id `<family>.<target>` (for a family with
    a task per check: (family, check id)); None for the DAG's other tasks (summarize,
    evaluate)."""
    family, sep, target = task_id.partition(".")
    if not sep or not target or family not in families:
        return None
    return family, target
