"""`vigil run` as a deployment pipeline runs it: the real console script against the real
demo system and PostgreSQL — exit codes, the JUnit file read back with junitparser, the
JSON results, the results store written when configured and said so when not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from tests.support.demo_system import running_demo, wait_for_health
from vigil.results.store import ResultStore, RunRef
from vigil.stack.postgres import LocalPostgres, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "include" / "specs" / "demo.yaml"
VIGIL = Path(sys.executable).parent / "vigil"


@pytest.fixture(scope="module")
def demo(pg: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with running_demo(pg, "vigilrun_demo", tmp_path_factory.mktemp("demo")) as system:
        yield system


def environ(pg: LocalPostgres, demo: Any, tmp_path: Path, results: str | None) -> dict[str, str]:
    from demo import config as demo_config

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "DEMO_"))}
    env.update(
        {
            "AIRFLOW_CONN_VIGIL_DEMO_DB": demo.dsn,
            "DEMO_ORDERS_URL": demo.orders_url,
            "DEMO_INVENTORY_URL": demo.inventory_url,
            "DEMO_DB_ADDR": f"127.0.0.1:{pg.port}",
            "DEMO_TOKEN_ACME": demo_config.ACME_TOKEN,
            "DEMO_TOKEN_GLOBEX": demo_config.GLOBEX_TOKEN,
            "DEMO_ADMIN_TOKEN": demo_config.admin_token(),
            "DEMO_WEBHOOK_SECRET": "vigil-run-secret",
            "DEMO_WEBHOOK_URL": "http://127.0.0.1:9/closed",  # discard port: nobody listens
            "VIGIL_STATE_DIR": str(tmp_path / "state"),
        }
    )
    if results is not None:
        env["AIRFLOW_CONN_VIGIL_RESULTS"] = results
    return env


def vigil_run(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VIGIL), "run", *map(str, args)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_a_healthy_demo_passes_with_junit_and_json_matching_the_results(
    pg: LocalPostgres, demo: Any, tmp_path: Path
) -> None:
    junit, rows = tmp_path / "out" / "vigil.xml", tmp_path / "out" / "results.json"
    env = environ(pg, demo, tmp_path, results=None)
    done = vigil_run(env, SPEC, "--families", "health", "--junit", junit, "--json", rows)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "results: not recorded: no results store" in done.stdout
    assert "vigil_results" in done.stdout  # names the connection it looked for
    report = Path(done.stdout.split("run report: ")[1].splitlines()[0])
    assert report.is_file() and "demo-db-up" in report.read_text()

    results = json.loads(rows.read_text())
    assert results and {r["family"] for r in results} == {"health"}
    assert all(r["status"] == "passed" for r in results), results
    cases = {(c.classname, c.name): c for suite in JUnitXml.fromfile(str(junit)) for c in suite}
    assert set(cases) == {(f"health.{r['target']}", r["check_id"]) for r in results}
    assert all(case.is_passed for case in cases.values())


def test_a_failing_target_exits_one_with_failures_and_skips_in_junit(
    pg: LocalPostgres, demo: Any, tmp_path: Path
) -> None:
    from demo import faults

    junit = tmp_path / "vigil.xml"
    env = environ(pg, demo, tmp_path, results=None)
    faults.set_fault("inventory-down", True, dsn=demo.dsn)
    try:
        wait_for_health(demo.inventory_url, 503)
        done = vigil_run(env, SPEC, "--families", "health", "--junit", junit)
    finally:
        faults.set_fault("inventory-down", False, dsn=demo.dsn)
        wait_for_health(demo.inventory_url, 200)
    assert done.returncode == 1, done.stdout + done.stderr
    cases = [c for suite in JUnitXml.fromfile(str(junit)) for c in suite]
    outcome = {c.name: type(c.result[0]) if c.result else None for c in cases}
    assert outcome["inventory-api-health"] in (Failure, Error)
    # orders-api depends on inventory-api: skipped with the reason, not failed.
    skipped = [c for c in cases if c.classname == "health.orders-api"]
    assert skipped and all(isinstance(c.result[0], Skipped) for c in skipped)
    assert all("inventory-api is unhealthy" in (c.result[0].message or "") for c in skipped)


def test_with_a_results_store_the_run_is_recorded(
    pg: LocalPostgres, demo: Any, tmp_path: Path
) -> None:
    pg.create_database("vigilrun_results")
    env = environ(pg, demo, tmp_path, results=pg.dsn("vigilrun_results"))
    done = vigil_run(env, SPEC, "--families", "health", "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "results: recorded in the results store" in done.stdout
    store = ResultStore(pg.dsn("vigilrun_results"))
    (run,) = store.recent_runs("demo")
    stored = store.run_results(RunRef("demo", "daily", "demo_daily", run.ref.run_id))
    assert stored and {r.family for r in stored} == {"health"}
    assert run.dry_run and run.counts.passed == len(stored)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--targets", "orders-apii"), "unknown target 'orders-apii'"),
        (("--families", "journeys"), "unknown family 'journeys'"),
    ],
)
def test_bad_arguments_exit_two_and_run_nothing(
    pg: LocalPostgres, demo: Any, tmp_path: Path, args: tuple[str, ...], words: str
) -> None:
    done = vigil_run(environ(pg, demo, tmp_path, results=None), SPEC, *args)
    assert done.returncode == 2
    assert words in done.stderr and done.stdout == ""


def test_a_bad_spec_exits_two_with_its_located_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("environment: bad\ntargets:\n  t: {kind: tcp, adress: '127.0.0.1:1'}\n")
    done = vigil_run(dict(os.environ), bad)
    assert done.returncode == 2
    assert f"{bad}:3:" in done.stderr and "adress" in done.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--cadence", "weekly", "--families", "quality"), "not in the weekly cadence"),
        (("--targets", "inventory-api", "--checks", "orders-api-health"), "matches no check"),
    ],
)
def test_a_selection_that_runs_nothing_exits_two(
    pg: LocalPostgres, demo: Any, tmp_path: Path, args: tuple[str, ...], words: str
) -> None:
    spec = tmp_path / "weekly_health.yaml"  # the demo, its weekly cadence health only
    weekly = '  weekly:\n    cron: "0 7 * * 1"\n'
    assert weekly in SPEC.read_text()
    spec.write_text(SPEC.read_text().replace(weekly, weekly + "    families: [health]\n"))
    done = vigil_run(environ(pg, demo, tmp_path, results=None), spec, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert words in done.stderr and done.stdout == ""


def test_an_unreachable_results_store_exits_two_before_running(
    pg: LocalPostgres, demo: Any, tmp_path: Path
) -> None:
    closed = f"postgresql://u:p@127.0.0.1:{free_port()}/nothing"
    done = vigil_run(
        environ(pg, demo, tmp_path, results=closed), SPEC, "--junit", tmp_path / "j.xml"
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "results store unusable, nothing ran" in done.stderr and done.stdout == ""
