"""How `vigil snapshot-schema` and `vigil results` find their connections, run as a user
runs them: a connection added through Airflow's own metadata database (`airflow
connections add`, as the UI or the REST API would) in a throwaway Airflow home with SQLite;
the local `make demo` stack's; and what they say when nothing has it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
import yaml

from vigil.result import CheckResult, Status
from vigil.results.store import ResultStore, RunRef
from vigil.stack.postgres import LocalPostgres
from vigil.stack.state import Ports, StackPaths, load_secrets

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
SPEC = """\
environment: qa
targets:
  shop-db: {kind: postgres, conn_id: shop_db}
checks:
  quality:
    - {id: shop-schema, kind: schema_drift, target: shop-db, snapshot: qa/shop.yaml}
"""


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No AIRFLOW_* settings or connections, and a home and state folder of the test's own
    (so neither ~/airflow nor a running `make demo` stack can answer)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({"HOME": str(tmp_path / "home"), "VIGIL_STATE_DIR": str(tmp_path / "state")})
    env.update(extra)
    return env


def _run(
    args: list[str], env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)


def _shop_db(dsn: str) -> None:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE orders (id bigint PRIMARY KEY, total numeric(12, 2))")
    finally:
        conn.close()


def test_connections_added_in_airflow_are_found(fresh_db: str, tmp_path: Path) -> None:
    _shop_db(fresh_db)
    store = ResultStore(fresh_db)
    run = RunRef("qa", "daily", "qa_daily", "manual__1")
    store.record(run, [CheckResult(check_id="db-up", family="health", target="shop-db",
                                   status=Status.PASSED, message="answered")])  # fmt: skip
    store.finish_run(run)
    spec = tmp_path / "qa.yaml"
    spec.write_text(SPEC)
    env = _clean_env(tmp_path, AIRFLOW_HOME=str(tmp_path / "airflow"))
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    migrated = _run([str(BIN / "airflow"), "db", "migrate"], env, timeout=300)
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    for conn_id in ("shop_db", "vigil_results"):
        added = _run(
            [str(BIN / "airflow"), "connections", "add", conn_id, "--conn-uri", fresh_db], env
        )
        assert added.returncode == 0, added.stderr[-2000:]

    snap = _run([str(BIN / "vigil"), "snapshot-schema", "--target", "shop-db",
                 "--spec", str(spec), "--out", "-"], env)  # fmt: skip
    assert snap.returncode == 0, snap.stderr[-2000:]
    # stdout is the snapshot alone: Airflow's own log lines went to stderr.
    tables = yaml.safe_load(snap.stdout)["schemas"]["public"]["tables"]
    assert "orders" in tables and "total" in tables["orders"]["columns"]

    results = _run([str(BIN / "vigil"), "results", "--latest", "qa"], env)
    assert results.returncode == 0, results.stderr[-2000:]
    assert results.stdout.startswith("Run manual__1 of qa_daily (qa, daily): success")

    missing = _run([str(BIN / "vigil"), "results", "--latest", "qa", "--conn-id", "nope"], env)
    assert missing.returncode == 1
    assert missing.stderr.startswith("vigil results: connection 'nope' is not defined")
    assert "AIRFLOW_CONN_NOPE; Airflow: Airflow has no connection 'nope'" in missing.stderr


def test_the_local_stacks_store_is_found_without_setup(
    fresh_db: str, pg: LocalPostgres, tmp_path: Path
) -> None:
    env = _clean_env(tmp_path)
    paths = StackPaths.from_env(env)
    paths.state.mkdir(parents=True)
    Ports(pg=pg.port).save(paths)  # as `make demo` leaves them
    load_secrets(paths)
    with contextlib.suppress(Exception):  # another test of this session made it already
        pg.create_database("vigil_results")  # the stack's store, on this cluster's port
    store = ResultStore(pg.dsn("vigil_results"))
    run = RunRef("stacktest", "daily", "stacktest_daily", "manual__stack")
    store.record(run, [CheckResult(check_id="c", family="health", target="t",
                                   status=Status.PASSED)])  # fmt: skip
    store.finish_run(run)
    found = _run([str(BIN / "vigil"), "results", "--latest", "stacktest"], env)
    assert found.returncode == 0, found.stderr[-2000:]
    assert found.stdout.startswith("Run manual__stack of stacktest_daily")

    gone = _clean_env(tmp_path, VIGIL_STATE_DIR=str(tmp_path / "no-stack"))
    missing = _run([str(BIN / "vigil"), "results", "--latest", "stacktest"], gone)
    assert missing.returncode == 1
    assert "Airflow: not configured in this shell (no AIRFLOW_HOME)" in missing.stderr
    assert "set AIRFLOW_CONN_VIGIL_RESULTS" in missing.stderr
