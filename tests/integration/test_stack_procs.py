"""Background processes of the local stack: started, recognised, stopped with their children."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vigil.stack import control, procs
from vigil.stack.state import Ports, StackError, StackPaths, save_executor

pytestmark = pytest.mark.integration

# A parent that starts a child and both sleep: stopping must end the whole group.
PARENT_AND_CHILD = (
    "import subprocess, sys, time; "
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
    "print(child.pid, flush=True); time.sleep(120)"
)


@pytest.fixture
def paths(tmp_path: Path) -> StackPaths:
    return StackPaths.from_env({"VIGIL_STATE_DIR": str(tmp_path / "state")})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


def _child_pid(paths: StackPaths, name: str) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = paths.log(name).read_text().strip()
        if text:
            return int(text.split()[0])
        time.sleep(0.05)
    raise AssertionError(f"{name} never printed its child's PID")


def test_stop_ends_the_process_and_its_children(paths: StackPaths) -> None:
    managed = procs.start(paths, "sleeper", [sys.executable, "-c", PARENT_AND_CHILD], os.environ)
    child = _child_pid(paths, "sleeper")
    assert procs.running(paths, "sleeper") == managed
    assert procs.stop(paths, ["sleeper"], timeout=10) == ["sleeper"]
    assert not _alive(managed.pid)
    assert not _alive(child)
    assert procs.running(paths, "sleeper") is None
    assert procs.recorded(paths) == []


def _wait_for_line(paths: StackPaths, name: str, line: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if line in paths.log(name).read_text().splitlines():
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} never printed {line!r}")


def test_a_process_that_ignores_sigterm_is_killed(paths: StackPaths) -> None:
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(120)"
    )
    managed = procs.start(paths, "stubborn", [sys.executable, "-c", stubborn], os.environ)
    _wait_for_line(paths, "stubborn", "ready")  # its SIGTERM handler is installed from here
    began = time.monotonic()
    assert procs.stop(paths, ["stubborn"], timeout=1) == ["stubborn"]
    # SIGTERM was ignored, so only the SIGKILL after the 1 s grace can have ended it.
    assert time.monotonic() - began >= 1.0
    assert not _alive(managed.pid)


def test_a_recycled_pid_is_not_ours(paths: StackPaths) -> None:
    # Another process (this test's own) under a PID file that recorded a different start.
    paths.make_dirs()
    record = {"name": "old", "pid": os.getpid(), "argv": ["x"], "started": "1"}
    (paths.pids / "old.pid").write_text(json.dumps(record))
    assert procs.running(paths, "old") is None
    assert procs.stop(paths, ["old"]) == []
    assert _alive(os.getpid())
    assert procs.recorded(paths) == []


def test_a_dead_process_is_not_running(paths: StackPaths) -> None:
    managed = procs.start(paths, "short", [sys.executable, "-c", "pass"], os.environ)
    deadline = time.monotonic() + 20
    while procs.running(paths, "short") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert procs.running(paths, "short") is None
    assert not _alive(managed.pid)


def test_clean_refuses_a_folder_it_did_not_create(tmp_path: Path) -> None:
    foreign = tmp_path / "someone-elses"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    stack = control.Stack(StackPaths.from_env({"VIGIL_STATE_DIR": str(foreign)}), Ports())
    with pytest.raises(StackError, match="does not look like a Vigil state folder"):
        control.clean(stack, out=io.StringIO())
    assert (foreign / "precious.txt").exists()


def test_the_cli_reports_a_stopped_stack(tmp_path: Path) -> None:
    env = {**os.environ, "VIGIL_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run(
        [sys.executable, "-m", "vigil.stack", "status"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert re.search(r"^api-server +stopped$", done.stdout, flags=re.M), done.stdout
    assert re.search(r"^postgres +stopped$", done.stdout, flags=re.M), done.stdout


def test_a_running_stack_refuses_to_start_with_another_executor(
    paths: StackPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The executor is saved with the state: `make stop` first, or two executors would
    share one metadata database (and `make stop` would not know what to stop)."""
    paths.make_dirs()
    save_executor(paths, "local")
    monkeypatch.setenv("VIGIL_STATE_DIR", str(paths.state))
    monkeypatch.setenv("VIGIL_EXECUTOR", "celery")
    assert control.load(paths, starting=True).executor == "celery"  # nothing runs: fine
    procs.start(
        paths, "scheduler", [sys.executable, "-c", "import time; time.sleep(60)"], os.environ
    )
    try:
        with pytest.raises(StackError, match="runs with VIGIL_EXECUTOR=local; stop it first"):
            control.load(paths, starting=True)
        assert control.load(paths).executor == "local"  # `down` and `status` find it
        monkeypatch.setenv("VIGIL_EXECUTOR", "local")
        assert control.load(paths, starting=True).executor == "local"
        # A stack started before the executor was saved ran the LocalExecutor.
        paths.executor_file.unlink()
        Ports.from_env().save(paths)
        monkeypatch.setenv("VIGIL_EXECUTOR", "celery")
        with pytest.raises(StackError, match="runs with VIGIL_EXECUTOR=local"):
            control.load(paths, starting=True)
    finally:
        procs.stop(paths, ["scheduler"], timeout=5)
