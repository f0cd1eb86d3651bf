"""Container suites: the DockerOperator built from a spec, and what the suite runner does
with what it returns.

No Docker engine runs on the machines these tests run on, so no container is run here.
What is real: the DockerOperator (the installed provider) and every argument it is built
with; its `execute` against a `docker_url` where no engine listens (the provider's own
connection attempt fails, and the suite becomes one `error`); and the ingestion of a real
JUnit XML file left in the mounted results folder by a stand-in for the container (it
writes where the bind mount's source is, as the container would at its target).
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from airflow.providers.docker.exceptions import DockerContainerFailedException
from airflow.providers.docker.operators.docker import DockerOperator, fetch_logs

from vigil.airflow.docker_suite import _execute_bounded, build_operator, run_container
from vigil.context import RunContext
from vigil.result import Status
from vigil.scenarios.models import SuiteCheck
from vigil.scenarios.suites import exit_code_of, run_suite

pytestmark = pytest.mark.unit

NO_ENGINE = "unix:///nonexistent-vigil-test/docker.sock"
ENVIRON = {"ORDERS_URL": "http://orders.test:8080", "API_TOKEN": "tok-" + "9" * 24}
JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests">
  <testsuite name="pytest" errors="0" failures="1" skipped="0" tests="2" time="1.5">
    <testcase classname="tests.test_api" name="test_health" time="0.120"/>
    <testcase classname="tests.test_api" name="test_orders" time="1.300" file="tests/test_api.py">
      <failure message="assert 500 == 200">def test_orders():
&gt;       assert response.status_code == 200
E       assert 500 == 200</failure>
      <system-out>GET /v1/orders -&gt; 500</system-out>
    </testcase>
  </testsuite>
</testsuites>
"""


def load(tmp_path: Path, **container: Any) -> tuple[SuiteCheck, RunContext]:
    from vigil.spec.loader import load_spec

    spec = {
        "environment": "t",
        "targets": {"api": {"kind": "http", "base_url": "http://x", "allow_writes": True}},
        "checks": {
            "scenarios": [
                {
                    "id": "orders-tests",
                    "kind": "suite",
                    "target": "api",
                    "timeout_s": 300,
                    "container": {
                        "image": "ghcr.io/acme/orders-tests:1.4",
                        "command": ["pytest", "--junitxml={{junit_xml}}", "-k", "not slow"],
                        "env": {"ORDERS_URL": "${ORDERS_URL}", "API_TOKEN": "${API_TOKEN}"},
                        "results_dir": "/results",
                        "docker_url": NO_ENGINE,
                        "network_mode": "bridge",
                        **container,
                    },
                }
            ]
        },
    }
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps(spec))
    loaded = load_spec(path)
    return loaded.checks_of("scenarios")[0], RunContext(spec=loaded, environ=dict(ENVIRON))


def test_the_operator_carries_the_spec(tmp_path: Path) -> None:
    check, ctx = load(tmp_path)
    results_dir = tmp_path / "results"
    operator = build_operator(check, ctx, results_dir, "junit.xml")

    assert isinstance(operator, DockerOperator)
    assert operator.task_id == "suite_orders-tests"
    assert operator.image == "ghcr.io/acme/orders-tests:1.4"
    assert operator.command == ["pytest", "--junitxml=/results/junit.xml", "-k", "not slow"]
    assert operator.environment == {
        "ORDERS_URL": "http://orders.test:8080",
        "VIGIL_JUNIT_XML": "/results/junit.xml",
    }
    # A credential goes where Airflow neither templates nor shows it.
    assert operator._private_environment == {"API_TOKEN": ENVIRON["API_TOKEN"]}
    assert ctx.mask(ENVIRON["API_TOKEN"]) == "***"
    (mount,) = operator.mounts
    assert (mount["Type"], mount["Source"], mount["Target"]) == (
        "bind",
        str(results_dir),
        "/results",
    )
    assert operator.docker_url == NO_ENGINE
    assert operator.network_mode == "bridge"
    assert operator.auto_remove == "success"
    assert operator.mount_tmp_dir is False
    assert operator.execution_timeout == timedelta(seconds=300)


