"""End to end: the real stack runs demo_daily, and the Airflow UI shows that run.

The stack comes up exactly as `make demo` brings it up (`python -m vigil.stack up`),
on free ports in a temporary state folder; the run is triggered through the REST API,
and the run's page is rendered by headless Chromium, logged in as the admin user.
A screenshot and the rendered DOM are kept under test-artifacts/e2e/.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.e2e.conftest import Browser
from vigil.results import ResultStore, RunRef
from vigil.stack import control
from vigil.stack.airflow import api_url, pg_uri
from vigil.stack.demo_run import CADENCE, DAG_ID, ENVIRONMENT, ensure_dag

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]


def _text(dom: str) -> str:
    """The page's visible text, roughly: tags, scripts and styles removed."""
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


@pytest.fixture(scope="module")
def finished_run(e2e_stack: control.Stack) -> str:
    """One run of demo_daily, triggered through the REST API and finished successfully."""
    api = e2e_stack.api()
    ensure_dag(api, e2e_stack.paths, e2e_stack.env())
    run_id = api.trigger(DAG_ID)
    state = api.wait_run(DAG_ID, run_id, timeout=600)
    tasks = {t["task_id"]: t["state"] for t in api.task_instances(DAG_ID, run_id)}
    assert state == "success", f"run {run_id} ended {state}; tasks: {tasks}"
    return run_id


def test_the_run_recorded_its_check_results(e2e_stack: control.Stack, finished_run: str) -> None:
    store = ResultStore(pg_uri(e2e_stack.ports, "vigil_results"))
    results = store.run_results(RunRef(ENVIRONMENT, CADENCE, DAG_ID, finished_run))
    assert results, f"no check results stored for {finished_run}"
    # Skips are allowed (a first run has no earlier row count to compare with); a failure
    # or an error against the healthy demo system is not.
    problems = [f"{r.check_id}: {r.status} {r.message}" for r in results if r.is_problem]
    assert any(r.kind == "health" for r in results) and any(r.kind == "quality" for r in results)
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
