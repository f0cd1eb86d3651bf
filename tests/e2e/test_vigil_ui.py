"""End to end: Vigil's pages inside the Airflow UI, in headless Chromium.

The stack comes up as `make demo` brings it up, on free ports (tests/e2e/conftest.py); the
API server loads the plugin from plugins/ at its start. demo_daily runs once through the
real scheduler (the session's `finished_run`, tests/e2e/conftest.py). Chromium, driven over its
DevTools protocol and logged in by the UI's `_token` cookie, then does what a person
does: finds the "Vigil" entry in the navigation, clicks it, follows links inside Vigil's
pages, opens a run's and a task's "Vigil" tab. Assertions read the DOM rendered inside
Airflow's iframe; a screenshot of each page is kept under test-artifacts/e2e/.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from websockets.sync.client import ClientConnection, connect

from tests.e2e.conftest import Browser
from tests.e2e.test_airflow_ui import _text
from tests.support.chromium import FLAGS
from vigil.result import CheckResult, Status
from vigil.results import ResultStore, RunRef
from vigil.stack import control
from vigil.stack.airflow import api_url, pg_uri
from vigil.stack.demo_run import CADENCE, DAG_ID, ENVIRONMENT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

WIDTH, HEIGHT = 1400, 900
PAGE_TIMEOUT_S = 60
# The document in Airflow's plugin iframe: its decoded path and text, once it has loaded.
FRAME = """(() => {
  const f = document.querySelector('iframe[title="Vigil"]');
  const d = f && f.contentDocument;
  if (!d || d.readyState !== 'complete' || !d.body || !d.body.innerText.trim()) return null;
  return {path: decodeURIComponent(f.contentWindow.location.pathname), text: d.body.innerText,
          html: d.documentElement.outerHTML, src: f.getAttribute('src'),
          theme: d.documentElement.getAttribute('data-theme')};
})()"""


class Tab:
    """One headless Chromium tab, driven over the DevTools protocol (the `websockets`
    client): navigate, click, read the DOM (the plugin's iframe is same-origin), capture."""

    def __init__(self, binary: Path) -> None:
        self._profile = tempfile.TemporaryDirectory(
            prefix="vigil-e2e-devtools-", ignore_cleanup_errors=True
        )
        argv = [
            str(binary), *FLAGS, f"--user-data-dir={self._profile.name}",
            "--remote-debugging-port=0", f"--window-size={WIDTH},{HEIGHT}", "about:blank",
        ]  # fmt: skip
        # Its own process group: Chromium's helper processes end with it.
        self._chromium = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._ids = 0
        self._closing = contextlib.ExitStack()
        try:
            self._ws: ClientConnection = self._closing.enter_context(
                connect(self._page_socket(), max_size=None, proxy=None, open_timeout=30)
            )
            self.call("Page.enable")
            self.call(
                "Emulation.setDeviceMetricsOverride",
                width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False,
            )  # fmt: skip
        except BaseException:
            self.close()
            raise

    def _page_socket(self) -> str:
        """Chromium writes the port it chose to DevToolsActivePort in its profile."""
        port_file = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self._chromium.poll() is not None:
                raise AssertionError("headless Chromium did not open its DevTools port")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        targets = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        return str(next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page"))

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._ids += 1
        self._ws.send(json.dumps({"id": self._ids, "method": method, "params": params}))
        while True:  # events arrive in between: skip them
            message = json.loads(self._ws.recv(timeout=PAGE_TIMEOUT_S))
            if message.get("id") == self._ids:
                assert "error" not in message, f"{method}: {message['error']}"
                return dict(message.get("result") or {})

    def eval(self, expression: str) -> Any:
        done = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in done:
            raise AssertionError(f"{expression[:200]}: {done['exceptionDetails']}")
        return done["result"].get("value")

    def wait(self, what: str, expression: str, timeout: float = PAGE_TIMEOUT_S) -> Any:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.eval(expression)
            except AssertionError as exc:  # e.g. asked while a document was replaced
                last = str(exc)[-300:]
            else:
                if last:
                    return last
            time.sleep(0.3)
        raise AssertionError(f"{what}: not seen within {timeout:.0f} s (last: {last!r})")

    def goto(self, url: str) -> None:
        """Load `url`; returns once the new document replaced the old one (even when both
        have the same address), so nothing read afterwards comes from the old one."""
        self.eval("window.__vigilOld = true")
        self.call("Page.navigate", url=url)
        self.wait(f"{url} loading", "document.URL !== 'about:blank' && !window.__vigilOld")

    def frame(self, path: str) -> dict[str, Any]:
        """Airflow's plugin iframe once it shows `path` (decoded), with its text and HTML."""
        found: dict[str, Any] = self.wait(
            f"Vigil's page {path} in Airflow's iframe",
            f"(() => {{ const f = {FRAME}; "
            f"return f && f.path === {json.dumps(path)} ? f : null }})()",
        )
        return found

    def click_link(self, what: str, condition: str, *, in_frame: bool = False) -> None:
        """Click the first link for which the JS `condition` (on `a`) holds."""
        scope = "document.querySelector('iframe').contentDocument" if in_frame else "document"
        finder = f"[...{scope}.querySelectorAll('a')].find(a => {condition})"
        self.wait(what, f"!!{finder}")
        self.eval(f"{finder}.click()")

    def screenshot(self, png: Path) -> Path:
        png.write_bytes(base64.b64decode(self.call("Page.captureScreenshot")["data"]))
        return png

    def close(self) -> None:
        self._closing.close()
        for signal_ in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._chromium.pid, signal_)
            try:
                self._chromium.wait(timeout=30)
                break
            except subprocess.TimeoutExpired:
                continue
        deadline = time.monotonic() + 10  # the helpers, before their profile goes
        with contextlib.suppress(ProcessLookupError):
            while time.monotonic() < deadline:
                os.killpg(self._chromium.pid, 0)
                time.sleep(0.1)
        self._profile.cleanup()


@pytest.fixture(scope="module")
def tab(chromium: Path, e2e_stack: control.Stack) -> Iterator[Tab]:
    """Chromium logged in to the Airflow UI as the admin: the cookie its login sets."""
    browser = Tab(chromium)
    try:
        browser.call(
            "Network.setCookie", name="_token", value=e2e_stack.api().token(),
            url=f"{api_url(e2e_stack.ports)}/", httpOnly=True, sameSite="Lax",
        )  # fmt: skip
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def a_check(e2e_stack: control.Stack, finished_run: str) -> CheckResult:
    """A check of the run that passed, with its evidence, as the store has it."""
    store = ResultStore(pg_uri(e2e_stack.ports, "vigil_results"))
    results = store.run_results(RunRef(ENVIRONMENT, CADENCE, DAG_ID, finished_run))
    passed = sorted(
        (r for r in results if r.family == "health" and r.status == Status.PASSED and r.message),
        key=lambda r: r.check_id,
    )
    assert passed, f"no passed health check with a message in {finished_run}"
    return passed[0]


def _url(stack: control.Stack, path: str) -> str:
    return f"{api_url(stack.ports)}{path}"


def _keep(tab: Tab, frame: dict[str, Any], artifacts: Path, name: str) -> None:
    (artifacts / f"{name}.html").write_text(frame["html"])
    tab.screenshot(artifacts / f"{name}.png")


def test_the_navigation_entry_opens_the_overview(
    e2e_stack: control.Stack,
    finished_run: str,
    tab: Tab,
    artifacts: Path,
) -> None:
    tab.goto(_url(e2e_stack, "/"))
    entry = "a[aria-label='Vigil']"
    href = tab.wait("the Vigil entry in Airflow's navigation",
                    f"document.querySelector(\"{entry}\")?.getAttribute('href')")  # fmt: skip
    assert href == "/plugin/vigil"
    icon = tab.eval(f"document.querySelector(\"{entry} img\")?.getAttribute('src')")
    assert str(icon).startswith("data:image/svg+xml"), icon
    tab.screenshot(artifacts / "vigil_nav.png")
    tab.eval(f'document.querySelector("{entry}").click()')
    frame = tab.frame("/vigil/")
    # The UI's address follows the iframe's: /plugin/vigil + /vigil/.
    assert tab.eval("location.pathname") in ("/plugin/vigil", "/plugin/vigil/vigil/")
    assert frame["src"] == "vigil/", "the iframe's src is not the relative href"
    text = frame["text"]
    for shown in ("Overview", ENVIRONMENT, "health", "quality", "probes"):
        assert shown in text, f"{shown!r} not on the overview; saw: {text[:1500]}"
    assert "healthy" in text.lower(), f"no health verdict on the overview; saw: {text[:1500]}"
    # The latest run of each family links to its report (the scheduler may have run a
    # weekly or monthly DAG since `finished_run`).
    assert f"runs/{ENVIRONMENT}_" in frame["html"], "no link to a run on the overview"
    _keep(tab, frame, artifacts, "vigil_overview")


def test_a_link_inside_vigil_opens_the_environment(
    e2e_stack: control.Stack,
    finished_run: str,
    tab: Tab,
    artifacts: Path,
) -> None:
    tab.goto(_url(e2e_stack, "/plugin/vigil"))
    tab.frame("/vigil/")
    tab.click_link(
        "a link to the demo environment", f"a.innerText.trim() === '{ENVIRONMENT}'", in_frame=True
    )
    frame = tab.frame(f"/vigil/environments/{ENVIRONMENT}")
    # Airflow follows the iframe: the address bar can be bookmarked and shared.
    assert tab.eval("location.pathname") == f"/plugin/vigil/vigil/environments/{ENVIRONMENT}"
    text = frame["text"]
    crumbs = f"Overview \u203a {ENVIRONMENT}"  # the breadcrumbs
    assert crumbs in text, f"not the environment's page; saw: {text[:1500]}"
    assert "pass rate" in text.lower(), f"no pass rate on the page; saw: {text[:1500]}"
    assert "<svg" in frame["html"], "no chart on the environment page"
    # Among the runs charted (the scheduler may have run a weekly DAG since).
    assert finished_run in frame["html"], "the run is not on the environment's page"
    _keep(tab, frame, artifacts, "vigil_environment")


def test_a_check_page_shows_its_latest_result(
    e2e_stack: control.Stack, a_check: CheckResult, tab: Tab, artifacts: Path
) -> None:
    """Opened from a bookmark: Airflow's /plugin/vigil/<path> loads <path> in the iframe."""
    path = f"/vigil/environments/{ENVIRONMENT}/checks/{a_check.check_id}"
    tab.goto(_url(e2e_stack, f"/plugin/vigil{path}"))
    frame = tab.frame(path)
    text = frame["text"]
    assert a_check.check_id in text
    assert "passed" in text.lower(), f"the check's outcome is not shown; saw: {text[:1500]}"
    assert a_check.message[:40] in text, f"the latest result's message is missing: {text[:1500]}"
    _keep(tab, frame, artifacts, "vigil_check")


def test_a_link_to_an_airflow_page_leaves_the_iframe(
    e2e_stack: control.Stack, a_check: CheckResult, tab: Tab
) -> None:
    """Airflow's sandbox has no allow-top-navigation: the page's own script hands the
    link to Airflow's router, and Airflow (not the iframe) shows the task's page."""
    path = f"/vigil/environments/{ENVIRONMENT}/checks/{a_check.check_id}"
    tab.goto(_url(e2e_stack, f"/plugin/vigil{path}"))
    tab.frame(path)
    tab.click_link("the task-log link", "a.classList.contains('task-log')", in_frame=True)
    landed = tab.wait(
        "Airflow's own page of the task",
        "location.pathname.includes('/dags/demo_daily/runs/') ? location.pathname : null",
    )
    assert "/tasks/" in landed, landed


def test_the_alerts_page_offers_a_silence(
    e2e_stack: control.Stack, tab: Tab, artifacts: Path
) -> None:
    tab.goto(_url(e2e_stack, "/plugin/vigil/vigil/alerts"))
    frame = tab.frame("/vigil/alerts")
    text = frame["text"]
    assert "Firing" in text and "Resolved" in text, f"no alert groups; saw: {text[:1500]}"
    forms = tab.eval(
        "[...document.querySelector('iframe').contentDocument.querySelectorAll('form')]"
        ".map(f => f.getAttribute('action'))"
    )
    assert any(str(action).endswith("/silences") for action in forms), forms
    _keep(tab, frame, artifacts, "vigil_alerts")


def test_the_dark_theme_follows_airflow(
    e2e_stack: control.Stack, tab: Tab, artifacts: Path
) -> None:
    """Airflow keeps its colour mode in localStorage["theme"]; Vigil's pages read it."""
    tab.goto(_url(e2e_stack, "/plugin/vigil"))
    tab.frame("/vigil/")
    tab.eval("localStorage.setItem('theme', 'dark')")
    try:
        tab.goto(_url(e2e_stack, "/plugin/vigil"))
        frame = tab.frame("/vigil/")
        assert frame["theme"] == "dark", frame["theme"]
        _keep(tab, frame, artifacts, "vigil_overview_dark")
    finally:
        tab.eval("localStorage.setItem('theme', 'light')")


def test_a_dag_run_has_a_vigil_tab_with_its_report(
    e2e_stack: control.Stack,
    finished_run: str,
    tab: Tab,
    artifacts: Path,
) -> None:
    run = quote(finished_run, safe="")
    tab.goto(_url(e2e_stack, f"/dags/{DAG_ID}/runs/{run}"))
    tab.click_link(
        "the run's Vigil tab",
        "a.innerText.trim() === 'Vigil' && a.getAttribute('href').endsWith('/plugin/vigil-run')",
    )
    frame = tab.frame(f"/vigil/runs/{DAG_ID}/{finished_run}")
    text = frame["text"]
    for shown in (DAG_ID, finished_run, "health", "quality", "probes"):
        assert shown in text, f"{shown!r} not in the run's tab; saw: {text[:1500]}"
    _keep(tab, frame, artifacts, "vigil_run_tab")


def test_a_task_instance_has_a_vigil_tab_with_its_checks(
    e2e_stack: control.Stack,
    finished_run: str,
    a_check: CheckResult,
    tab: Tab,
    artifacts: Path,
) -> None:
    task_id = f"{a_check.family}.{a_check.target}"
    tasks = {ti["task_id"] for ti in e2e_stack.api().task_instances(DAG_ID, finished_run)}
    assert task_id in tasks, sorted(tasks)
    run = quote(finished_run, safe="")
    tab.goto(_url(e2e_stack, f"/dags/{DAG_ID}/runs/{run}/tasks/{task_id}"))
    tab.click_link(
        "the task's Vigil tab",
        "a.innerText.trim() === 'Vigil' && a.getAttribute('href').endsWith('/plugin/vigil-task')",
    )
    frame = tab.frame(f"/vigil/runs/{DAG_ID}/{finished_run}/tasks/{task_id}")
    text = frame["text"]
    assert task_id in text and a_check.check_id in text, f"saw: {text[:1500]}"
    assert a_check.message[:40] in text, f"the check's message is missing: {text[:1500]}"
    _keep(tab, frame, artifacts, "vigil_task_tab")


def test_airflow_lists_the_plugin(e2e_stack: control.Stack) -> None:
    headers = {"Authorization": f"Bearer {e2e_stack.api().token()}"}
    answer = requests.get(_url(e2e_stack, "/api/v2/plugins"), headers=headers, timeout=15)
    assert answer.status_code == 200, answer.text
    (plugin,) = [p for p in answer.json()["plugins"] if p["name"] == "vigil"]
    assert {v["url_route"] for v in plugin["external_views"]} == {
        "vigil", "vigil-run", "vigil-task",
    }  # fmt: skip


def test_the_json_api_answers_a_bearer_token(
    e2e_stack: control.Stack,
    finished_run: str,
) -> None:
    headers = {"Authorization": f"Bearer {e2e_stack.api().token()}"}
    url = _url(e2e_stack, f"/vigil/api/environments/{ENVIRONMENT}/runs")
    answer = requests.get(url, headers=headers, timeout=15)
    assert answer.status_code == 200, answer.text
    assert finished_run in {r["run_id"] for r in answer.json()["runs"]}


@pytest.mark.parametrize("path", ["/vigil/", "/vigil/api/environments", "/vigil/alerts"])
def test_anonymous_requests_are_refused(e2e_stack: control.Stack, path: str) -> None:
    answer = requests.get(_url(e2e_stack, path), timeout=15)
    assert answer.status_code == 401, f"{path}: {answer.status_code} {answer.text[:500]}"
    silence = {"scope": "target=demo-db", "duration": "1h", "reason": "anonymous"}
    url = _url(e2e_stack, f"/vigil/api/environments/{ENVIRONMENT}/silences")
    assert requests.post(url, json=silence, timeout=15).status_code == 401


def test_an_anonymous_browser_sees_no_page(
    e2e_stack: control.Stack, browser_anonymous: Browser, artifacts: Path
) -> None:
    dom = browser_anonymous.dom(_url(e2e_stack, "/vigil/"))
    (artifacts / "vigil_anonymous.html").write_text(dom)
    text = _text(dom)
    assert "Not authenticated" in text, text[:500]
    assert "Overview" not in text and ENVIRONMENT not in text, text[:500]
