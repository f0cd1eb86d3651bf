"""A whole local stack, started as `make demo` starts it, in a temporary state folder.

Every port is a free one, so the test runs beside a developer's `make demo` without
touching it. One stack serves the whole e2e layer (starting one costs a minute), and
one run of demo_daily under the LocalExecutor (`finished_run`) serves every test that
reads a finished run. test_celery_executor.py then restarts the same stack with
`VIGIL_EXECUTOR=celery`, so it runs last. The stack is stopped in teardown, and its service logs are
kept under test-artifacts/e2e/ for whoever has to find out why something failed.
"""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.chromium import FLAGS, ChromiumUnavailable, ensure_chromium
from vigil.stack import control
from vigil.stack.demo_run import DAG_ID, ensure_dag
from vigil.stack.postgres import free_port
from vigil.stack.state import PORT_VARS, Ports, StackPaths

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "e2e"
STACK_TIMEOUT_S = 420
CHROMIUM_TIMEOUT_S = 120
# The Airflow UI is a React app that renders after its API calls: without a virtual-time
# budget a headless capture happens before anything is drawn (STACK_NOTES).
RENDER_FLAGS = ("--virtual-time-budget=10000", "--window-size=1400,900")


# Restarts the session's stack with the CeleryExecutor (and stops it at its end): last.
LAST_MODULE = "test_celery_executor.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name == LAST_MODULE)  # stable: order kept otherwise


def _clean_environ() -> dict[str, str]:
    """The caller's environment minus Airflow and Vigil settings (the test session sets
    its own AIRFLOW_HOME and friends for DAG tests; the stack must not inherit them)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VIGIL_", "DEMO_"))}


def stack_cli(command: str, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m vigil.stack <command>` as `make` runs it; fails the test when it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "vigil.stack", command],
        env=environ,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=STACK_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, (
        f"`python -m vigil.stack {command}` failed ({done.returncode}):\n"
        f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


@pytest.fixture(scope="session")
def e2e_environ(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The variables the e2e stack is started with: its state folder, specs and ports."""
    state = tmp_path_factory.mktemp("e2e") / "state"
    # A copy of the repo's specs, so a test can add a spec without touching the checkout.
    specs = tmp_path_factory.mktemp("e2e-specs")
    for spec in (REPO / "include" / "specs").glob("*.y*ml"):
        shutil.copy(spec, specs / spec.name)
    ports = {var: str(free_port()) for var in PORT_VARS}
    environ = {
        **_clean_environ(),
        "VIGIL_STATE_DIR": str(state),
        "VIGIL_SPECS_DIR": str(specs),
        **ports,
    }
    return environ


@pytest.fixture(scope="session")
def e2e_stack(e2e_environ: dict[str, str]) -> Iterator[control.Stack]:
    stack = control.Stack(StackPaths.from_env(e2e_environ), Ports.from_env(e2e_environ))
    try:
        stack_cli("up", e2e_environ)
        yield stack
    finally:
        try:
            stack_cli("down", e2e_environ)  # whatever executor it runs by then
        finally:
            _keep_logs(stack.paths)
            shutil.rmtree(stack.paths.state, ignore_errors=True)


@pytest.fixture(scope="session")
def finished_run(e2e_stack: control.Stack) -> str:
    """One run of demo_daily under the LocalExecutor, triggered through the REST API and
    finished successfully."""
    api = e2e_stack.api()
    ensure_dag(api, e2e_stack.paths, e2e_stack.env())
    run_id = api.trigger(DAG_ID)
    state = api.wait_run(DAG_ID, run_id, timeout=600)
    tasks = {t["task_id"]: t["state"] for t in api.task_instances(DAG_ID, run_id)}
    assert state == "success", f"run {run_id} ended {state}; tasks: {tasks}"
    return run_id


def _keep_logs(paths: StackPaths) -> None:
    target = ARTIFACTS / "stack-logs"
    shutil.rmtree(target, ignore_errors=True)
    if paths.logs.exists():
        shutil.copytree(paths.logs, target)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed when missing; a missing browser fails, never skips."""
    try:
        return ensure_chromium()
    except ChromiumUnavailable as exc:
        pytest.fail(f"the UI test needs headless Chromium: {exc}")


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class Browser:
    """Headless Chromium, logged in to Airflow by a `_token` cookie (or not, without one).

    Airflow's UI sends the JWT it finds in the `_token` cookie. Chromium has no flag to set
    a cookie, so the first request goes to a one-shot local server that sets it and
    redirects to the page: cookies belong to a host, not a port, so Airflow receives it.
    """

    def __init__(self, binary: Path, token: str | None) -> None:
        self.binary = binary
        self.token = token

    def dom(self, url: str) -> str:
        return self._run(url, "--dump-dom").stdout

    def screenshot(self, url: str, png: Path) -> Path:
        png.unlink(missing_ok=True)
        self._run(url, f"--screenshot={png}")
        assert png.exists() and png.stat().st_size > 0, f"chromium wrote no screenshot of {url}"
        return png

    def _run(self, url: str, *mode: str) -> subprocess.CompletedProcess[str]:
        with (
            _cookie_redirect(url, self.token) as start_url,
            tempfile.TemporaryDirectory(prefix="vigil-e2e-chromium-") as profile,
        ):
            argv = [
                str(self.binary), *FLAGS, *RENDER_FLAGS, f"--user-data-dir={profile}",
                *mode, start_url,
            ]  # fmt: skip
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S, check=False
            )
        assert done.returncode == 0, f"chromium failed on {url}: {done.stderr[-2000:]}"
        return done


class _Redirect(http.server.BaseHTTPRequestHandler):
    target = ""
    token: str | None = None

    def do_GET(self) -> None:
        self.send_response(302)
        if self.token:
            self.send_header("Set-Cookie", f"_token={self.token}; Path=/; SameSite=Lax")
        self.send_header("Location", self.target)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _cookie_redirect:
    def __init__(self, target: str, token: str | None) -> None:
        handler = type("Handler", (_Redirect,), {"target": target, "token": token})
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)

    def __enter__(self) -> str:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def browser_as_admin(chromium: Path, e2e_stack: control.Stack) -> Browser:
    return Browser(chromium, e2e_stack.api().token())


@pytest.fixture
def browser_anonymous(chromium: Path) -> Browser:
    return Browser(chromium, None)
