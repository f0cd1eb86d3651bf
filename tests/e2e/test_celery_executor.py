"""End to end: the CeleryExecutor, on one machine, with two workers and one killed mid-run.

The session's stack (tests/e2e/conftest.py) is stopped and started again exactly as
`VIGIL_EXECUTOR=celery make demo` starts it: Debian's redis-server as the broker, the
metadata database as the result backend, two `airflow celery worker` processes. One run
of demo_daily then goes through it; once both workers have taken tasks of the run, the
worker running a health or quality task is killed (SIGKILL to its whole process group,
as when a machine is lost). What is proved comes from Airflow's own records: each task
instance's Celery task id (`external_executor_id`, in task_instance and
task_instance_history) is found in the log of the worker that executed it.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg2
import pytest

from tests.e2e.conftest import stack_cli
from vigil.reports.data import run_summary
from vigil.results import ResultStore, RunRef
from vigil.stack import celery, control, procs
from vigil.stack.airflow import pg_uri
from vigil.stack.demo_run import CADENCE, DAG_ID, ENVIRONMENT, ensure_dag
from vigil.stack.state import Ports, StackPaths

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

KILL_WAIT_S = 240
# Tasks whose death leaves the demo system as it was: a journey killed mid-way could leave
# inventory-api switched off (its cleanup never runs), which is not what this test is about.
SAFE_TO_KILL = ("health.", "quality.")
TRIES = """
SELECT task_id, try_number, state, external_executor_id FROM task_instance
 WHERE dag_id = %(dag)s AND run_id = %(run)s
UNION ALL
SELECT task_id, try_number, state, external_executor_id FROM task_instance_history
 WHERE dag_id = %(dag)s AND run_id = %(run)s
"""


@dataclass(frozen=True)
class Try:
    task_id: str
    try_number: int
    state: str | None
    celery_id: str | None


@pytest.fixture(scope="module")
def celery_stack(
    e2e_environ: dict[str, str], e2e_stack: control.Stack, finished_run: str
) -> Iterator[control.Stack]:
    """The session's stack, stopped and started again with VIGIL_EXECUTOR=celery (after
    the LocalExecutor's `finished_run`, which the Celery run is compared with)."""
    stack_cli("down", e2e_environ)
    environ = {**e2e_environ, "VIGIL_EXECUTOR": "celery"}
    up = stack_cli("up", environ)
    assert "Celery workers … ok" in up.stdout, up.stdout
    stack = control.Stack(StackPaths.from_env(environ), Ports.from_env(environ), "celery")
    assert control.load(stack.paths).executor == "celery"  # saved with the stack's state
    parts = [procs.running(stack.paths, name) for name in (celery.REDIS, *celery.WORKERS)]
    assert all(parts), parts
    yield stack
    # `make stop` stops the broker and the workers by PID (the one killed is gone already).
    down = stack_cli("down", environ)
    assert "stopped redis" in down.stdout, down.stdout
    left = [m for m in parts if m is not None and procs.running(stack.paths, m.name)]
    assert not left and not any(procs.alive(m.pid) for m in parts if m is not None), left


def _tries(stack: control.Stack, run_id: str) -> list[Try]:
    with psycopg2.connect(pg_uri(stack.ports, "airflow")) as conn, conn.cursor() as cur:
        cur.execute(TRIES, {"dag": DAG_ID, "run": run_id})
        return [Try(*row) for row in cur.fetchall()]


def _executed_by(stack: control.Stack) -> dict[str, str]:
    """Celery task id → the worker whose log says it executed that task."""
    found: dict[str, str] = {}
    for worker in celery.WORKERS:
        log = stack.paths.log(worker)
        text = log.read_text(errors="replace") if log.exists() else ""
        for celery_id in re.findall(r"\[([0-9a-f-]{36})\] Executing workload in Celery", text):
            # A message redelivered after Redis' visibility timeout would be logged by the
            # second worker too (which then ignores it): the first to execute it counts.
            found.setdefault(celery_id, worker)
    return found


