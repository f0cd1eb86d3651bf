"""End to end: the real stack runs demo_daily, and the Airflow UI shows that run.

The stack comes up exactly as `make demo` brings it up (`python -m vigil.stack up`),
on free ports in a temporary state folder; the run is triggered through the REST API,
and the run's page is rendered by headless Chromium, logged in as the admin user.
A screenshot and the rendered DOM are kept under test-artifacts/e2e/.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest

from tests.e2e.conftest import Browser
from vigil.results import ResultStore, RunRef
from vigil.stack import control
from vigil.stack.airflow import api_url, pg_uri
from vigil.stack.demo_run import CADENCE, DAG_ID, ENVIRONMENT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]


def _text(dom: str) -> str:
    """The page's visible text, roughly: tags, scripts and styles removed."""
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


def test_probes_ran_in_their_one_slot_pool_after_every_other_check(
    e2e_stack: control.Stack, finished_run: str
) -> None:
    """The scheduler (not dag.test(), which ignores pools) ran the probe tasks in the pool
    `vigil.stack up` created, one at a time, after the other families' tasks ended."""
    pools = {p["name"]: p for p in e2e_stack.api().pools()}
    assert pools["vigil_probes"]["slots"] == 1, pools.get("vigil_probes")
    tis = {ti["task_id"]: ti for ti in e2e_stack.api().task_instances(DAG_ID, finished_run)}
    probes = [ti for task_id, ti in tis.items() if task_id.startswith("probes.")]
    others = [ti for task_id, ti in tis.items() if task_id.startswith(("health.", "quality."))]
    assert probes and others
    assert {ti["pool"] for ti in probes} == {"vigil_probes"}
    assert {ti["state"] for ti in probes} == {"success"}
    spans = sorted((ti["start_date"], ti["end_date"]) for ti in probes)
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans)), spans
    assert max(ti["end_date"] for ti in others) <= min(start for start, _ in spans)


def test_scenarios_ran_one_task_per_journey_and_the_exclusive_one_alone(
    e2e_stack: control.Stack, finished_run: str
) -> None:
    """Each journey is a task in the pool `vigil_scenarios`; `inventory-recovery`, which
    switches inventory-api off and on, takes every slot, so no other journey overlapped it."""
    pools = {p["name"]: p for p in e2e_stack.api().pools()}
    assert pools["vigil_scenarios"]["slots"] == 4, pools.get("vigil_scenarios")
    tis = {ti["task_id"]: ti for ti in e2e_stack.api().task_instances(DAG_ID, finished_run)}
    scenarios = {k: ti for k, ti in tis.items() if k.startswith("scenarios.")}
    assert "scenarios.order-lifecycle" in scenarios and len(scenarios) >= 7
    assert {ti["pool"] for ti in scenarios.values()} == {"vigil_scenarios"}
    assert {ti["state"] for ti in scenarios.values()} == {"success"}
    alone = scenarios.pop("scenarios.inventory-recovery")
    assert alone["pool_slots"] == 4
    for task_id, ti in scenarios.items():
        overlaps = ti["start_date"] < alone["end_date"] and alone["start_date"] < ti["end_date"]
        assert not overlaps, (task_id, ti["start_date"], ti["end_date"], alone)


def test_the_run_recorded_its_check_results(e2e_stack: control.Stack, finished_run: str) -> None:
    store = ResultStore(pg_uri(e2e_stack.ports, "vigil_results"))
    results = store.run_results(RunRef(ENVIRONMENT, CADENCE, DAG_ID, finished_run))
    assert results, f"no check results stored for {finished_run}"
    # Skips are allowed (a first run has no earlier row count to compare with); a failure
    # or an error against the healthy demo system is not.
    problems = [f"{r.check_id}: {r.status} {r.message}" for r in results if r.is_problem]
    assert {"health", "quality", "scenarios", "probes"} <= {r.family for r in results}
    assert not problems, "checks against the healthy demo system did not pass:\n" + "\n".join(
        problems
    )


def test_the_run_page_shows_the_successful_run(
    e2e_stack: control.Stack, finished_run: str, browser_as_admin: Browser, artifacts: Path
) -> None:
    url = f"{api_url(e2e_stack.ports)}/dags/{DAG_ID}/runs/{quote(finished_run, safe='')}"
    dom = browser_as_admin.dom(url)
    (artifacts / "demo_daily_run.html").write_text(dom)
    browser_as_admin.screenshot(url, artifacts / "demo_daily_run.png")
    text = _text(dom)
    assert finished_run in text, f"run id not on the page; saw: {text[:1500]}"
    assert "Success" in text, f"the run's state is not shown; saw: {text[:1500]}"
    # The task instances table lists the run's health tasks.
    assert "health." in text, f"no task instances shown; saw: {text[:1500]}"


