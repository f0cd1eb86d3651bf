"""`suite` scenarios run as commands: real processes, real pytest runs, real JUnit XML.

A generated pytest suite (passes, a failure, an error, a skip) is run and ingested case by
case; the demo's own suite (demo/suite) runs against the real demo system; malformed or
missing XML, a command that hangs, and a secret the suite prints are each checked on the
results as the store would keep them (`to_row`).
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import repo_root
from tests.support.demo_system import running_demo
from vigil.context import RunContext
from vigil.result import CheckResult, Status
from vigil.scenarios.models import SuiteCheck
from vigil.scenarios.run import run_checks
from vigil.scenarios.suites import KILL_GRACE_S, run_suite
from vigil.spec.loader import load_spec
from vigil.stack.postgres import LocalPostgres

pytestmark = pytest.mark.integration

PYTHON = sys.executable
SECRET = "suite-secret-" + uuid.uuid4().hex
# The demo suite exactly as a spec next to the repo's specs would run it.
DEMO_ARGV = [
    "python",
    "-m",
    "pytest",
    "-q",
    "-p",
    "no:cacheprovider",
    "demo/suite",
    "--junitxml={{junit_xml}}",
]


def load_suite(
    tmp_path: Path, command: dict[str, Any], timeout_s: float = 60, **extra: Any
) -> tuple[SuiteCheck, Any]:
    """A spec file in `tmp_path` with one suite `s` running `command`: (check, spec)."""
    spec = {
        "environment": "t",
        "targets": {
            "api": {"kind": "http", "base_url": "http://127.0.0.1:1", "allow_writes": True}
        },
        "checks": {
            "scenarios": [
                {
                    "id": "s",
                    "kind": "suite",
                    "target": "api",
                    "timeout_s": timeout_s,
                    "command": command,
                    **extra,
                }
            ]
        },
    }
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps(spec))  # JSON is YAML
    loaded = load_spec(path)
    check: SuiteCheck = loaded.checks_of("scenarios")[0]
    return check, loaded


def context(spec: Any, **environ: str) -> RunContext:
    # What an Airflow worker's environment holds: a connection with a password, which the
    # suite must not see; the venv's python first on PATH, as in the Airflow image.
    base = {
        "PATH": os.path.dirname(PYTHON) + os.pathsep + os.environ.get("PATH", os.defpath),
        "HOME": os.environ.get("HOME", "/tmp"),
        "AIRFLOW_CONN_RESULTS": "postgresql://vigil:hunter2-worker-secret@db/vigil",
    }
    return RunContext(spec=spec, environ={**base, **environ})


def by_id(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.check_id: r for r in results}


def write_suite(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    # Its own ini: the rootdir (and so the classnames) is this folder, whatever is above.
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "test_generated.py").write_text(textwrap.dedent(source))
    return folder


PYTEST = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml={{junit_xml}}"]

GENERATED = """
    import os
    import time

    import pytest


    def test_pass_slowly():
        time.sleep(0.2)


    def test_pass_sees_only_its_environment():
        assert os.environ["VIGIL_JUNIT_XML"].endswith("junit.xml")
        assert os.environ["ORDERS_URL"] == "http://orders.test"
        assert not [k for k in os.environ if k.startswith("AIRFLOW_")]


    def test_fail():
        assert 1 == 2, "one is not two"


    @pytest.fixture
    def broken():
        raise RuntimeError("fixture broke")


    def test_error(broken):
        pass


    def test_skip():
        pytest.skip("not today")
