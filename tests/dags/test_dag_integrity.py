"""The DAG file parses cleanly, cheaply and without side effects."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.dags.conftest import DAGS, REPO

if TYPE_CHECKING:  # imported where used: collecting the tests must not import Airflow
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import DAG, CronTriggerTimetable

    from vigil.spec.models import Spec

pytestmark = pytest.mark.dags

SPECS = REPO / "include" / "specs"


def _dagbag(dag_folder: Path = DAGS) -> DagBag:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(dag_folder))


def _cron(dag: DAG) -> CronTriggerTimetable:
    from airflow.sdk import CronTriggerTimetable

    assert isinstance(dag.timetable, CronTriggerTimetable), dag.timetable
    return dag.timetable


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
    assert _cron(dag).expression
    for task in dag.tasks:
        assert task.owner == "vigil", task.task_id
        assert task.retries is not None and task.retries >= 1, task.task_id
    assert dag.get_task("summarize").trigger_rule == "all_done"


def test_daily_schedule_follows_spec_cron_and_timezone() -> None:
    dag = _dagbag().dags["demo_daily"]
    assert _cron(dag).expression == "0 6 * * *"
    assert str(_cron(dag).timezone) in ("UTC", "Timezone('UTC')")
    assert dag.params["families"] == ["health", "quality", "scenarios", "probes"]


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
    # Scenarios: one task per journey, in their pool, after the health of every target
    # the journey uses; an exclusive one takes every slot of the pool.
    lifecycle = dag.get_task("scenarios.order-lifecycle")
    assert lifecycle.upstream_task_ids == {
        "health.orders-api",
        "health.inventory-api",
        "health.demo-db",
    }
    assert (lifecycle.pool, lifecycle.pool_slots) == ("vigil_scenarios", 1)
    feed = dag.get_task("scenarios.feed-lifecycle")
    assert feed.upstream_task_ids == {"health.orders-feed", "health.orders-api"}
    assert dag.get_task("scenarios.inventory-recovery").pool_slots == 4
    # Probes: in their one-slot pool, after their target's health and every other task.
    others = {t for t in ids if t.startswith(("health.", "quality.", "scenarios."))}
    for target in ("orders-api", "demo-db"):
        probes = dag.get_task(f"probes.{target}")
        assert probes.pool == "vigil_probes"
        assert probes.upstream_task_ids == others, target
    assert dag.get_task("quality.demo-db").pool == "default_pool"


def test_the_trigger_form_offers_scenarios_on_the_cadences_they_run() -> None:
    bag = _dagbag()
    daily = bag.dags["demo_daily"].params.get_param("checks").schema["items"]["enum"]
    weekly = bag.dags["demo_weekly"].params.get_param("checks").schema["items"]["enum"]
    assert "order-lifecycle" in daily and "order-lifecycle" in weekly
    # The demo's pytest suite runs weekly only: no task, and no choice, in the daily DAG.
    assert "orders-suite" in weekly and "orders-suite" not in daily
    assert "scenarios.orders-suite" in bag.dags["demo_weekly"].task_ids
    assert "scenarios.orders-suite" not in bag.dags["demo_daily"].task_ids


def test_unknown_target_in_run_params_is_rejected() -> None:
    import copy

    from airflow.sdk.exceptions import ParamValidationError

    params = copy.deepcopy(_dagbag().dags["demo_daily"].params)
    params["targets"] = ["orders-api"]
    assert params.validate()["targets"] == ["orders-api"]
    with pytest.raises(ParamValidationError, match="no-such-target"):
        params["targets"] = ["orders-api", "no-such-target"]
        params.validate()


# Packages a DAG file must not import at parse time: check runners, their clients and GX.
# Airflow re-parses DAG files every few seconds; these belong in the tasks.
PARSE_FORBIDDEN = (
    "requests",
    "docker",
    "great_expectations",
    "psycopg2",
    "asyncpg",
    "aiohttp",
    # A family's folder holds its record and check models, which parsing reads; its
    # runners (one module per check kind) and the batch runner load only in tasks.
    "vigil.checks.http",
    "vigil.checks.postgres",
    "vigil.checks.tcp",
    "vigil.checks.container",
    "vigil.quality.run",
    "vigil.quality.runner",
    "vigil.results",
    "vigil.pg",
    "vigil.http_client",
    # Performance probes: the load engine, its event loop and parser, the histogram.
    "vigil.probes.run",
    "vigil.probes.http_load",
    "vigil.probes.measure",
    "uvloop",
    "httptools",
    "hdrh",
    # Scenarios: the journey engine, the suite runner and their clients (a capture's
    # JSONPath is compiled when the spec loads, by design: a typo fails the parse).
    "vigil.scenarios.run",
    "vigil.scenarios.engine",
    "vigil.scenarios.suites",
    "websockets",
    "junitparser",
)

# Run in a fresh interpreter: first what Airflow's own parsing brings (the DagBag, the SDK
# and the provider the factory uses), then the DAG folder; what the folder imports on top
# of that baseline is what parsing it costs. Connections are refused and recorded.
PARSE_PROBE = """
import json, socket, sys
forbidden = tuple(json.loads(sys.argv[2]))
prefixes = tuple(f + "." for f in forbidden)
def watched():
    return {m for m in sys.modules if m in forbidden or m.startswith(prefixes)}
