"""Task callables: thin wrappers that map `vigil.pipeline` outcomes to Airflow states.

A data failure (a check that ran and found a problem) fails the task without retry; an
error (a target unreachable, a timeout, the results store down) may be transient and is
retried with backoff; a configuration error (a variable not set, a file missing: every
errored check marked so, `vigil.config_errors`) fails it without retry, saying what to
fix. `retry_policy()` tells Airflow which is which (ADR 0002).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

if TYPE_CHECKING:  # DAG parsing imports this module: the rest loads when a task runs
    from vigil.result import CheckResult

log = logging.getLogger("vigil")


class ChecksFailed(AirflowFailException):
    """Critical checks ran and failed: the data or the system is wrong. Retrying won't help."""


class ChecksErrored(Exception):
    """Critical checks could not complete (unreachable, timed out): possibly transient."""


class ChecksMisconfigured(AirflowFailException):
    """Critical checks could not run because of their configuration (a variable not set, a
    file missing): a retry would meet the same problem. Fix it, then clear the task."""


# Configuration problems raised outside a check (the results store's connection is not
# defined, the spec broke since the DAG was parsed): never retried either.
CONFIGURATION_EXCEPTIONS = ("vigil.config_errors.ConfigError", "vigil.spec.errors.SpecError")


def retry_policy() -> Any:
    from airflow.sdk.definitions.retry_policy import (
        ExceptionRetryPolicy,
        RetryAction,
        RetryRule,
    )

    return ExceptionRetryPolicy(
        rules=[
            RetryRule(
                exception=ChecksErrored,
                action=RetryAction.RETRY,
                reason="a target could not be reached; it may be transient",
            ),
            RetryRule(
                exception=list(CONFIGURATION_EXCEPTIONS),
                action=RetryAction.FAIL,
                reason="a configuration problem; a retry would meet the same one",
            ),
        ],
        default=RetryAction.DEFAULT,
    )


def raise_for_problems(family: str, target: str, results: Sequence[CheckResult]) -> None:
    """Raise what Airflow should do about `target`'s critical problems: retry
    (`ChecksErrored`), fail saying what to fix (`ChecksMisconfigured`), or fail
    (`ChecksFailed`)."""
    from vigil.config_errors import is_configuration_error
    from vigil.result import Status

    blocking = [r for r in results if r.blocks_run]
    errored = [r for r in blocking if r.status is Status.ERROR]
    failed = [r for r in blocking if r.status is Status.FAILED]
    transient = [r for r in errored if not is_configuration_error(r)]
    if transient:
        names = ", ".join(r.check_id for r in transient)
        raise ChecksErrored(
            f"{len(transient)} critical check(s) errored: {names}; first: {transient[0].message}"
        )
    if errored:
        names = ", ".join(r.check_id for r in errored)
        also = f" ({len(failed)} more failed)" if failed else ""
        raise ChecksMisconfigured(
            f"{len(errored)} critical {family} check(s) of {target} cannot run as configured: "
            f"{names}{also}; not retried, fix the configuration and clear the task. "
            f"First: {errored[0].message}"
        )
    if failed:
        names = ", ".join(r.check_id for r in failed)
        raise ChecksFailed(
            f"{len(failed)} critical check(s) failed: {names}; first: {failed[0].message}"
        )


def _setup(spec_path: str, cadence: str, context: Any) -> tuple[Any, ...]:
    from vigil.airflow.connections import airflow_connection
    from vigil.context import RunContext
    from vigil.pipeline import Selection
    from vigil.results.store import ResultStore, RunRef
    from vigil.spec.loader import load_spec

    spec = load_spec(Path(spec_path))
    dag_run = context["dag_run"]
    run = RunRef(spec.environment, cadence, dag_run.dag_id, dag_run.run_id)
    ctx = RunContext(
        spec, connection=airflow_connection, run_id=run.run_id, cadence=cadence, dag_id=run.dag_id
    )
    store = ResultStore.from_connection(airflow_connection(spec.results_conn_id))
    cadence_families = getattr(spec.schedules, cadence).families or spec.declared_families()
    params = dict(context.get("params") or {})
    selection = Selection.from_params(spec, cadence_families, params, cadence)
    store.start_run(run, params=params, dry_run=selection.dry_run)
    return spec, run, ctx, store, selection