def _kill_a_worker_mid_run(stack: control.Stack, run_id: str) -> str:
    """Once both workers have taken tasks of the run, SIGKILL the one running a health or
    quality task (and nothing else). Returns the worker killed."""
    deadline = time.monotonic() + KILL_WAIT_S
    while time.monotonic() < deadline:
        tries = _tries(stack, run_id)
        executed = _executed_by(stack)
        workers_used = {executed[t.celery_id] for t in tries if t.celery_id in executed}
        running = [t for t in tries if t.state == "running" and t.celery_id in executed]
        if workers_used == set(celery.WORKERS) and running:
            by_worker: dict[str, list[Try]] = {}
            for t in running:
                by_worker.setdefault(executed[t.celery_id or ""], []).append(t)
            for worker, its in by_worker.items():
                if all(t.task_id.startswith(SAFE_TO_KILL) for t in its):
                    managed = procs.running(stack.paths, worker)
                    assert managed is not None, f"{worker} is not running"
                    os.killpg(managed.pid, signal.SIGKILL)
                    return worker
        time.sleep(0.2)
    raise AssertionError(f"no health or quality task seen running on a worker of {run_id}")


def _stored(stack: control.Stack, run_id: str) -> dict[str, Any]:
    store = ResultStore(pg_uri(stack.ports, "vigil_results"))
    return {r.check_id: r for r in store.run_results(RunRef(ENVIRONMENT, CADENCE, DAG_ID, run_id))}


def test_demo_daily_spreads_over_two_workers_and_survives_one_killed(
    celery_stack: control.Stack, finished_run: str
) -> None:
    stack = celery_stack
    api = stack.api()
    ensure_dag(api, stack.paths, stack.env())
    run_id = api.trigger(DAG_ID)
    killed = _kill_a_worker_mid_run(stack, run_id)
    survivor = next(w for w in celery.WORKERS if w != killed)

    state = api.wait_run(DAG_ID, run_id, timeout=900)
    tries = _tries(stack, run_id)
    executed = _executed_by(stack)
    assert state == "success", f"run {run_id} ended {state}; tries: {tries}"

    # Every try of every task ran on one of the two workers, and both took tasks.
    unplaced = [t for t in tries if t.celery_id not in executed]
    assert not unplaced, f"tries no worker's log executed: {unplaced}"
    per_worker = Counter(executed[t.celery_id or ""] for t in tries)
    assert set(per_worker) == set(celery.WORKERS), per_worker

    # The tries the kill cut short failed (their heartbeats stopped; a try that ended just
    # before the kill would have succeeded, so at least one must be there), and each task's
    # next try ran on the other worker and succeeded.
    cut_short = [t for t in tries if executed[t.celery_id or ""] == killed and t.state != "success"]
    assert cut_short, f"the kill of {killed} cut no try short: {tries}"
    for victim in cut_short:
        assert victim.state == "failed", victim
        later = [
            t for t in tries if t.task_id == victim.task_id and t.try_number > victim.try_number
        ]
        assert later and {executed[t.celery_id or ""] for t in later} == {survivor}, later
        assert max(later, key=lambda t: t.try_number).state == "success", later

    # Nothing lost, nothing counted twice: the same checks as the LocalExecutor's run,
    # once each, with the same verdicts (a check the first run skipped for want of
    # history may have one now).
    local, remote = _stored(stack, finished_run), _stored(stack, run_id)
    assert set(remote) == set(local), set(remote) ^ set(local)
    store = ResultStore(pg_uri(stack.ports, "vigil_results"))
    summary = run_summary(store, RunRef(ENVIRONMENT, CADENCE, DAG_ID, run_id))
    assert summary.total == len(remote) == len(local), (summary, len(remote), len(local))
    differ = {
        check_id: (local[check_id].status, result.status)
        for check_id, result in remote.items()
        if result.status != local[check_id].status and local[check_id].status != "skipped"
    }
    assert not differ, f"verdicts that differ from the LocalExecutor's run: {differ}"
    problems = [f"{r.check_id}: {r.status} {r.message}" for r in remote.values() if r.is_problem]
    assert not problems, "\n".join(problems)
