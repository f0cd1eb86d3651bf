"""MongoDB health checks through the real `pymongo` driver, against a STAND-IN server.

No MongoDB server can be installed on the machines these tests run on (Debian ships no
`mongod`, and the test-server packages download a binary at run time), so the server here
is tests/support/mongo_wire.py: a small server on 127.0.0.1 speaking the MongoDB wire
protocol (OP_MSG; the driver's `hello` handshake; SCRAM-SHA-256 logins) for exactly the
commands the check sends, with answers each test switches (no primary, a lagging member,
connections near the limit, garbage, silence). What these tests prove: the runner's use of
the driver, its reading of the replies, its verdicts and its errors. What they cannot
prove: that a real server's replies keep this shape (the stand-in copies MongoDB 7.0's).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.mongo_wire import MongoStandIn
from vigil.checks import mongodb
from vigil.checks.models import MongoCheck
from vigil.config_errors import is_configuration_error
from vigil.context import RunContext
from vigil.result import CheckResult, Status
from vigil.spec.models import Checks, MongoTarget, Spec

pytestmark = pytest.mark.integration

USER, PASSWORD = "vigil-monitor", "m0ngo-Secret-pa55"


@pytest.fixture
def server() -> Iterator[MongoStandIn]:
    with MongoStandIn(users={USER: PASSWORD}) as stand_in:
        yield stand_in


def _run(
    server: MongoStandIn | None = None,
    *,
    url: str | None = None,
    environ: dict[str, str] | None = None,
    **check_fields: Any,
) -> CheckResult:
    """By default the target is the connection `orders_db`: AIRFLOW_CONN_ORDERS_DB, a
    MongoDB URI as Airflow's environment backend reads it, with the monitor's login."""
    check_fields.setdefault("timeout_s", 2)
    check = MongoCheck(kind="mongodb", id="orders-db-up", target="orders-db", **check_fields)
    env = dict(environ or {})
    if url is not None:
        target = MongoTarget(kind="mongodb", url=url)
    else:
        target = MongoTarget(kind="mongodb", conn_id="orders_db")
        if server is not None:
            env.setdefault("AIRFLOW_CONN_ORDERS_DB", server.uri(USER, PASSWORD))
    spec = Spec(environment="test", targets={"orders-db": target}, checks=Checks(health=[check]))
    [result] = mongodb.run(check, RunContext(spec, environ=env))
    assert result.family == "health" and result.check_kind == "mongodb"
    assert PASSWORD not in json.dumps(result.to_row(), default=str)
    return result


def test_standalone_answers_and_passes(server: MongoStandIn) -> None:
    result = _run(server, min_version="6.0", max_connection_usage=0.5)
    assert result.status is Status.PASSED, result.message
    assert result.message.startswith(f"MongoDB orders_db ({server.address}/admin) answered ping")
    assert result.message.endswith("(MongoDB 7.0.12, standalone, 5/1000 connections in use)")
    assert result.observed["version"] == "7.0.12"
    assert result.observed["replica_set"] is None
    assert result.observed["connections"] == {"current": 5, "available": 995, "usage": 0.005}
    # The driver really logged in with the connection's credentials, then ran each command.
    assert server.commands[-6:] == [
        "saslstart", "saslcontinue", "ping", "buildinfo", "serverstatus", "hello",
    ]  # fmt: skip


def test_a_json_connection_with_extras(server: MongoStandIn) -> None:
    connection = {
        "conn_type": "mongo",
        "host": "127.0.0.1",
        "port": server.port,
        "login": USER,
        "password": PASSWORD,
        "schema": "orders",
        "extra": {"authSource": "admin"},
    }
    result = _run(server, environ={"AIRFLOW_CONN_ORDERS_DB": json.dumps(connection)})
    assert result.status is Status.PASSED, result.message
    assert result.details["server"] == f"{server.address}/orders"


def test_wrong_password_is_an_error_and_masked(server: MongoStandIn) -> None:
    wrong = server.uri(USER, "not-" + PASSWORD)
    result = _run(server, environ={"AIRFLOW_CONN_ORDERS_DB": wrong})
    assert result.status is Status.ERROR
    assert result.message.endswith(
        ": authentication failed: Authentication failed. (AuthenticationFailed)"
    )
    assert "not-" not in result.message


def test_no_login_is_refused_as_unauthorized(server: MongoStandIn) -> None:
    result = _run(server, environ={"AIRFLOW_CONN_ORDERS_DB": server.uri()})
    assert result.status is Status.ERROR
    assert result.message.endswith(
        ": serverStatus failed: command serverstatus requires authentication (Unauthorized)"
    )


def test_url_target_with_a_password_reference(server: MongoStandIn) -> None:
    url = f"mongodb://{USER}:${{MONGO_PASSWORD}}@{server.address}/admin"
    result = _run(url=url, environ={"MONGO_PASSWORD": PASSWORD})
    assert result.status is Status.PASSED, result.message
    assert result.message.startswith(f"MongoDB {server.address}/admin answered ping")


def test_version_below_the_minimum_fails(server: MongoStandIn) -> None:
    result = _run(server, min_version="8.0")
    assert result.status is Status.FAILED
    assert result.message.endswith(": version 7.0.12, expected at least 8.0")


def test_standalone_where_a_replica_set_is_required_fails(server: MongoStandIn) -> None:
    result = _run(server, require_replica_set=True)
    assert result.status is Status.FAILED
    assert result.message.endswith(": not a replica set member (a standalone server)")
    assert "replsetgetstatus" not in server.commands


def test_healthy_replica_set_passes(server: MongoStandIn) -> None:
    server.replica_set("rs0")
    server.lagging(1, 2)
    result = _run(server, require_replica_set=True, max_replication_lag_s=10)
    assert result.status is Status.PASSED, result.message
    assert "replica set rs0" in result.message
    states = [m["state"] for m in result.observed["members"]]
    assert states == ["PRIMARY", "SECONDARY", "SECONDARY"]
    assert result.observed["replication_lag_s"]["db2.example:27017"] == 2
    assert "replsetgetstatus" in server.commands


def test_replica_set_without_a_primary_fails(server: MongoStandIn) -> None:
    server.replica_set("rs0")
    server.no_primary()
    result = _run(server)
    assert result.status is Status.FAILED
    assert result.message.endswith(
        f": replica set rs0 has no primary ({server.address} SECONDARY, "
        "db2.example:27017 SECONDARY, db3.example:27017 SECONDARY)"
    )


def test_lagging_and_unreachable_members_fail(server: MongoStandIn) -> None:
    server.replica_set("rs0")
    server.lagging(1, 45)
    server.member_down(2)
    result = _run(server, max_replication_lag_s=10)
    assert result.status is Status.FAILED
    assert result.message.endswith(
        ": unhealthy members: db3.example:27017 (not reachable/healthy); secondary "
        "db2.example:27017 is 45s behind the primary, over the 10s limit"
    )


def test_connections_near_the_limit_fail(server: MongoStandIn) -> None:
    server.connections(950, 50)
    result = _run(server, max_connection_usage=0.9)
    assert result.status is Status.FAILED
    assert result.message.endswith(": 950 of 1000 connections in use (95%), over the 90% limit")
    assert result.observed["connections"]["usage"] == 0.95


def test_server_stopped_mid_test_is_an_error() -> None:
    server = MongoStandIn(users={USER: PASSWORD}).start()
    try:
        assert _run(server).status is Status.PASSED
    finally:
        server.stop()
    result = _run(server, timeout_s=1)
    assert result.status is Status.ERROR
    assert result.message.startswith(
        f"MongoDB orders_db ({server.address}/admin): no usable server within 1s: "
        f"{server.address}: [Errno 111] Connection refused"
    )


def test_a_server_that_answers_garbage_is_an_error(server: MongoStandIn) -> None:
    server.set_mode("garbage")
    result = _run(server, timeout_s=1)
    assert result.status is Status.ERROR
    assert ": no usable server within 1s: " in result.message


def test_a_silent_server_is_an_error(server: MongoStandIn) -> None:
    server.set_mode("silent")
    result = _run(server, timeout_s=0.5)
    assert result.status is Status.ERROR
    assert ": no usable server within 0.5s: " in result.message


def test_unknown_connection_is_a_configuration_error() -> None:
    result = _run()
    assert result.status is Status.ERROR and is_configuration_error(result)
    assert result.message == (
        "configuration problem: connection 'orders_db' is not defined "
        "(set AIRFLOW_CONN_ORDERS_DB or add it in Airflow)"
    )