def run_target_checks(
    spec_path: str,
    cadence: str,
    family: str,
    target: str,
    check: str | None = None,
    **context: Any,
) -> dict[str, Any]:
    """Run one target's checks of one family (or one `check`: a family with a task per
    check); fail on critical problems, skip when gated."""
    from vigil.pipeline import run_target
    from vigil.result_table import format_table

    _spec, run, ctx, store, selection = _setup(spec_path, cadence, context)
    ctx.container_runner = _run_container
    outcome = run_target(ctx, family, target, store, run, selection, check)
    what = f"{family} check {check}" if check else f"{family} checks of {target}"
    if outcome.results:
        log.info("%s:\n%s", what, format_table(outcome.results))
    if outcome.skipped_reason:
        raise AirflowSkipException(f"{what} skipped: {outcome.skipped_reason}")
    raise_for_problems(family, target, outcome.results)
    return {r.check_id: r.status.value for r in outcome.results}


def _run_container(*args: Any) -> Any:
    """A container test suite, through the docker provider (imported only when one runs)."""
    from vigil.airflow.docker_suite import run_container

    return run_container(*args)


def summarize(spec_path: str, cadence: str, **context: Any) -> dict[str, Any]:
    """Record the run's end and outcome; fail the DAG run when a critical check did not pass."""
    from vigil.pipeline import unrecorded
    from vigil.result_table import format_table

    spec, run, _ctx, store, selection = _setup(spec_path, cadence, context)
    results = store.run_results(run)
    if missing := unrecorded(spec, selection, results):
        store.record(run, missing)
        results = store.run_results(run)
    summary = store.finish_run(run)
    log.info("run %s of %s (%s):\n%s", run.run_id, run.environment, cadence, format_table(results))
    if selection.dry_run:
        log.info("dry run: results recorded, no notification will be sent")
    problems = [r for r in results if r.blocks_run]
    if problems:
        names = ", ".join(f"{r.check_id} ({r.status.value})" for r in problems[:10])
        more = f" and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise ChecksFailed(
            f"{len(problems)} critical check(s) did not pass: {names}{more}. "
            "See each task's log for its table and evidence."
        )
    return {"state": summary.state.value, "total": summary.total}


def evaluate(spec_path: str, cadence: str, **context: Any) -> dict[str, Any]:
    """Alert rules, notifications and reports; then the run's verdict.

    Runs whatever happened upstream. Nothing here fails because a notification could not
    be sent (that is recorded and logged); the task fails only to carry the checks'
    verdict, so the DAG run's final state reflects the checks.
    """
    import os

    from vigil.airflow.connections import airflow_connection
    from vigil.conclude import conclude

    spec, run, _ctx, store, selection = _setup(spec_path, cadence, context)
    conclusion = conclude(
        spec,
        store,
        run,
        dry_run=selection.dry_run,
        connection=airflow_connection,
        airflow_url=os.environ.get("VIGIL_AIRFLOW_URL", "http://127.0.0.1:8080"),
    )
    log.info(conclusion.alerts_summary)
    for failure in conclusion.failed_deliveries:
        log.warning("notification not delivered (recorded, will be retried next run): %s", failure)
    for name, path in conclusion.reports.items():
        log.info("%s report: %s", name, path)
    summary = store.finish_run(run)
    if summary.critical_problems:
        raise ChecksFailed(
            f"{summary.critical_problems} critical check(s) did not pass in "
            f"this run; see the run report: {conclusion.reports['run']}"
        )
    return {
        "alerts": conclusion.alerts,
        "reports": {k: str(v) for k, v in conclusion.reports.items()},
    }


RETRY_DELAY_CAP = timedelta(minutes=10)
