"""The DAG file parses cleanly, cheaply and without side effects."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dags.conftest import DAGS, REPO

pytestmark = pytest.mark.dags

SPECS = REPO / "include" / "specs"


def _dagbag(dag_folder: Path = DAGS):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(dag_folder))


def test_dag_file_loads_every_cadence_without_import_errors() -> None:
    bag = _dagbag()
    assert bag.import_errors == {}
    assert {"demo_daily", "demo_weekly", "demo_monthly"} <= set(bag.dag_ids)


@pytest.mark.parametrize("dag_id", ["demo_daily", "demo_weekly", "demo_monthly"])
def test_every_dag_has_tags_owner_retries_schedule_and_docs(dag_id: str) -> None:
    dag = _dagbag().dags[dag_id]
    assert {"vigil", "demo"} <= set(dag.tags)
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert dag.doc_md and "demo-db-up" in dag.doc_md
    assert dag.timetable is not None and dag.timetable.expression
    for task in dag.tasks:
        assert task.owner == "vigil", task.task_id
        assert task.retries >= 1, task.task_id
    assert dag.get_task("summarize").trigger_rule == "all_done"


def test_daily_schedule_follows_spec_cron_and_timezone() -> None:
    dag = _dagbag().dags["demo_daily"]
    assert dag.timetable.expression == "0 6 * * *"
    assert str(dag.timetable.timezone) in ("UTC", "Timezone('UTC')")
    assert dag.params["kinds"] == ["health", "quality"]


def test_tasks_are_grouped_by_kind_and_ordered_by_target_dependencies() -> None:
    dag = _dagbag().dags["demo_daily"]
    ids = set(dag.task_ids)
    assert {"health.demo-db", "health.inventory-api", "health.orders-api", "summarize"} <= ids
    orders = dag.get_task("health.orders-api")
    assert {"health.demo-db", "health.inventory-api"} <= orders.upstream_task_ids
    assert dag.get_task("health.demo-db").upstream_task_ids == set()
    # One data-quality task per database, gated on that database's health.
    assert dag.get_task("quality.demo-db").upstream_task_ids == {"health.demo-db"}
    assert dag.get_task("evaluate").upstream_task_ids == {"summarize"}


def test_unknown_target_in_run_params_is_rejected() -> None:
    import copy

    from airflow.sdk.definitions.param import ParamValidationError

    params = copy.deepcopy(_dagbag().dags["demo_daily"].params)
    params["targets"] = ["orders-api"]
    assert params.validate()["targets"] == ["orders-api"]
    with pytest.raises(ParamValidationError, match="no-such-target"):
        params["targets"] = ["orders-api", "no-such-target"]
        params.validate()


PARSE_PROBE = """
import json, socket, sys
attempts = []
real_connect = socket.socket.connect
def refuse(self, address):
    attempts.append(str(address))
    raise OSError("parse-time connection attempt")
socket.socket.connect = refuse
socket.create_connection = lambda *a, **k: refuse(None, a[0] if a else None)
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "dags": sorted(bag.dag_ids),
    "errors": {k: v for k, v in bag.import_errors.items()},
    "connects": attempts,
    "gx": "great_expectations" in sys.modules,
    "runners": sorted(m for m in sys.modules if m.startswith(("vigil.checks", "vigil.results",
                                                              "requests", "docker"))),
}))
"""


def test_parsing_opens_no_connection_and_imports_no_runner_or_gx() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(DAGS)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}
    assert "demo_daily" in report["dags"]
    assert report["connects"] == []
    assert report["gx"] is False
    assert [m for m in report["runners"] if m.startswith(("vigil.checks", "vigil.results"))] == []


def test_broken_spec_is_an_import_error_naming_file_and_line_and_spares_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy(SPECS / "demo.yaml", specs / "demo.yaml")
    (specs / "broken.yaml").write_text(
        "environment: broken\ntargets:\n  db:\n    kind: postgres\n    conn_id: x\n"
        "checks:\n  health:\n    - id: db-up\n      kind: postgres\n      target: db\n"
        "      timout_s: 3\n"
    )
    monkeypatch.setenv("VIGIL_SPECS_DIR", str(specs))
    bag = _dagbag()
    assert "demo_daily" in bag.dag_ids
    assert not any(d.startswith("broken_") for d in bag.dag_ids)
    assert len(bag.import_errors) == 1
    message = next(iter(bag.import_errors.values()))
    assert "broken.yaml:11" in message
    assert "timout_s" in message


def test_quality_waits_for_health_whatever_order_the_spec_lists_kinds() -> None:
    from vigil.airflow.factory import build_dag
    from vigil.spec.models import Spec

    spec = Spec.model_validate({
        "environment": "order",
        "targets": {"db": {"kind": "postgres", "conn_id": "db"}},
        "checks": {
            "health": [{"id": "db-up", "kind": "postgres", "target": "db"}],
            "quality": [{"id": "orders-data", "kind": "suite", "target": "db",
                         "suite": "x/orders.json", "table": "orders"}],
        },
        "schedules": {"daily": {"cron": "0 6 * * *", "kinds": ["quality", "health"]}},
    })  # fmt: skip
    dag = build_dag(spec, Path("order.yaml"), "daily")
    assert dag.get_task("quality.db").upstream_task_ids == {"health.db"}
