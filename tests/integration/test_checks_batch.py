"""One batch of every check kind through `run_checks`, against real servers (HTTP on
127.0.0.1, the `pg` PostgreSQL, a closed port) and the fake Docker engine of
tests/support/docker_api.py (no Docker engine runs on these machines): results come back
in input order, and the log table reads right."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.docker_api import FakeDockerEngine
from tests.support.http_server import LocalHttpServer
from vigil.checks import run_checks
from vigil.checks.models import ContainerCheck, HttpCheck, PostgresCheck, TcpCheck
from vigil.context import RunContext, env_connection
from vigil.result import Status
from vigil.result_table import format_table
from vigil.spec.models import Checks, ContainerTarget, HttpTarget, PostgresTarget, Spec, TcpTarget
from vigil.stack.postgres import LocalPostgres, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def servers() -> Iterator[tuple[LocalHttpServer, FakeDockerEngine]]:
    with LocalHttpServer() as http_server, FakeDockerEngine() as engine:
        yield http_server, engine


def test_mixed_batch(servers: tuple[LocalHttpServer, FakeDockerEngine], pg: LocalPostgres) -> None:
    http_server, engine = servers
    http_server.route("/health", json={"status": "ok"})
    http_server.route(
        "/orders/health",
        status=503,
        json={"dependencies": {"inventory-api": {"status": "down"}}},
    )
    engine.add("orders", health="healthy")
    targets = {
        "web": HttpTarget(kind="http", base_url="${WEB_URL}"),
        "shop-db": PostgresTarget(kind="postgres", conn_id="shop_db"),
        "cache": TcpTarget(kind="tcp", address=f"127.0.0.1:{free_port()}"),
        "orders-box": ContainerTarget(kind="container", container="orders", docker_url=engine.url),
    }
    checks = [
        HttpCheck(kind="http", id="web-health", target="web", path="/health"),
        HttpCheck(
            kind="http",
            id="orders-health",
            target="web",
            path="/orders/health",
            check_dependencies=True,
        ),
        PostgresCheck(kind="postgres", id="shop-db", target="shop-db", expect_schemas=["public"]),
        TcpCheck(kind="tcp", id="cache-port", target="cache", timeout_s=2),
        ContainerCheck(kind="container", id="orders-container", target="orders-box"),
    ]
    spec = Spec(environment="test", targets=targets, checks=Checks(health=checks))
    environ = {"WEB_URL": http_server.base_url, "AIRFLOW_CONN_SHOP_DB": pg.dsn()}
    ctx = RunContext(spec, environ=environ, connection=lambda c: env_connection(c, environ))

    results = run_checks(checks, ctx, max_workers=4)

    assert [r.check_id for r in results] == [c.id for c in checks]
    assert [r.status for r in results] == [
        Status.PASSED,
        Status.FAILED,
        Status.PASSED,
        Status.ERROR,
        Status.PASSED,
    ]
    assert [r.check_kind for r in results] == [
        "http",
        "http",
        "postgres",
        "tcp",
        "container",
    ]
    assert all(r.family == "health" for r in results)
    table = format_table(results)
    assert table.splitlines()[-1] == "5 checks: 3 passed, 1 failed, 1 error"
    assert "dependency inventory-api is down" in table
    assert "connection refused" in table