"""


def test_a_pytest_suite_becomes_one_result_per_case_and_a_summary(tmp_path: Path) -> None:
    write_suite(tmp_path / "suite", GENERATED)
    check, spec = load_suite(
        tmp_path,
        # cwd relative to the spec's folder; the suite's path relative to the cwd.
        {"argv": [*PYTEST, "."], "cwd": "suite", "env": {"ORDERS_URL": "${ORDERS_URL}"}},
    )
    results = run_suite(check, context(spec, ORDERS_URL="http://orders.test"))

    found = by_id(results)
    prefix = "s::test_generated::"
    assert [r.check_id for r in results] == [
        f"{prefix}test_pass_slowly",
        f"{prefix}test_pass_sees_only_its_environment",
        f"{prefix}test_fail",
        f"{prefix}test_error",
        f"{prefix}test_skip",
        "s",
    ]
    statuses = {r.check_id.removeprefix(prefix): r.status for r in results}
    assert statuses == {
        "test_pass_slowly": Status.PASSED,
        "test_pass_sees_only_its_environment": Status.PASSED,
        "test_fail": Status.FAILED,
        "test_error": Status.ERROR,
        "test_skip": Status.SKIPPED,
        "s": Status.ERROR,  # an errored case makes the suite an error
    }
    for result in results[:-1]:
        assert result.parent == "s"
        assert result.family == "scenarios" and result.check_kind == "suite"
        assert result.target == "api"
    assert found[f"{prefix}test_pass_slowly"].duration_ms >= 200
    assert found[f"{prefix}test_pass_slowly"].message == "passed"
    failed = found[f"{prefix}test_fail"]
    assert "one is not two" in failed.message
    assert "assert 1 == 2" in failed.details["trace"]
    assert failed.details["classname"] == "test_generated"
    assert failed.details["name"] == "test_fail"
    assert "fixture broke" in found[f"{prefix}test_error"].message
    assert "not today" in found[f"{prefix}test_skip"].message

    summary = found["s"]
    assert summary.parent is None
    assert summary.observed["tests"] == 5
    assert (summary.observed["failures"], summary.observed["errors"]) == (1, 1)
    assert (summary.observed["skipped"], summary.observed["exit_code"]) == (1, 1)
    assert summary.message.startswith("s: 2 passed, 1 failed, 1 errors, 1 skipped in ")
    assert summary.message.endswith("s (exit 1)")
    assert summary.details["problems"] == [f"{prefix}test_fail", f"{prefix}test_error"]
    assert "1 failed" in summary.details["output_tail"]


def test_the_demo_suite_passes_against_the_real_demo(pg: LocalPostgres, tmp_path: Path) -> None:
    with running_demo(pg, "suite_" + uuid.uuid4().hex[:8], tmp_path / "demo") as demo:
        check, spec = load_suite(
            tmp_path,
            {
                "argv": DEMO_ARGV,
                "cwd": str(repo_root()),
                "env": {"DEMO_ORDERS_URL": "${DEMO_ORDERS_URL}"},
            },
        )
        # Through the family's runner, as the scenario's task calls it.
        results = run_checks([check], context(spec, DEMO_ORDERS_URL=demo.orders_url))

    summary = by_id(results)["s"]
    assert summary.status is Status.PASSED, (summary.message, summary.details)
    cases = [r for r in results if r.parent == "s"]
    assert len(cases) == summary.observed["tests"] >= 8
    assert all(r.status is Status.PASSED for r in cases), [r.message for r in cases]
    assert "s::test_orders_api::test_globex_cannot_read_acme_order" in by_id(results)


def writer(xml: str, exit_code: int = 0) -> list[str]:
    """argv of a command that writes `xml` to the JUnit path, prints, and exits."""
    script = (
        "import sys, pathlib; pathlib.Path(sys.argv[1]).write_text(sys.argv[2]); "
        "print('ran 2 checks'); sys.exit(int(sys.argv[3]))"
    )
    return [PYTHON, "-c", script, "{{junit_xml}}", xml, str(exit_code)]


def test_malformed_xml_is_one_error_with_exit_code_and_output(tmp_path: Path) -> None:
    check, spec = load_suite(tmp_path, {"argv": writer("<testsuite><testcase name=", 2)})
    results = run_suite(check, context(spec))

    assert len(results) == 1
    (error,) = results
    assert (error.check_id, error.status, error.parent) == ("s", Status.ERROR, None)
    assert error.message.startswith("malformed JUnit XML: ")
    assert error.details["exit_code"] == 2
    assert "ran 2 checks" in error.details["output_tail"]


def test_a_case_whose_fields_do_not_read_is_malformed_xml_too(tmp_path: Path) -> None:
    xml = '<testsuite name="x"><testcase classname="c" name="t" time="soon"/></testsuite>'
    check, spec = load_suite(tmp_path, {"argv": writer(xml, 1)})
    (error,) = run_suite(check, context(spec))
    assert (error.check_id, error.status) == ("s", Status.ERROR)
    assert error.message.startswith("malformed JUnit XML: ")
    assert "could not convert string to float: 'soon'" in error.message
    assert error.details["exit_code"] == 1
    assert "ran 2 checks" in error.details["output_tail"]


def test_no_xml_is_one_error(tmp_path: Path) -> None:
    argv = [PYTHON, "-c", "print('collected 0 items'); raise SystemExit(5)"]
    check, spec = load_suite(tmp_path, {"argv": argv})
    results = run_suite(check, context(spec))

    assert len(results) == 1
    assert results[0].status is Status.ERROR and results[0].check_id == "s"
    assert "the suite wrote no JUnit XML at " in results[0].message
    assert results[0].details["exit_code"] == 5
    assert "collected 0 items" in results[0].details["output_tail"]


def test_repeated_cases_get_numbered_ids_and_an_empty_suite_is_an_error(tmp_path: Path) -> None:
    twice = (
        '<testsuites><testsuite name="x">'
        '<testcase classname="c" name="t" time="0.5"/>'
        '<testcase classname="c" name="t" time="0.25"><failure message="second"/></testcase>'
        "</testsuite></testsuites>"
    )
    check, spec = load_suite(tmp_path, {"argv": writer(twice, 1)})
    results = run_suite(check, context(spec))
    assert [(r.check_id, r.status) for r in results] == [
        ("s::c::t", Status.PASSED),
        ("s::c::t#2", Status.FAILED),
        ("s", Status.FAILED),
    ]
    assert [r.duration_ms for r in results[:2]] == [500.0, 250.0]

    check, spec = load_suite(tmp_path, {"argv": writer("<testsuite name='x'/>")})
    (empty,) = run_suite(check, context(spec))
    assert empty.status is Status.ERROR and "holds no test case" in empty.message


def test_a_hanging_command_is_killed_with_its_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    # It ignores SIGTERM (and so does the child it starts): only SIGKILL ends them.
    script = 'trap "" TERM; echo $$ > "$PID_FILE"; sleep 300 & echo waiting; wait'
    check, spec = load_suite(
        tmp_path,
        {"argv": ["sh", "-c", script], "env": {"PID_FILE": str(pid_file)}},
        timeout_s=1,
    )
    started = time.monotonic()
    results = run_suite(check, context(spec))
    elapsed = time.monotonic() - started

    assert len(results) == 1
    assert results[0].status is Status.ERROR
    assert "timed out after 1 s" in results[0].message
    assert "waiting" in results[0].details["output_tail"]
    assert 1 + KILL_GRACE_S - 0.5 < elapsed < 1 + KILL_GRACE_S + 3
    assert live_members(int(pid_file.read_text())) == []


def live_members(pgid: int) -> list[int]:
    """The processes of group `pgid` still alive: not gone, and not zombies (dead, waiting
    for init, which reaps here in its own time, to collect them)."""
    alive = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # not a process, or gone meanwhile
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry.name))
    return alive


def test_a_command_that_cannot_start_is_one_error(tmp_path: Path) -> None:
    check, spec = load_suite(tmp_path, {"argv": ["no-such-test-runner-xyz", "--junit"]})
    (error,) = run_suite(check, context(spec))
    assert error.status is Status.ERROR
    assert "cannot start: no-such-test-runner-xyz" in error.message
    assert error.details["error_class"] == "configuration"  # not retried


def test_a_secret_the_suite_prints_is_never_stored(tmp_path: Path) -> None:
    write_suite(
        tmp_path / "suite",
        """
        import os

        import pytest

        TOKEN = os.environ["SUITE_TOKEN"]


        @pytest.mark.parametrize("token", [TOKEN])
        def test_leaks(token):
            print("the token is", token)
            assert token == "something else", f"token {token} refused"
        """,
    )
    # In the JUnit XML (its trace, its system-out with junit_logging) and the output.
    argv = [*PYTEST, "-o", "junit_logging=all", "."]
    check, spec = load_suite(
        tmp_path,
        {
            "argv": argv,
            "cwd": "suite",
            "env": {"SUITE_TOKEN": "${SUITE_TOKEN}"},
        },
    )
    results = run_suite(check, context(spec, SUITE_TOKEN=SECRET))

    stored = json.dumps([r.to_row() for r in results])
    assert [r.status for r in results] == [Status.FAILED, Status.FAILED]
    assert SECRET not in stored
    assert results[0].check_id == "s::test_generated::test_leaks[***]"
    assert "***" in results[0].details["trace"]
    assert results[0].details["system_out"].strip().endswith("the token is ***")
    assert "token *** refused" in results[1].details["output_tail"]
