"""The `vigil_maintenance` DAG: once a day, the retention policy on every results store.

One task. It reads the policy from the worker's environment (VIGIL_RETENTION_RAW_DAYS,
VIGIL_RETENTION_ROLLUP_DAYS; vigil.results.retention_policy), finds the results stores the
specs name (each spec's `results_conn_id`, resolved through Airflow's connections as the
validation tasks do), and applies the policy to each (vigil.results.retention): complete
days rolled up, raw runs older than the policy pruned, old rollups expired. A bad policy,
or a spec whose alert window reaches past the raw results kept, fails the task without
retry (a configuration error); one store that fails does not spare the others their
maintenance, and fails the task at the end.

Parsing builds one operator: no spec is read, no connection opened, nothing of the store
imported until the task runs.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, CronTriggerTimetable

from vigil.airflow import tasks

if TYPE_CHECKING:  # DAG parsing imports this module: the store loads when the task runs
    from vigil.results.retention_policy import RetentionPolicy

DAG_ID = "vigil_maintenance"
# Early morning UTC: after the night's runs, before people read the day's reports. Any
# time works: a day is rolled up only once it settled (retention.SETTLE).
SCHEDULE = "30 3 * * *"
# The first run on a long unpruned history rolls up every day of it (0.9 s per day of
# 25,000 results, 6 min for 400 days, measured by benchmarks/bench_store_scale.py); later
# runs, one day.
TIMEOUT = timedelta(hours=3)

log = logging.getLogger("vigil")


class MaintenanceFailed(Exception):
    """Some results stores could not be maintained; the message says which and why."""


def build_maintenance_dag(namespace: dict[str, Any]) -> DAG:
    """Add the maintenance DAG to `namespace` (a DAG file's globals) and return it."""
    dag = DAG(
        dag_id=DAG_ID,
        schedule=CronTriggerTimetable(SCHEDULE, timezone="UTC"),
        catchup=False,
        max_active_runs=1,
        auto_register=False,
        tags=["vigil", "maintenance"],
        doc_md=__doc__,
        default_args={
            "owner": "vigil",
            "retries": 1,
            "retry_delay": timedelta(minutes=10),
            "execution_timeout": TIMEOUT,
            "retry_policy": tasks.retry_policy(),
        },
    )
    with dag:
        PythonOperator(task_id="apply_retention", python_callable=apply_retention)
    namespace[dag.dag_id] = dag
    return dag


def apply_retention(**context: Any) -> dict[str, Any]:
    """The task: the policy on every store the specs name; counts per connection id."""
    from vigil.airflow.connections import airflow_connection
    from vigil.results.retention import apply_retention as apply
    from vigil.results.retention_policy import RetentionConfigError, policy_from_env
    from vigil.results.store import ResultStore

    policy = policy_from_env()
    stores, refused = stores_of_specs(policy)
    if not stores and not refused:
        log.warning("no spec names a results store: nothing to maintain")
    done: dict[str, Any] = {}
    failed: list[str] = []
    for conn_id, environments in sorted(stores.items()):
        try:
            store = ResultStore.from_connection(airflow_connection(conn_id))
            outcome = apply(store, policy)
        except RetentionConfigError:
            raise
        except Exception as exc:  # one store down must not spare the others
            failed.append(f"{conn_id} ({', '.join(environments)}): {exc}")
            log.error("retention on results store %r failed: %s", conn_id, exc)
            continue
        log.info("results store %r (%s): %s", conn_id, ", ".join(environments), outcome.summary())
        done[conn_id] = {
            "days_rolled_up": outcome.days_rolled_up,
            "runs_deleted": outcome.runs_deleted,
            "results_deleted": outcome.results_deleted,
            "rollup_days_expired": outcome.rollup_days_expired,
        }
    if failed:
        raise MaintenanceFailed(
            f"retention failed on {len(failed)} results store(s): "
            + "; ".join(failed + [p for problems in refused.values() for p in problems])
        )
    if refused:  # a spec to fix: retrying would not help
        raise RetentionConfigError(
            f"results store(s) {', '.join(sorted(refused))} not pruned: "
            + "; ".join(p for problems in refused.values() for p in problems)
        )
    return done


def stores_of_specs(
    policy: RetentionPolicy,
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(connection id -> the environments whose spec names it, over every good spec;
    connection id -> why it is refused). A store is refused when a spec that names it has
    an alert window reaching past the raw results kept: pruning would empty that window.
    The other stores are maintained all the same."""
    from vigil.results.retention_policy import windows_beyond
    from vigil.spec.loader import load_specs, specs_dir

    specs, errors = load_specs(specs_dir())
    for path in errors:
        # Reported by the DAG file of broken specs; a store only it names waits for a fix.
        log.warning("spec %s does not load; its results store is maintained once it does", path)
    stores: dict[str, list[str]] = {}
    refused: dict[str, list[str]] = {}
    for environment, spec in sorted(specs.items()):
        stores.setdefault(spec.results_conn_id, []).append(environment)
        if too_long := windows_beyond(policy, spec):
            refused.setdefault(spec.results_conn_id, []).extend(too_long)
    return {k: v for k, v in stores.items() if k not in refused}, refused
