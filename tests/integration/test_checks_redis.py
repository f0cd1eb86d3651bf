"""Redis health checks against real `redis-server` processes on free loopback ports
(tests/support/redis_server.py; Debian's package, installed when missing): a master, a
replica of it, a password-protected one, and servers stopped or frozen mid-test."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.redis_server import RedisServer
from vigil.checks import redis as redis_check
from vigil.checks.models import RedisCheck
from vigil.config_errors import is_configuration_error
from vigil.context import RunContext
from vigil.result import CheckResult, Status
from vigil.spec.models import Checks, RedisTarget, Spec

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-redis-Pa55word"


def _run(
    server: RedisServer | None = None,
    *,
    url: str | None = None,
    environ: dict[str, str] | None = None,
    **check_fields: Any,
) -> CheckResult:
    """Run a redis check; by default the target is the connection `cache`, which
    AIRFLOW_CONN_CACHE (a URI, as Airflow's environment backend reads it) points at
    `server`, with its password."""
    check_fields.setdefault("timeout_s", 3)
    check = RedisCheck(kind="redis", id="cache-up", target="cache", **check_fields)
    env = dict(environ or {})
    if url is not None:
        target = RedisTarget(kind="redis", url=url)
    else:
        target = RedisTarget(kind="redis", conn_id="cache")
        if server is not None:
            auth = f":{server.password}@" if server.password else ""
            env.setdefault("AIRFLOW_CONN_CACHE", f"redis://{auth}127.0.0.1:{server.port}/0")
    spec = Spec(environment="test", targets={"cache": target}, checks=Checks(health=[check]))
    [result] = redis_check.run(check, RunContext(spec, environ=env))
    assert result.family == "health" and result.check_kind == "redis"
    return result


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("master")) as server:
        yield server


@pytest.fixture(scope="module")
def replica(master: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("replica"), replica_of=master) as server:
        server.wait_for_link()
        yield server


def test_master_answers_and_passes(master: RedisServer) -> None:
    result = _run(master, expect_role="master", max_clients=50, max_rejected_connections=0)
    assert result.status is Status.PASSED, result.message
    where = f"127.0.0.1:{master.port}/0"
    assert result.message.startswith(f"Redis cache ({where}) answered PING in ")
    assert "(Redis 7." in result.message and ", master, " in result.message
    assert result.observed["role"] == "master"
    assert result.observed["connected_clients"] >= 1
    assert result.observed["version"].startswith("7.")
    assert result.details == {"server": where, "conn_id": "cache"}
    assert result.expected["expect_role"] == "master"


def test_replica_role_link_and_lag(master: RedisServer, replica: RedisServer) -> None:
    ok = _run(replica, expect_role="replica", max_replication_lag_s=30)
    assert ok.status is Status.PASSED, ok.message
    assert ok.observed["role"] == "replica"
    assert ok.observed["master_link_status"] == "up"
    wrong = _run(replica, expect_role="master")
    assert wrong.status is Status.FAILED
    assert wrong.message.endswith(": role is replica, expected master")
    # The master sees its replica online, acknowledging every second — once the first
    # sync is over on the master's side too (it reports `wait_bgsave` until then).
    master.wait_for(
        lambda: dict(master.info("replication").get("slave0") or {}).get("state") == "online",
        "to see its replica online",
    )
    seen = _run(master, max_replication_lag_s=30)
    assert seen.status is Status.PASSED, seen.message
    assert seen.observed["replicas"][0]["port"] == replica.port
    assert seen.observed["replicas"][0]["state"] == "online"


def test_replica_whose_master_is_silent_lags(tmp_path: Path) -> None:
    # The master pings its replica every second; frozen, it says nothing at all.
    args = ("--repl-ping-replica-period", "1")
    with (
        RedisServer(tmp_path / "m", args=args) as master,
        RedisServer(tmp_path / "r", replica_of=master) as replica,
    ):
        replica.wait_for_link()
        assert _run(replica, max_replication_lag_s=2).status is Status.PASSED
        master.pause()
        try:
            replica.wait_for(
                lambda: replica.info("replication")["master_last_io_seconds_ago"] >= 3,
                "to miss its master for 3s",
                timeout_s=15,
            )
            result = _run(replica, max_replication_lag_s=2)
        finally:
            master.resume()
    assert result.status is Status.FAILED
    assert f"last heard from master 127.0.0.1:{master.port} " in result.message
    assert result.message.endswith("s ago, over the 2s replication lag limit")


def test_replica_whose_master_stopped_has_its_link_down(tmp_path: Path) -> None:
    with (
        RedisServer(tmp_path / "m") as master,
        RedisServer(tmp_path / "r", replica_of=master) as replica,
    ):
        replica.wait_for_link()
        master.stop()
        replica.wait_for(
            lambda: replica.info("replication")["master_link_status"] == "down", "to lose its link"
        )
        result = _run(replica, expect_role="replica")
    assert result.status is Status.FAILED
    assert f": replication link to master 127.0.0.1:{master.port} is down" in result.message
    assert result.observed["master_link_status"] == "down"


def test_password_comes_from_the_connection_and_is_masked(tmp_path: Path) -> None:
    with RedisServer(tmp_path, password=PASSWORD) as server:
        ok = _run(server)
        wrong_uri = f"redis://:wrong-{PASSWORD}@127.0.0.1:{server.port}/0"
        wrong = _run(server, environ={"AIRFLOW_CONN_CACHE": wrong_uri})
        none = _run(server, environ={"AIRFLOW_CONN_CACHE": f"redis://127.0.0.1:{server.port}/0"})
    assert ok.status is Status.PASSED, ok.message
    assert wrong.status is Status.ERROR
    assert wrong.message.endswith(
        ": authentication failed: invalid username-password pair or user is disabled."
    )
    assert none.status is Status.ERROR
    assert none.message.endswith(": authentication failed: Authentication required.")
    for result in (ok, wrong, none):
        assert PASSWORD not in json.dumps(result.to_row(), default=str)


def test_url_target_with_a_password_reference(tmp_path: Path) -> None:
    with RedisServer(tmp_path, password=PASSWORD) as server:
        url = f"redis://:${{CACHE_PASSWORD}}@127.0.0.1:{server.port}/0"
        ok = _run(url=url, environ={"CACHE_PASSWORD": PASSWORD}, expect_role="master")
        unset = _run(url=url)
    assert ok.status is Status.PASSED, ok.message
    assert ok.message.startswith(f"Redis 127.0.0.1:{server.port}/0 answered PING")
    assert unset.status is Status.ERROR and is_configuration_error(unset)
    assert "environment variable CACHE_PASSWORD is not set" in unset.message


def test_clients_against_a_maximum(tmp_path: Path) -> None:
    with RedisServer(tmp_path, args=("--maxclients", "20")) as server:
        held = [server.client() for _ in range(8)]
        try:
            for client in held:
                client.ping()
            tight = _run(server, max_clients=5)
            share = _run(server, max_client_usage=0.25)
            roomy = _run(server, max_clients=15, max_client_usage=0.9)
        finally:
            for client in held:
                client.close()
    assert tight.status is Status.FAILED
    assert tight.message.endswith("9 clients connected, over the limit of 5")
    assert share.status is Status.FAILED
    assert share.message.endswith("9 of 20 clients connected (45%), over the 25% limit")
    assert roomy.status is Status.PASSED, roomy.message


def test_rejected_connections(tmp_path: Path) -> None:
    with RedisServer(tmp_path, args=("--maxclients", "2")) as server:
        held = [server.client() for _ in range(2)]
        for client in held:
            client.ping()
        # One more connection, by hand (a client library would retry): refused, counted once.
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as extra:
            assert extra.recv(1024).startswith(b"-ERR max number of clients reached")
        held.pop().close()
        # Watch through the connection still held: a new one could be rejected too.
        server.wait_for(lambda: held[0].info("clients")["connected_clients"] == 1, "to free one")
        result = _run(server, max_rejected_connections=0)
        held.pop().close()
    assert result.status is Status.FAILED
    assert result.message.endswith(
        ": 1 connections rejected since the server started, over the limit of 0"
    )
    assert result.observed["rejected_connections"] == 1


def test_memory_against_maxmemory(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "capped", args=("--maxmemory", "4mb")) as capped:
        tight = _run(capped, max_memory_usage=0.01)
        roomy = _run(capped, max_memory_usage=0.99)
    assert tight.status is Status.FAILED
    assert " of 4.0 MB maxmemory used (" in tight.message
    assert tight.message.endswith("over the 1% limit")
    assert tight.observed["maxmemory"] == 4 * 1024 * 1024
    assert roomy.status is Status.PASSED, roomy.message


def test_memory_share_without_maxmemory_is_a_configuration_error(master: RedisServer) -> None:
    result = _run(master, max_memory_usage=0.5)
    assert result.status is Status.ERROR and is_configuration_error(result)
    assert "the server sets no maxmemory" in result.message


def test_keys_that_must_exist(master: RedisServer) -> None:
    with master.client() as client:
        client.set("feature:flags", "{}")
    try:
        result = _run(master, expect_keys=["feature:flags", "sessions:index", "queue:jobs"])
    finally:
        with master.client() as client:
            client.delete("feature:flags")
    assert result.status is Status.FAILED
    assert result.message.endswith(": missing keys: sessions:index, queue:jobs")
    assert result.observed["missing_keys"] == ["sessions:index", "queue:jobs"]


def test_server_stopped_mid_test_is_an_error(tmp_path: Path) -> None:
    server = RedisServer(tmp_path).start()
    try:
        assert _run(server).status is Status.PASSED
    finally:
        server.stop()
    result = _run(server)
    assert result.status is Status.ERROR
    assert f"Redis cache (127.0.0.1:{server.port}/0): cannot connect: " in result.message
    assert "refused" in result.message.lower()


def test_frozen_server_times_out(tmp_path: Path) -> None:
    with RedisServer(tmp_path) as server:
        server.pause()
        try:
            result = _run(server, timeout_s=0.5)
        finally:
            server.resume()
    assert result.status is Status.ERROR
    assert "no answer within 0.5s (timed out" in result.message


def _garbage_server(sock: socket.socket) -> None:
    """Answer anything with an HTTP error page: not the Redis protocol."""
    sock.settimeout(5)
    for _ in range(5):  # bounded: the client connects once or twice
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        with conn:
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


def test_a_server_that_is_not_redis_is_an_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        port = sock.getsockname()[1]
        thread = threading.Thread(target=_garbage_server, args=(sock,), daemon=True)
        thread.start()
        result = _run(url=f"redis://127.0.0.1:{port}/0")
    thread.join(timeout=10)
    assert result.status is Status.ERROR
    assert result.message == (
        f"Redis 127.0.0.1:{port}/0: the answer is not the Redis protocol (not a Redis "
        "server?): Protocol Error: b'HTTP/1.1 400 Bad Request'"
    )


def test_unknown_connection_is_a_configuration_error() -> None:
    result = _run()
    assert result.status is Status.ERROR and is_configuration_error(result)
    assert result.message == (
        "configuration problem: connection 'cache' is not defined "
        "(set AIRFLOW_CONN_CACHE or add it in Airflow)"
    )
