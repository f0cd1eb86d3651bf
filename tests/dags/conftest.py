"""Airflow for DAG tests: a migrated SQLite metadata database in the session's home."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.demo_system import running_demo, wait_for_health

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """`airflow db migrate` once per session (dag.test() fails on an unmigrated home)."""
    home = os.environ["AIRFLOW_HOME"]
    airflow = Path(sys.executable).parent / "airflow"
    result = subprocess.run(
        [str(airflow), "db", "migrate"],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )
    assert result.returncode == 0, f"airflow db migrate failed:\n{result.stderr[-3000:]}"
    return home


@pytest.fixture(scope="session")
def demo_system(pg: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The demo system on free ports over its own database, for the whole session."""
    with running_demo(pg, "dagtest_demo", tmp_path_factory.mktemp("demo")) as system:
        yield system


@contextmanager
def vigil_env(pg: Any, system: Any, results_db: str, **extra: str) -> Iterator[dict[str, str]]:
    """Vigil's environment for in-process dag.test() runs, restored afterwards."""
    from demo import config as demo_config

    pg.create_database(results_db)
    env = {
        "AIRFLOW_CONN_VIGIL_DEMO_DB": system.dsn,
        "AIRFLOW_CONN_VIGIL_RESULTS": pg.dsn(results_db),
        "DEMO_ORDERS_URL": system.orders_url,
        "DEMO_INVENTORY_URL": system.inventory_url,
        "DEMO_DB_ADDR": f"127.0.0.1:{pg.port}",
        "DEMO_TOKEN_ACME": demo_config.ACME_TOKEN,
        "DEMO_TOKEN_GLOBEX": demo_config.GLOBEX_TOKEN,
        "DEMO_ADMIN_TOKEN": demo_config.admin_token(),
        "DEMO_WEBHOOK_SECRET": "dag-test-secret",
        "DEMO_WEBHOOK_URL": "http://127.0.0.1:9/closed",  # discard port: nobody listens
        "VIGIL_SPECS_DIR": str(REPO / "include" / "specs"),
        **extra,
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_dag(dag_id: str, conf: dict[str, Any] | None = None) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS)).dags[dag_id].test(run_conf=conf)


@contextmanager
def inventory_down(system: Any) -> Iterator[None]:
    """Switch the demo's inventory-down fault on for the block; services re-read fault
    state every 0.5 s, so wait (bounded) until inventory-api's /health shows each change."""
    from demo import faults

    faults.set_fault("inventory-down", True, dsn=system.dsn)
    wait_for_health(system.inventory_url, 503)
    try:
        yield
    finally:
        faults.set_fault("inventory-down", False, dsn=system.dsn)
        wait_for_health(system.inventory_url, 200)


@contextmanager
def fault_on(system: Any, name: str, value: float | None = None) -> Iterator[None]:
    """A demo fault on for the block (the services see it within their 0.5 s cache)."""
    import time

    from demo import faults

    faults.set_fault(name, True, dsn=system.dsn, value=value)
    time.sleep(0.7)
    try:
        yield
    finally:
        faults.clear(system.dsn)
        time.sleep(0.7)
