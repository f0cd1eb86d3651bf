"""PostgreSQL health checks against real PostgreSQL servers: the session `pg` cluster, and
a second cluster of this module's own that is stopped mid-test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from vigil.checks import postgres
from vigil.checks.models import PostgresCheck
from vigil.context import ConnectionInfo, RunContext, env_connection
from vigil.result import CheckResult, Status
from vigil.spec.models import Checks, PostgresTarget, Spec
from vigil.stack.postgres import LocalPostgres, free_port

pytestmark = pytest.mark.integration


def _run(
    dsn: str | None, connection: Callable[[str], ConnectionInfo] | None = None, **check_fields: Any
) -> CheckResult:
    check_fields.setdefault("timeout_s", 5)
    check = PostgresCheck(kind="postgres", id="shop-db", target="shop", **check_fields)
    spec = Spec(
        environment="test",
        targets={"shop": PostgresTarget(kind="postgres", conn_id="shop_db")},
        checks=Checks(health=[check]),
    )
    # The connection comes the way it does outside Airflow: AIRFLOW_CONN_<ID>.
    environ = {"AIRFLOW_CONN_SHOP_DB": dsn} if dsn else {}
    resolver = connection or (lambda conn_id: env_connection(conn_id, environ))
    [result] = postgres.run(check, RunContext(spec, connection=resolver, environ=environ))
    assert result.check_kind == "postgres"
    return result


def _dbname(dsn: str) -> str:
    return dsn.rsplit("/", 1)[1]


def test_reachable_database_passes_read_only(fresh_db: str) -> None:
    result = _run(
        fresh_db, expect_databases=["postgres", _dbname(fresh_db)], expect_schemas=["public"]
    )
    assert result.status is Status.PASSED, result.message
    assert result.observed["server_version"].split(".")[0].isdigit()
    assert result.observed["database"] == _dbname(fresh_db)
    assert result.observed["connections"]["used"] >= 1
    assert result.observed["connections"]["max"] == 200
    assert result.details["read_only_transaction"] is True
    assert "answered in" in result.message and "/200 connections in use" in result.message


def test_missing_databases_and_schemas_are_listed(fresh_db: str) -> None:
    result = _run(
        fresh_db,
        expect_databases=["postgres", "audit", "billing"],
        expect_schemas=["public", "sales"],
    )
    assert result.status is Status.FAILED
    db = _dbname(fresh_db)
    assert result.message.endswith(
        f"missing databases: audit, billing; missing schemas in {db}: sales"
    )
    assert result.observed["missing_databases"] == ["audit", "billing"]
    assert result.observed["missing_schemas"] == ["sales"]


def test_schema_created_later_is_found(fresh_db: str) -> None:
    assert _run(fresh_db, expect_schemas=["sales"]).status is Status.FAILED
    conn = psycopg2.connect(fresh_db)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("CREATE SCHEMA sales")
    finally:
        conn.close()
    assert _run(fresh_db, expect_schemas=["sales"]).status is Status.PASSED


def test_connection_headroom(fresh_db: str) -> None:
    held = [psycopg2.connect(fresh_db) for _ in range(20)]
    try:
        # 20 held + the check's own = 21 of 200 client connections: 10.5%.
        tight = _run(fresh_db, max_connection_usage=0.10)
        roomy = _run(fresh_db, max_connection_usage=0.50)
    finally:
        for conn in held:
            conn.close()
    assert tight.status is Status.FAILED
    assert "connections in use" in tight.message and "over the 10% limit" in tight.message
    assert tight.observed["connections"]["used"] >= 21
    assert tight.expected["max_connection_usage"] == 0.10
    assert roomy.status is Status.PASSED


def test_a_query_that_blocks_hits_the_statement_timeout(fresh_db: str) -> None:
    # An exclusive lock on pg_namespace blocks the schema lookup: a stand-in for a server
    # too busy to answer.
    locker = psycopg2.connect(fresh_db)
    try:
        with locker.cursor() as cur:
            cur.execute("LOCK TABLE pg_namespace IN ACCESS EXCLUSIVE MODE")
        result = _run(fresh_db, expect_schemas=["public"], timeout_s=1)
    finally:
        locker.rollback()
        locker.close()
    assert result.status is Status.ERROR
    assert result.message.endswith("query timed out after 1s")


def test_unknown_connection_is_a_configuration_error() -> None:
    result = _run(None)
    assert result.status is Status.ERROR
    assert result.message == (
        "configuration problem: connection 'shop_db' is not defined "
        "(set AIRFLOW_CONN_SHOP_DB or add it in Airflow)"
    )


def test_refused_connection_is_an_error() -> None:
    port = free_port()
    result = _run(f"postgresql://postgres@127.0.0.1:{port}/postgres")
    assert result.status is Status.ERROR
    assert result.message.startswith(f"PostgreSQL shop_db (127.0.0.1:{port}/postgres): ")
    assert "Connection refused" in result.message and "\n" not in result.message


def test_password_never_shows(pg: LocalPostgres) -> None:
    # Trust auth ignores the password, so it must come back in an error of our making:
    # a database that does not exist.
    info = ConnectionInfo(
        "shop_db",
        "postgres",
        "127.0.0.1",
        pg.port,
        "postgres",
        "hunter2-secret",
        "no_such_db_" + "x" * 4,
    )
    result = _run(None, connection=lambda conn_id: info)
    assert result.status is Status.ERROR
    assert "does not exist" in result.message
    assert "hunter2-secret" not in str(result.to_row())


@pytest.fixture
def second_pg(tmp_path: Path) -> Iterator[LocalPostgres]:
    server = LocalPostgres(tmp_path / "data", free_port()).start()
    yield server
    server.stop()


def test_server_stopped_mid_test_becomes_an_error(second_pg: LocalPostgres) -> None:
    dsn = second_pg.dsn()
    assert _run(dsn).status is Status.PASSED
    second_pg.stop()
    result = _run(dsn, timeout_s=2)
    assert result.status is Status.ERROR
    assert f"127.0.0.1:{second_pg.port}/postgres" in result.message
    assert "Connection refused" in result.message
