"""Run the daily validation once through Airflow's REST API and report what it found."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from vigil.stack.airflow import pg_uri, run_cli
from vigil.stack.api import AirflowApi
from vigil.stack.state import Ports, StackError, StackPaths

ENVIRONMENT = "demo"
CADENCE = "daily"
DAG_ID = f"{ENVIRONMENT}_{CADENCE}"
RUN_TIMEOUT_S = 600.0
DAG_VISIBLE_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class RunOutcome:
    dag_id: str
    run_id: str
    state: str


def ensure_dag(
    api: AirflowApi, paths: StackPaths, env: Mapping[str, str], dag_id: str = DAG_ID
) -> str:
    """Make `dag_id` known to Airflow now and unpaused. Returns a note for the progress line."""
    note = "already parsed"
    if api.get_dag(dag_id) is None:
        # The dag-processor would find it within its refresh interval; do not wait for that.
        run_cli(paths, "airflow-dags-reserialize", ["dags", "reserialize"], env, timeout=300)
        _wait_dag_visible(api, dag_id)
        note = "parsed now"
    api.unpause(dag_id)
    return note


def _wait_dag_visible(api: AirflowApi, dag_id: str) -> None:
    deadline = time.monotonic() + DAG_VISIBLE_TIMEOUT_S
    while time.monotonic() < deadline:
        if api.get_dag(dag_id) is not None:
            return
        time.sleep(1)
    problems = api.import_errors()
    detail = f"; import errors: {problems[0][:500]}" if problems else ""
    raise StackError(f"DAG {dag_id} unknown to Airflow after {DAG_VISIBLE_TIMEOUT_S:.0f} s{detail}")


def trigger_and_wait(
    api: AirflowApi, dag_id: str = DAG_ID, timeout: float = RUN_TIMEOUT_S
) -> RunOutcome:
    run_id = api.trigger(dag_id)
    state = api.wait_run(dag_id, run_id, timeout=timeout)
    return RunOutcome(dag_id, run_id, state)


def report(api: AirflowApi, ports: Ports, outcome: RunOutcome) -> str:
    """The run's check outcomes from the results store, then its task and run states."""
    lines = [f"Run {outcome.run_id} of {outcome.dag_id}: {outcome.state}", ""]
    lines.append(_results_table(ports, outcome))
    tasks = api.task_instances(outcome.dag_id, outcome.run_id)
    states = Counter(str(t.get("state")) for t in tasks)
    lines.append("")
    lines.append("Tasks: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))
    failed = sorted(t["task_id"] for t in tasks if t.get("state") in ("failed", "upstream_failed"))
    if failed:
        lines.append("  not successful: " + ", ".join(failed))
    return "\n".join(lines)


def _results_table(ports: Ports, outcome: RunOutcome) -> str:
    # Imported here: the stack must start even while the results package is being changed.
    from vigil.result_table import format_table
    from vigil.results import ResultStore, RunRef

    ref = RunRef(ENVIRONMENT, CADENCE, outcome.dag_id, outcome.run_id)
    results = ResultStore(pg_uri(ports, "vigil_results")).run_results(ref)
    if not results:
        return "(no check results were recorded for this run: see the task logs in the UI)"
    return format_table(results)