def test_the_containers_output_reaches_the_task_log_masked(tmp_path: Path) -> None:
    check, ctx = load(tmp_path)
    operator = build_operator(check, ctx, tmp_path / "results", "junit.xml")
    token = ENVIRON["API_TOKEN"]
    with structlog.testing.capture_logs() as logs:
        # As DockerOperator.execute logs the container's output: line by line, as it comes.
        output = [f"test_auth sent {token}\n".encode(), b"1 passed", f" ({token})".encode()]
        fetch_logs(iter(output), operator.log)
        operator.log.info("stopped: %s", token)
    shown = [entry["event"] for entry in logs]
    assert shown == ["test_auth sent ***", "1 passed (***)", "stopped: ***"]


def test_no_docker_engine_is_one_error_not_a_crash(tmp_path: Path) -> None:
    check, ctx = load(tmp_path)
    ctx.container_runner = run_container  # the real operator, executed for real

    results = run_suite(check, ctx)

    assert len(results) == 1
    (error,) = results
    assert (error.check_id, error.status) == ("orders-tests", Status.ERROR)
    assert "Docker is unreachable at " + NO_ENGINE in error.message
    assert "No such file or directory" in error.message  # the reason, not only the fact
    assert error.details.get("error_class") != "configuration"  # an engine may come back


def test_a_container_suite_outside_airflow_is_a_configuration_error(tmp_path: Path) -> None:
    check, ctx = load(tmp_path)
    (error,) = run_suite(check, ctx)
    assert error.status is Status.ERROR
    assert "through Airflow's DockerOperator; this run has none" in error.message
    assert error.details["error_class"] == "configuration"


def test_the_junit_left_in_the_results_folder_is_ingested(tmp_path: Path) -> None:
    check, ctx = load(tmp_path)
    seen: dict[str, Any] = {}

    def stand_in(check: SuiteCheck, ctx: RunContext, results_dir: Path, name: str) -> Any:
        # Where the container would write: the bind mount's source, the name the command
        # was given inside its target.
        operator = build_operator(check, ctx, results_dir, name)
        source = Path(operator.mounts[0]["Source"])
        seen["command"] = operator.command
        (source / name).write_text(JUNIT)
        return 1, "1 failed, 1 passed in 1.50s"

    ctx.container_runner = stand_in
    results = run_suite(check, ctx)

    assert seen["command"][1] == "--junitxml=/results/junit.xml"
    assert [(r.check_id, r.status) for r in results] == [
        ("orders-tests::tests.test_api::test_health", Status.PASSED),
        ("orders-tests::tests.test_api::test_orders", Status.FAILED),
        ("orders-tests", Status.FAILED),
    ]
    failed = results[1]
    assert failed.message == "assert 500 == 200"
    assert failed.duration_ms == 1300.0
    assert failed.details["file"] == "tests/test_api.py"
    assert failed.details["trace"].endswith("E       assert 500 == 200")
    assert failed.details["system_out"] == "GET /v1/orders -> 500"
    summary = results[2]
    assert summary.observed["exit_code"] == 1 and summary.details["runner"] == "container"
    assert summary.details["output_tail"] == "1 failed, 1 passed in 1.50s"


class _Exits(DockerOperator):
    """A DockerOperator whose container 'ran' and exited 3 (tests failed)."""

    def execute(self, context: Any) -> Any:
        raise DockerContainerFailedException(
            "Docker container failed: {'StatusCode': 3, 'Error': None}",
            logs=[b"collected 4 items", "3 failed"],
        )


class _Hangs(DockerOperator):
    """A DockerOperator whose container never ends until it is stopped."""

    stopped = threading.Event()

    def execute(self, context: Any) -> Any:
        self.stopped.wait(10)

    def on_kill(self) -> None:
        self.stopped.set()


def test_a_failing_container_returns_its_exit_code_and_logs() -> None:
    operator = _Exits(task_id="t", image="i")
    assert _execute_bounded(operator, 5) == (3, "collected 4 items\n3 failed")
    assert exit_code_of("Docker container failed: {'StatusCode': 137, 'Error': None}") == 137
    assert exit_code_of("something else") == 1


def test_a_container_past_its_timeout_is_stopped() -> None:
    operator = _Hangs(task_id="t", image="i")
    with pytest.raises(TimeoutError, match=r"timeout_s=0\.2 s"):
        _execute_bounded(operator, 0.2)
    assert operator.stopped.is_set()
