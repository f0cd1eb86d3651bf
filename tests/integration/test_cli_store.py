"""`vigil report` and `vigil silence` as a user runs them: the real console script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vigil.result import CheckResult, Status
from vigil.results.store import ResultStore, RunRef

pytestmark = pytest.mark.integration
VIGIL = str(Path(sys.executable).parent / "vigil")


def _vigil(args: list[str], dsn: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AIRFLOW_CONN_VIGIL_RESULTS": dsn, "VIGIL_STATE_DIR": str(state)}
    return subprocess.run([VIGIL, *args], capture_output=True, text=True, timeout=60, env=env)


def test_report_regenerates_a_stored_run(fresh_db: str, tmp_path: Path) -> None:
    run = RunRef("demo", "daily", "demo_daily", "manual__2026-11-21T06:00:00+00:00")
    store = ResultStore(fresh_db)
    store.record(
        run,
        [
            CheckResult(
                check_id="api-up",
                family="health",
                target="api",
                status=Status.FAILED,
                message="answered 503, expected 200",
            )
        ],
    )
    store.finish_run(run)
    done = _vigil(["report", "--run", run.run_id], fresh_db, tmp_path)
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip().split(": ", 1)[1])
    assert path.is_file() and path.is_relative_to(tmp_path / "reports")
    html = path.read_text()
    assert "api-up" in html and "answered 503, expected 200" in html

    missing = _vigil(["report", "--run", "no-such-run"], fresh_db, tmp_path)
    assert missing.returncode == 1
    assert "no run 'no-such-run'" in missing.stdout


def test_silence_add_list_remove(fresh_db: str, tmp_path: Path) -> None:
    added = _vigil(
        [
            "silence",
            "add",
            "--scope",
            "target=demo-db",
            "--until",
            "2h",
            "--reason",
            "maintenance",
            "--by",
            "ops",
        ],
        fresh_db,
        tmp_path,
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("silence #1 on 'target=demo-db'")
    listed = _vigil(["silence", "list"], fresh_db, tmp_path)
    assert "#1  target=demo-db" in listed.stdout and "1 silence(s)" in listed.stdout
    removed = _vigil(["silence", "remove", "1"], fresh_db, tmp_path)
    assert removed.returncode == 0 and "removed" in removed.stdout
    assert "0 silence(s)" in _vigil(["silence", "list"], fresh_db, tmp_path).stdout


def test_bad_input_is_one_clear_line_not_a_traceback(fresh_db: str, tmp_path: Path) -> None:
    unknown = _vigil(["silence", "remove", "42"], fresh_db, tmp_path)
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("vigil silence: no silence #42")
    assert "Traceback" not in unknown.stderr
    down = _vigil(["silence", "list"], "postgresql://vigil@127.0.0.1:1/nowhere", tmp_path)
    assert down.returncode == 1
    assert "cannot connect to the results store at 127.0.0.1:1" in down.stderr
