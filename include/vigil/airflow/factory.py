"""Specs → DAGs. Called from the one DAG file; parse-time work only.

Parsing reads YAML and builds tasks. It opens no connection, makes no request and imports
no check runner or Great Expectations: Airflow re-parses DAG files every few seconds.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, CronTriggerTimetable, TaskGroup, TriggerRule

from vigil.airflow import tasks
from vigil.airflow.params import run_params
from vigil.pipeline import FAMILY_RUNNERS, declared_kinds
from vigil.spec import SpecError, load_specs
from vigil.spec.loader import specs_dir
from vigil.spec.models import CADENCES, Spec


class SpecLoadError(Exception):
    """Shown by Airflow as the DAG file's import error: every problem of every bad spec."""


class BrokenSpecs(DAG):
    """Stands in for specs that failed to load, so Airflow shows their errors.

    Airflow records an import error for the DAG file when a DAG's `validate()` raises,
    and still loads the file's other DAGs: a broken spec is visible in the UI without
    taking down the DAGs of the good ones.
    """

    def __init__(self, errors: dict[Path, SpecError]) -> None:
        super().__init__(dag_id="vigil_broken_specs", schedule=None)
        self.spec_errors = errors

    def validate(self) -> None:
        report = "\n\n".join(str(error) for error in self.spec_errors.values())
        raise SpecLoadError(f"{len(self.spec_errors)} spec file(s) failed to load:\n{report}")


def build_dags(namespace: dict[str, Any], directory: Path | None = None) -> list[DAG]:
    """Add `<env>_daily|weekly|monthly` for every spec to `namespace` (a DAG file's globals)."""
    specs, errors = load_specs(directory or specs_dir())
    dags: list[DAG] = []
    for spec in specs.values():
        for cadence in CADENCES:
            if getattr(spec.schedules, cadence).enabled:
                dags.append(build_dag(spec, spec.source or Path(), cadence))
    if errors:
        dags.append(BrokenSpecs(errors))
    for dag in dags:
        namespace[dag.dag_id] = dag
    return dags


def build_dag(spec: Spec, spec_path: Path, cadence: str) -> DAG:
    schedule = getattr(spec.schedules, cadence)
    # Pipeline order whatever the spec's order: other kinds wait for health tasks.
    kinds = sorted(schedule.kinds or declared_kinds(spec), key=list(FAMILY_RUNNERS).index)
    defaults = spec.defaults
    dag = DAG(
        dag_id=f"{spec.environment}_{cadence}",
        # No start_date: a new DAG waits for its next scheduled time instead of running
        # at once for the latest past one (a fresh `make demo` would queue three runs).
        schedule=CronTriggerTimetable(schedule.cron, timezone=spec.timezone, run_immediately=False),
        catchup=False,
        max_active_runs=1,
        tags=sorted({"vigil", spec.environment, cadence, *spec.tags}),
        doc_md=describe(spec, cadence, kinds),
        params=run_params(spec, kinds),
        default_args={
            "owner": defaults.owner,
            "retries": defaults.retries,
            "retry_delay": timedelta(seconds=defaults.retry_delay_s),
            # A multiplier in Airflow 3.3 (True would mean 1.0: no backoff at all).
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": tasks.RETRY_DELAY_CAP,
            "execution_timeout": timedelta(seconds=defaults.task_timeout_s),
            "retry_policy": tasks.retry_policy(),
        },
    )
    op_kwargs = {"spec_path": str(spec_path), "cadence": cadence}
    with dag:
        summarize = PythonOperator(
            task_id="summarize",
            python_callable=tasks.summarize,
            op_kwargs=op_kwargs,
            trigger_rule=TriggerRule.ALL_DONE,
            retries=1,
        )
        # Ends every DAG, whatever happened upstream: alerts, notifications, reports.
        summarize >> PythonOperator(
            task_id="evaluate",
            python_callable=tasks.evaluate,
            op_kwargs=op_kwargs,
            trigger_rule=TriggerRule.ALL_DONE,
            retries=1,
        )
        health: dict[str, PythonOperator] = {}
        for kind in kinds:
            group = _kind_group(spec, kind, op_kwargs)
            for target, task in group.items():
                if kind == "health":
                    health[target] = task
                elif target in health:
                    # Other kinds wait for their target's health, and skip when it failed.
                    health[target] >> task
                task >> summarize
    return dag


def _kind_group(spec: Spec, kind: str, op_kwargs: dict[str, Any]) -> dict[str, PythonOperator]:
    """One task per target; a health task waits for the health of the targets it depends on.

    One task per target, not per check: a target's checks run concurrently inside it, and
    for data quality one task per database pays the Great Expectations import once.
    """
    targets = spec.targets_with_checks(kind)
    with TaskGroup(group_id=kind, tooltip=f"{kind} checks, one task per target"):
        by_target = {
            target: PythonOperator(
                task_id=target,
                python_callable=tasks.run_target_checks,
                op_kwargs={**op_kwargs, "kind": kind, "target": target},
                # Runs whatever its dependencies did, and skips itself (saying why) when
                # one of them is unhealthy, rather than failing as "upstream failed".
                trigger_rule=TriggerRule.ALL_DONE,
                doc_md=_target_doc(spec, kind, target),
            )
            for target in targets
        }
    if kind == "health":
        for target, task in by_target.items():
            for dependency in spec.targets[target].depends_on:
                if dependency in by_target:
                    by_target[dependency] >> task
    return by_target


def describe(spec: Spec, cadence: str, kinds: list[str]) -> str:
    lines = [
        f"# {spec.environment} — {cadence} validation",
        spec.description,
        "",
        f"Runs on `{getattr(spec.schedules, cadence).cron}` ({spec.timezone}). "
        "Each task runs one target's checks and logs a table of results; `summarize` "
        "records the run and fails when any critical check failed or errored; `evaluate` "
        "judges the alert rules, sends notifications, writes the run report and carries "
        "the same verdict, so the run's final state reflects the checks.",
        "",
    ]
    for kind in kinds:
        lines.append(f"## {kind}")
        for check in spec.checks_of(kind):
            lines.append(f"- `{check.id}` on **{check.target}** ({check.kind}, {check.severity})")
        lines.append("")
    return "\n".join(lines)


def _target_doc(spec: Spec, kind: str, target: str) -> str:
    checks = spec.checks_of_target(kind, target)
    deps = spec.targets[target].depends_on
    text = f"{kind} checks of `{target}`: " + ", ".join(f"`{c.id}`" for c in checks)
    if deps:
        text += f"\n\nSkipped, with the reason, when any of these is unhealthy: {', '.join(deps)}."
    return text