attempts = []
def refuse(self, address):
    attempts.append(str(address))
    raise OSError("parse-time connection attempt")
socket.socket.connect = refuse
socket.create_connection = lambda *a, **k: refuse(None, a[0] if a else None)
from airflow.dag_processing.dagbag import DagBag
import airflow.sdk
import airflow.providers.standard.operators.python
baseline = watched()
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "dags": sorted(bag.dag_ids),
    "errors": {k: v for k, v in bag.import_errors.items()},
    "connects": attempts,
    "baseline": sorted(baseline),
    "imported": sorted(watched() - baseline),
}))
"""


def _parse_report(dag_folder: Path, pythonpath: Path | None = None) -> dict[str, Any]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(dag_folder), json.dumps(PARSE_FORBIDDEN)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    # A package Airflow itself already imports could be imported by the DAG file unseen.
    assert report["baseline"] == [], (
        f"Airflow's own parsing now imports {report['baseline']}: the probe cannot see a DAG"
        " file importing those; take them out of PARSE_FORBIDDEN (with a note why)"
    )
    return report


def test_parsing_opens_no_connection_and_imports_no_runner_or_gx() -> None:
    report = _parse_report(DAGS)
    assert report["errors"] == {}
    assert "demo_daily" in report["dags"]
    assert report["connects"] == []
    assert report["imported"] == []


def test_the_parse_probe_sees_a_parse_time_import_of_requests(tmp_path: Path) -> None:
    # The real DAG file, plus a helper module that imports requests when it is imported.
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    (helpers / "vigil_planted_helper.py").write_text("import requests  # noqa: F401\n")
    dags = tmp_path / "dags"
    dags.mkdir()
    source = (DAGS / "vigil_dags.py").read_text()
    (dags / "vigil_dags.py").write_text("import vigil_planted_helper  # noqa: F401\n" + source)
    report = _parse_report(dags, pythonpath=helpers)
    assert report["errors"] == {}
    assert "demo_daily" in report["dags"]
    assert "requests" in report["imported"]


def test_broken_spec_is_an_import_error_of_its_own_file_and_spares_the_others(
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
    assert {"demo_daily", "demo_weekly", "demo_monthly"} <= set(bag.dag_ids)
    assert not any(d.startswith("broken_") for d in bag.dag_ids)
    # The import error belongs to the broken-specs file, never to the file of the good
    # DAGs (Airflow's dag-processor hides every DAG of a file with an import error).
    assert list(bag.import_errors) == [str(DAGS / "vigil_broken_specs.py")]
    message = bag.import_errors[str(DAGS / "vigil_broken_specs.py")]
    assert "broken.yaml:11" in message
    assert "timout_s" in message


def test_a_spec_that_loads_but_cannot_be_built_spares_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vigil.airflow import factory

    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy(SPECS / "demo.yaml", specs / "demo.yaml")
    (specs / "other.yaml").write_text(
        "environment: other\ntargets:\n  db: {kind: postgres, conn_id: x}\n"
        "checks:\n  health:\n    - {id: db-up, kind: postgres, target: db}\n"
    )
    real = factory.build_dag

    def explodes_for_other(spec: Spec, path: Path, cadence: str) -> DAG:
        if spec.environment == "other":
            raise OverflowError("date value out of range")
        return real(spec, path, cadence)

    monkeypatch.setattr(factory, "build_dag", explodes_for_other)
    namespace: dict[str, object] = {}
    factory.build_dags(namespace, specs)
    assert {"demo_daily", "demo_weekly", "demo_monthly"} <= set(namespace)
    assert not any(name.startswith("other_") for name in namespace)
    with pytest.raises(
        factory.SpecLoadError,
        match=r"other\.yaml: could not build its DAGs: "
        r"OverflowError: date value out of range",
    ):
        factory.raise_broken_specs(specs)


def test_quality_waits_for_health_whatever_order_the_spec_lists_families() -> None:
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
        "schedules": {"daily": {"cron": "0 6 * * *", "families": ["quality", "health"]}},
    })  # fmt: skip
    dag = build_dag(spec, Path("order.yaml"), "daily")
    assert dag.get_task("quality.db").upstream_task_ids == {"health.db"}


@pytest.mark.timeout(60)
def test_every_hostile_spec_next_to_a_good_one_costs_it_no_dag(tmp_path: Path) -> None:
    """The whole bad-spec corpus (alias bombs, deep nesting, huge numbers, literal secrets,
    ...) in one folder with the demo spec: the demo keeps its DAGs, and every bad file is
    named in the broken-specs report."""
    from vigil.airflow import factory

    corpus = Path(__file__).parents[1] / "unit" / "specs_bad"
    specs = tmp_path / "specs"
    shutil.copytree(corpus, specs)
    shutil.copy(SPECS / "demo.yaml", specs / "demo.yaml")
    namespace: dict[str, object] = {}
    factory.build_dags(namespace, specs)
    assert set(namespace) == {"demo_daily", "demo_weekly", "demo_monthly"}
    with pytest.raises(factory.SpecLoadError) as raised:
        factory.raise_broken_specs(specs)
    bad = sorted(p.name for p in corpus.iterdir() if p.suffix in (".yaml", ".yml"))
    report = str(raised.value)
    assert f"{len(bad)} spec file(s) failed to load" in report
    assert [name for name in bad if name not in report] == []
