"""Container health checks through the real `docker` SDK, against a FAKE Docker engine.

No Docker engine runs on the machines these tests run on, so the engine here is
tests/support/docker_api.py: a small HTTP server on a unix socket that answers the
endpoints the SDK calls (`/version`, `/v1.xx/containers/{id}/json`, 404 for an unknown
container) with engine-shaped documents. What these tests prove: the runner's use of the
SDK, its reading of the inspect document, and its verdicts. What they cannot prove: that a
real engine's answers keep this shape (the fake copies the documented Engine API).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.docker_api import FakeDockerEngine
from vigil.checks import container
from vigil.checks.models import ContainerCheck
from vigil.context import RunContext
from vigil.result import CheckResult, Status
from vigil.spec.models import Checks, ContainerTarget, Spec

pytestmark = pytest.mark.integration


@pytest.fixture
def engine() -> Iterator[FakeDockerEngine]:
    with FakeDockerEngine() as fake:
        yield fake


def _run(
    docker_url: str,
    name: str = "orders",
    environ: dict[str, str] | None = None,
    **check_fields: Any,
) -> CheckResult:
    check_fields.setdefault("timeout_s", 3)
    check = ContainerCheck(kind="container", id="orders-container", target="orders", **check_fields)
    target = ContainerTarget(kind="container", container=name, docker_url=docker_url)
    spec = Spec(environment="test", targets={"orders": target}, checks=Checks(health=[check]))
    [result] = container.run(check, RunContext(spec, environ=environ or {}))
    assert result.check_kind == "container"
    return result


def test_running_and_healthy_passes(engine: FakeDockerEngine) -> None:
    engine.add("orders", health="healthy", restart_count=1)
    result = _run(engine.url, max_restarts=2)
    assert result.status is Status.PASSED, result.message
    assert result.message == "container orders is running, healthy, 1 restarts"
    assert result.observed["state"] == "running" and result.observed["restart_count"] == 1
    # The SDK really spoke to the engine: version negotiation, then inspect.
    assert "/version" in engine.requests
    assert any(
        p.endswith("/containers/orders/json") and p.startswith("/v1.") for p in engine.requests
    )


def test_unhealthy_fails_with_the_last_probe_output(engine: FakeDockerEngine) -> None:
    engine.add("orders", health="unhealthy", health_output="curl: (7) Failed to connect\n")
    result = _run(engine.url)
    assert result.status is Status.FAILED
    assert result.message == (
        "container orders: health is unhealthy, expected healthy "
        "(last probe: curl: (7) Failed to connect)"
    )
    assert result.details["health_log"].startswith("curl: (7)")


def test_exited_container_fails_with_its_exit_code(engine: FakeDockerEngine) -> None:
    engine.add("orders", status="exited", exit_code=137, oom_killed=True)
    result = _run(engine.url)
    assert result.status is Status.FAILED
    assert result.message == (
        "container orders: state is exited, exit code 137, killed for "
        "lack of memory, expected running"
    )


def test_too_many_restarts_fail(engine: FakeDockerEngine) -> None:
    engine.add("orders", health="healthy", restart_count=7)
    result = _run(engine.url, max_restarts=3)
    assert result.status is Status.FAILED
    assert result.message == "container orders: restarted 7 times, more than 3"
    assert result.expected["max_restarts"] == 3


def test_no_healthcheck_defined_passes_on_state(engine: FakeDockerEngine) -> None:
    engine.add("orders")
    result = _run(engine.url)
    assert result.status is Status.PASSED
    assert result.message == "container orders is running, no healthcheck defined, 0 restarts"


def test_found_by_id_prefix(engine: FakeDockerEngine) -> None:
    attrs = engine.add("orders", health="healthy")
    assert _run(engine.url, name=attrs["Id"][:12]).status is Status.PASSED


def test_unknown_container_fails(engine: FakeDockerEngine) -> None:
    engine.add("orders", health="healthy")
    result = _run(engine.url, name="payments")
    assert result.status is Status.FAILED
    assert result.message == f"container payments not found on the Docker engine at {engine.url}"
    assert result.observed == {"exists": False}


def test_missing_socket_is_an_error(tmp_path: Path) -> None:
    result = _run(f"unix://{tmp_path}/docker.sock")
    assert result.status is Status.ERROR
    assert result.message.startswith(f"Docker engine socket {tmp_path}/docker.sock does not exist")


def test_socket_nobody_listens_on_is_an_error(tmp_path: Path) -> None:
    path = Path("/tmp") / f"vdead-{tmp_path.name[-20:]}.sock"  # short: unix path limit
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))  # bound, never listening: connecting is refused
        try:
            result = _run(f"unix://{path}", timeout_s=1)
        finally:
            path.unlink()
    assert result.status is Status.ERROR
    assert result.message.startswith(f"Docker engine at unix://{path} could not be queried")


def test_docker_url_from_environment(engine: FakeDockerEngine) -> None:
    engine.add("orders", health="healthy")
    result = _run(
        "${DOCKER_HOST:-unix:///var/run/docker.sock}", environ={"DOCKER_HOST": engine.url}
    )
    assert result.status is Status.PASSED, result.message
