"""`vigil report`, `vigil results` and `vigil silence` as a user runs them: the real console
script against a real results store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vigil.result import CheckResult, Status
from vigil.result_table import format_table
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


def _stored_runs(dsn: str) -> tuple[ResultStore, RunRef, RunRef]:
    """Two runs of environment demo: a daily one with a failure, then a weekly one."""
    store = ResultStore(dsn)
    daily = RunRef("demo", "daily", "demo_daily", "manual__2026-11-30T08:00:00+00:00")
    weekly = RunRef("demo", "weekly", "demo_weekly", "scheduled__2026-11-30T07:00:00+00:00")
    store.record(
        daily,
        [
            CheckResult(check_id="api-up", family="health", target="api", status=Status.PASSED,
                        duration_ms=12.0, message="GET /health answered 200"),
            CheckResult(check_id="orders.total", family="quality", target="db",
                        status=Status.FAILED, duration_ms=40.0,
                        message="orders.total: 3 of 5,000 rows (0.06%) outside [0, 1000000]"),
            CheckResult(check_id="orders.row_count.change", family="quality", target="db",
                        status=Status.SKIPPED, message="skipped: no earlier run recorded"),
        ],
    )  # fmt: skip
    store.finish_run(daily)
    store.record(
        weekly,
        [CheckResult(check_id="api-up", family="health", target="api", status=Status.PASSED)],
    )
    store.finish_run(weekly)
    return store, daily, weekly


def test_results_prints_a_runs_table_as_the_task_log_does(fresh_db: str, tmp_path: Path) -> None:
    store, daily, weekly = _stored_runs(fresh_db)
    done = _vigil(["results", "--run", daily.run_id], fresh_db, tmp_path)
    assert done.returncode == 0, done.stderr
    heading, _, table = done.stdout.partition("\n\n")
    assert heading.startswith(f"Run {daily.run_id} of demo_daily (demo, daily): failed, started ")
    assert table.rstrip("\n") == format_table(store.results_of(daily))
    lines = table.splitlines()
    assert lines[2].startswith("orders.total ") and "FAILED" in lines[2]  # problems first
    assert lines[-1] == "3 checks: 1 passed, 1 failed, 0 error, 1 skipped"

    latest = _vigil(["results", "--latest", "demo"], fresh_db, tmp_path)
    assert latest.returncode == 0, latest.stderr
    assert latest.stdout.startswith(f"Run {weekly.run_id} of demo_weekly (demo, weekly): success")
    daily_only = _vigil(["results", "--latest", "demo", "--cadence", "daily"], fresh_db, tmp_path)
    assert daily_only.stdout.startswith(f"Run {daily.run_id} of demo_daily")


def test_results_of_a_run_that_is_not_there(fresh_db: str, tmp_path: Path) -> None:
    _stored_runs(fresh_db)
    missing = _vigil(["results", "--run", "no-such-run"], fresh_db, tmp_path)
    assert missing.returncode == 1
    assert missing.stdout.startswith("no run 'no-such-run' in the results store")
    nothing = _vigil(["results", "--latest", "prod"], fresh_db, tmp_path)
    assert nothing.returncode == 1
    assert nothing.stdout.startswith("no run of environment 'prod' in the results store")
    both = _vigil(["results", "--run", "x", "--latest", "demo"], fresh_db, tmp_path)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