def test_without_a_token_the_ui_asks_to_log_in(
    e2e_stack: control.Stack, finished_run: str, browser_anonymous: Browser, artifacts: Path
) -> None:
    url = f"{api_url(e2e_stack.ports)}/dags/{DAG_ID}/runs/{quote(finished_run, safe='')}"
    dom = browser_anonymous.dom(url)
    (artifacts / "anonymous.html").write_text(dom)
    text = _text(dom)
    assert finished_run not in text, "the run's page was shown without logging in"
    assert re.search(r"(?i)sign in|log ?in|username", text), f"no login form; saw: {text[:1500]}"


# --- a broken spec next to a good one, as the running dag-processor sees it ---------------

BROKEN_SPEC = """\
environment: broken
targets:
  db: {kind: postgres, conn_id: vigil_demo_db}
checks:
  health:
    - id: db-up
      kind: postgres
      target: db
      timout_s: 3
"""
DEMO_DAGS = ("demo_daily", "demo_weekly", "demo_monthly")
# The dag-processor re-parses each file every 30 s here (stack settings); two rounds of
# both files and a margin.
PARSE_WAIT_S = 180
T = TypeVar("T")


def _wait(what: str, probe: Callable[[], T], timeout: float = PARSE_WAIT_S) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(2)
    raise AssertionError(f"{what}: not seen within {timeout:.0f} s")


def test_a_broken_spec_keeps_the_other_dags_and_shows_its_problems(
    e2e_stack: control.Stack, finished_run: str, browser_as_admin: Browser, artifacts: Path
) -> None:
    """Airflow 3.3's dag-processor hides every DAG of a file that has an import error: the
    broken spec's error must come from its own file, and the demo's DAGs must stay listed,
    unpaused and triggerable while it is there."""
    api = e2e_stack.api()
    broken = e2e_stack.paths.specs / "broken.yaml"
    broken.write_text(BROKEN_SPEC)
    written = datetime.now(UTC)
    try:
        errors = _wait(
            "an import error naming broken.yaml",
            lambda: [e for e in api.import_errors() if "broken.yaml" in e],
        )
        (error,) = errors
        assert "vigil_broken_specs.py" in error.split(":", 1)[0]
        assert "broken.yaml:9:" in error and "timout_s" in error, error[:2000]
        # The file with the good DAGs is parsed again after the broken spec appeared, and
        # keeps every DAG: listed, active, unpaused.
        for dag_id in DEMO_DAGS:

            def reparsed(dag_id: str = dag_id) -> bool:
                return _parsed_since(api.get_dag(dag_id), written)

            _wait(f"{dag_id} re-parsed after the broken spec was added", reparsed)
            dag = api.get_dag(dag_id)
            assert dag is not None and not dag["is_stale"] and not dag["is_paused"], dag
        run_id = api.trigger("demo_daily", {"families": ["health"], "dry_run": True})
        assert api.wait_run("demo_daily", run_id, timeout=600) == "success"
        # What a person sees: the DAG list with the import-error notice, and the demo's DAGs.
        url = f"{api_url(e2e_stack.ports)}/dags"
        dom = browser_as_admin.dom(url)
        (artifacts / "dags_with_broken_spec.html").write_text(dom)
        browser_as_admin.screenshot(url, artifacts / "dags_with_broken_spec.png")
        text = _text(dom)
        assert "demo_daily" in text, f"the demo's DAGs are not listed; saw: {text[:1500]}"
        # The list's "Dag Import Error" badge, with its count; clicking it opens the text
        # that GET /api/v2/importErrors gave above (file, line and field of the problem).
        badge = re.search(r'<button[^>]*aria-label="Dag Import Error"[^>]*>(.*?)</button>', dom)
        assert badge is not None, f"no import-error badge on the DAG list; saw: {text[:1500]}"
        assert _text(badge.group(1)).strip() == "1", badge.group(0)[:500]
    finally:
        broken.unlink(missing_ok=True)


def _parsed_since(dag: dict[str, Any] | None, moment: datetime) -> bool:
    if dag is None or not dag.get("last_parsed_time"):
        return False
    parsed = datetime.fromisoformat(str(dag["last_parsed_time"]).replace("Z", "+00:00"))
    return parsed > moment
