"""The end of every run, without Airflow: judge alert rules, notify, write the reports.

Notification problems are recorded and reported, never raised: whether a message went
out must not decide whether the validation run passed (docs/adr/0003). A delivery that
failed is retried by later runs; a notice given up (tried too often, owed too long) is
named in the run's report and the task log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.context import ConnectionInfo, env_connection
from vigil.quality.paths import data_docs_dir, state_dir
from vigil.results.store import ResultStore, RunRef
from vigil.spec.models import Spec

log = logging.getLogger("vigil")


def reports_dir() -> Path:
    return state_dir() / "reports"


@dataclass
class Conclusion:
    alerts_summary: str = ""
    alerts: list[dict[str, Any]] = field(default_factory=list)
    failed_deliveries: list[str] = field(default_factory=list)  # kept to be retried
    given_up: list[str] = field(default_factory=list)  # notices no longer retried
    reports: dict[str, Path] = field(default_factory=dict)


def conclude(
    spec: Spec,
    store: ResultStore,
    run: RunRef,
    *,
    dry_run: bool,
    connection: Callable[[str], ConnectionInfo] = env_connection,
    airflow_url: str | None = None,
    out_dir: Path | None = None,
) -> Conclusion:
    """Evaluate the spec's alert rules for `run`, then write its reports."""
    from vigil.alerts.engine import evaluate
    from vigil.alerts.resolver import Resolver
    from vigil.reports import write_review_report, write_run_report, write_trend_report

    conclusion = Conclusion()
    out_dir = out_dir or reports_dir()
    resolver = Resolver(connection=connection)
    report = evaluate(store, run, spec.alerts, dry_run=dry_run, resolver=resolver)
    conclusion.alerts_summary = resolver.mask(report.summary())
    # What the run report shows of the alerts passes the channels' masker too.
    conclusion.alerts = resolver.mask_value(
        [
            {"rule": a.rule_id, "scope": a.fingerprint, "transition": a.change, "message": a.title}
            for a in report.alerts
            if a.change in ("fired", "resolved", "reminded", "notified")
        ]
    )
    conclusion.failed_deliveries = [
        f"{d.channel}: {d.error}" for d in report.failed_deliveries if d.kept
    ]
    # Each was logged as a warning when given up (vigil.alerts.outbox): the task log has it.
    conclusion.given_up = [resolver.mask(g.describe()) for g in report.given_up]
    conclusion.reports["run"] = write_run_report(
        store,
        run,
        out_dir=out_dir,
        airflow_base_url=airflow_url,
        alerts=conclusion.alerts,
        undelivered=conclusion.given_up,
        data_docs=_data_docs(run),
    )
    if run.cadence == "weekly":
        conclusion.reports["trend"] = write_trend_report(
            store, spec.environment, out_dir=out_dir, tz=spec.timezone
        )
    if run.cadence == "monthly":
        conclusion.reports["review"] = write_review_report(
            store, spec.environment, out_dir=out_dir, spec=spec, tz=spec.timezone
        )
    return conclusion


def _data_docs(run: RunRef) -> str | None:
    """The Data Docs site the quality tasks built for this run, when there is one."""
    index = data_docs_dir(run.environment, run.dag_id, run.run_id) / "index.html"
    return str(index) if index.exists() else None
