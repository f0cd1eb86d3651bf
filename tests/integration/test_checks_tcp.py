"""TCP health checks against real sockets on 127.0.0.1: a listener, a closed port, and a
listener whose accept queue is full (connects hang: the kernel drops the SYN)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from vigil.checks import tcp
from vigil.checks.models import TcpCheck
from vigil.context import RunContext
from vigil.result import CheckResult, Status
from vigil.spec.models import Checks, Spec, TcpTarget
from vigil.stack.postgres import free_port

pytestmark = pytest.mark.integration


def _run(address: str, environ: dict[str, str] | None = None, timeout_s: float = 2) -> CheckResult:
    check = TcpCheck(kind="tcp", id="cache-port", target="cache", timeout_s=timeout_s)
    target = TcpTarget(kind="tcp", address=address)
    spec = Spec(environment="test", targets={"cache": target}, checks=Checks(health=[check]))
    [result] = tcp.run(check, RunContext(spec, environ=environ or {}))
    assert result.check_kind == "tcp"
    return result


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock


def test_open_port_passes_with_connect_latency(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    result = _run(f"127.0.0.1:{port}")
    assert result.status is Status.PASSED
    assert result.message.startswith(f"TCP 127.0.0.1:{port} accepted a connection in ")
    assert result.observed["connect_ms"] > 0


def test_address_from_an_environment_reference(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    result = _run("${CACHE_ADDR:-127.0.0.1:1}", environ={"CACHE_ADDR": f"127.0.0.1:{port}"})
    assert result.status is Status.PASSED
    assert result.details["address"] == f"127.0.0.1:{port}"


def test_closed_port_is_refused() -> None:
    port = free_port()
    result = _run(f"127.0.0.1:{port}")
    assert result.status is Status.ERROR
    assert result.message == f"TCP 127.0.0.1:{port}: connection refused (nothing listening?)"


def test_port_that_never_accepts_times_out() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(0)
        port = sock.getsockname()[1]
        # Fill the accept queue (backlog 0 holds one); later SYNs are dropped, unanswered.
        queued = [socket.create_connection(("127.0.0.1", port), timeout=1) for _ in range(1)]
        try:
            result = _run(f"127.0.0.1:{port}", timeout_s=0.3)
        finally:
            for conn in queued:
                conn.close()
    assert result.status is Status.ERROR
    assert result.message.endswith("no connection within 0.3s (timed out)")


def test_unresolvable_host_is_an_error() -> None:
    result = _run("no-such-host.invalid:80")
    assert result.status is Status.ERROR
    assert "cannot resolve the host name" in result.message


def test_reference_resolving_to_garbage_is_a_configuration_error() -> None:
    result = _run("${CACHE_ADDR}", environ={"CACHE_ADDR": "just-a-host"})
    assert result.status is Status.ERROR
    assert result.message.startswith("configuration problem: address 'just-a-host'")


def test_missing_environment_variable_is_an_error() -> None:
    result = _run("${CACHE_ADDR}")
    assert result.status is Status.ERROR
    assert "environment variable CACHE_ADDR is not set" in result.message
