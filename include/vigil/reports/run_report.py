"""The report of one run: summary by family and target, every problem with its evidence,
skips with their reasons, the alerts it fired and resolved, the notifications it gave up
on, links to Airflow and Data Docs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from vigil.reports import links, render
from vigil.reports.data import Counts, ReportError, run_summary
from vigil.result import CheckResult, Severity, Status
from vigil.results import ResultStore, RunRef, RunSummary

ALERT_KEYS = ("rule", "scope", "transition", "message")
RESOLVED = frozenset({"resolved", "resolve", "cleared", "ok"})


@dataclass
class Group:
    """The results of one task: one family of checks on one target."""

    family: str
    target: str
    results: list[CheckResult] = field(default_factory=list)
    task_url: str | None = None

    @property
    def counts(self) -> Counts:
        return tally(self.results)

    @property
    def duration_ms(self) -> float:
        """Wall-clock span from the first check's start to the last one's end: checks of
        a task run concurrently, so the sum of their durations would overstate it."""
        if not self.results:
            return 0.0
        start = min(r.started_at for r in self.results)
        end = max(r.started_at + timedelta(milliseconds=r.duration_ms) for r in self.results)
        return (end - start).total_seconds() * 1000


@dataclass(frozen=True)
class Alert:
    rule: str
    scope: str
    transition: str
    message: str

    @property
    def resolved(self) -> bool:
        return self.transition.lower() in RESOLVED


def tally(results: Sequence[CheckResult]) -> Counts:
    by = {s: sum(1 for r in results if r.status is s) for s in Status}
    return Counts(by[Status.PASSED], by[Status.FAILED], by[Status.ERROR], by[Status.SKIPPED])


def group_results(results: Sequence[CheckResult], base: str | None, run: RunRef) -> list[Group]:
    groups: dict[tuple[str, str], Group] = {}
    for result in results:
        # By the task that recorded it: a target's, or a scenario's own.
        key = (result.family, links.task_name(result))
        if key not in groups:
            url = None
            if base:
                url = links.task_url(base, run.dag_id, run.run_id, links.task_id(*key))
            groups[key] = Group(result.family, result.target, task_url=url)
        groups[key].results.append(result)
    return [groups[key] for key in sorted(groups)]


def problem_order(result: CheckResult) -> tuple[int, int, str]:
    """Critical before warning, errors before failures (an error says nothing was
    learnt), then by check id."""
    return (
        0 if result.severity is Severity.CRITICAL else 1,
        0 if result.status is Status.ERROR else 1,
        result.check_id,
    )


def skip_reason(result: CheckResult) -> str:
    reason = result.details.get("skipped_because")
    if isinstance(reason, str) and reason:
        return reason
    message = result.message
    return message.removeprefix("skipped: ") if message else "no reason recorded"


def parse_alerts(alerts: Sequence[Mapping[str, Any]] | None) -> list[Alert]:
    """Alerts as the alerting engine hands them over: {rule, scope, transition, message}."""
    parsed = []
    for index, alert in enumerate(alerts or ()):
        if not isinstance(alert, Mapping):
            raise ReportError(f"alerts[{index}]: expected a mapping, got {type(alert).__name__}")
        missing = [key for key in ("rule", "transition") if not alert.get(key)]
        if missing:
            raise ReportError(
                f"alerts[{index}]: missing {', '.join(missing)} (each alert needs "
                f"{', '.join(ALERT_KEYS)}; got keys {sorted(map(str, alert))})"
            )
        parsed.append(Alert(*(str(alert.get(key) or "") for key in ALERT_KEYS)))
    return parsed


def run_duration_ms(summary: RunSummary) -> float | None:
    if summary.ended_at is None:
        return None
    return (summary.ended_at - summary.started_at).total_seconds() * 1000


def render_run_report(
    store: ResultStore,
    run: RunRef,
    *,
    airflow_base_url: str | None = None,
    data_docs: str | None = None,
    alerts: Sequence[Mapping[str, Any]] | None = None,
    undelivered: Sequence[str] = (),
) -> str:
    """The run's report as one self-contained HTML page; `undelivered` names the notices
    this run's evaluation gave up on (one line each)."""
    return render_run_report_of(
        run,
        run_summary(store, run),
        store.run_results(run),
        airflow_base_url=airflow_base_url,
        data_docs=data_docs,
        alerts=alerts,
        undelivered=undelivered,
    )


def render_run_report_of(
    run: RunRef,
    summary: RunSummary,
    results: Sequence[CheckResult],
    *,
    airflow_base_url: str | None = None,
    data_docs: str | None = None,
    alerts: Sequence[Mapping[str, Any]] | None = None,
    undelivered: Sequence[str] = (),
) -> str:
    """The same page from a summary and results in hand (`vigil run` without a store)."""
    base = links.airflow_base(airflow_base_url)
    parsed_alerts = parse_alerts(alerts)
    docs = links.data_docs_url(data_docs)
    problems = sorted((r for r in results if r.is_problem), key=problem_order)
    groups = group_results(results, base, run)
    return render.render(
        "run.html",
        title=f"Vigil run report — {run.environment} {run.dag_id} {run.run_id}",
        run=run,
        summary=summary,
        duration_ms=run_duration_ms(summary),
        counts=tally(results),
        groups=groups,
        task_urls={(g.family, g.target): g.task_url for g in groups},
        problems=problems,
        skipped=[(r, skip_reason(r)) for r in results if r.status is Status.SKIPPED],
        passed=[r for r in results if r.status is Status.PASSED],
        dag_run_url=links.dag_run_url(base, run.dag_id, run.run_id) if base else None,
        data_docs_url=docs,
        fired=[a for a in parsed_alerts if not a.resolved],
        resolved=[a for a in parsed_alerts if a.resolved],
        undelivered=[str(u) for u in undelivered],
    )


def run_report_path(out_dir: Path, run: RunRef) -> Path:
    """`<out_dir>/<environment>/<dag_id>/<run_id>.html`."""
    return (
        Path(out_dir)
        / render.safe_name(run.environment, "environment")
        / render.safe_name(run.dag_id, "dag_id")
        / f"{render.safe_name(run.run_id, 'run_id')}.html"
    )


def write_run_report(
    store: ResultStore,
    run: RunRef,
    *,
    out_dir: Path,
    airflow_base_url: str | None = None,
    data_docs: str | None = None,
    alerts: Sequence[Mapping[str, Any]] | None = None,
    undelivered: Sequence[str] = (),
) -> Path:
    """Render the run's report into `<out_dir>/<environment>/<dag_id>/<run_id>.html`."""
    html = render_run_report(
        store,
        run,
        airflow_base_url=airflow_base_url,
        data_docs=data_docs,
        alerts=alerts,
        undelivered=undelivered,
    )
    return render.write(html, run_report_path(out_dir, run))
