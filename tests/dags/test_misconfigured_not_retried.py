"""A real `dag.test()`: a health task whose check is misconfigured (an environment variable
not set) fails on its first try, while one whose target is unreachable is retried. The
spec allows one retry a second later, so a wrongly retried task would show try 2."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dags.conftest import run_dag
from vigil.stack.postgres import LocalPostgres, free_port

pytestmark = pytest.mark.dags

SPEC = """\
environment: misconf
defaults: {{retries: 1, retry_delay_s: 0.5}}
targets:
  api:
    kind: http
    base_url: http://127.0.0.1:{closed}
    headers:
      Authorization: Bearer ${{MISCONF_DAG_TOKEN_NOT_SET}}
  closed:
    kind: http
    base_url: http://127.0.0.1:{closed}
checks:
  health:
    - {{id: api-health, kind: http, target: api, timeout_s: 1}}
    - {{id: closed-health, kind: http, target: closed, timeout_s: 1}}
schedules:
  daily: {{cron: "0 6 * * *", families: [health]}}
"""


@pytest.fixture
def env(pg: LocalPostgres, airflow_db: str, tmp_path: Path) -> Iterator[None]:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "misconf.yaml").write_text(SPEC.format(closed=free_port()))
    pg.create_database("dagtest_misconf")
    values = {
        "AIRFLOW_CONN_VIGIL_RESULTS": pg.dsn("dagtest_misconf"),
        "VIGIL_SPECS_DIR": str(specs),
        "VIGIL_STATE_DIR": str(tmp_path / "state"),
    }
    saved = {k: os.environ.get(k) for k in [*values, "MISCONF_DAG_TOKEN_NOT_SET"]}
    os.environ.pop("MISCONF_DAG_TOKEN_NOT_SET", None)
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_a_misconfigured_task_fails_at_once_and_an_unreachable_one_is_retried(
    env: None,
) -> None:
    dag_run = run_dag("misconf_daily")
    tis: dict[str, Any] = {ti.task_id: ti for ti in dag_run.get_task_instances()}
    assert dag_run.state == "failed"
    misconfigured, unreachable = tis["health.api"], tis["health.closed"]
    assert (misconfigured.state, misconfigured.try_number) == ("failed", 1)
    assert (unreachable.state, unreachable.try_number) == ("failed", 2)
