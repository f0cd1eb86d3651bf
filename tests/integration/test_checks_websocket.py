"""WebSocket health checks against real WebSocket servers on 127.0.0.1: the `websockets`
library's server in a thread (tests/support/ws_server.py), the demo system's order feed
(as include/specs/demo.yaml checks it), and raw sockets that never answer, answer
garbage, or are closed."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.ws_server import FeedServer
from vigil.checks import websocket
from vigil.checks.models import WebsocketCheck
from vigil.config_errors import is_configuration_error
from vigil.context import RunContext
from vigil.result import CheckResult, Status
from vigil.spec.loader import load_spec
from vigil.spec.models import Checks, Spec, WebsocketTarget
from vigil.stack.postgres import LocalPostgres, free_port

pytestmark = pytest.mark.integration

TOKEN = "feed-tok-9f8e7d6c5b4a"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def feed() -> Iterator[FeedServer]:
    with FeedServer(token=TOKEN) as server:
        yield server


BEARER = {"Authorization": "Bearer ${FEED_TOKEN}"}


def _run(
    url: str,
    headers: dict[str, str] | None = None,
    environ: dict[str, str] | None = None,
    **check_fields: Any,
) -> CheckResult:
    check_fields.setdefault("timeout_s", 2)
    check = WebsocketCheck(kind="websocket", id="feed-up", target="feed", **check_fields)
    headers = BEARER if headers is None else headers
    target = WebsocketTarget(kind="websocket", url=url, headers=headers)
    spec = Spec(environment="test", targets={"feed": target}, checks=Checks(health=[check]))
    env = {"FEED_TOKEN": TOKEN, **(environ or {})}
    [result] = websocket.run(check, RunContext(spec, environ=env))
    assert result.family == "health" and result.check_kind == "websocket"
    assert TOKEN not in json.dumps(result.to_row(), default=str)
    return result


def test_hello_with_a_bearer_header_passes(feed: FeedServer) -> None:
    result = _run(feed.url(), conditions=["type == hello", "listening == true"])
    assert result.status is Status.PASSED, result.message
    assert result.message.startswith(f"WebSocket {feed.url()} accepted the handshake in ")
    assert "; a matching message after " in result.message
    assert result.observed["messages_read"] == 1
    assert all(c["ok"] for c in result.observed["conditions"])
    assert json.loads(result.details["messages"][0])["type"] == "hello"
    assert feed.handshakes[-1][1]["Authorization"] == f"Bearer {TOKEN}"


def test_token_as_a_query_parameter_is_masked(feed: FeedServer) -> None:
    # The variable's name says nothing; the parameter's (`access_token`) does.
    url = feed.url("/feed?access_token=${ACME}")
    result = _run(url, {}, environ={"ACME": TOKEN}, conditions=['type == "hello"'])
    assert result.status is Status.PASSED, result.message
    assert result.details["url"] == feed.url("/feed?access_token=***")


def test_an_http_url_is_upgraded(feed: FeedServer) -> None:
    result = _run(feed.url(scheme="http"))
    assert result.status is Status.PASSED, result.message
    assert result.message.startswith(f"WebSocket {feed.url()} accepted")


def test_handshake_without_the_token_is_refused(feed: FeedServer) -> None:
    result = _run(feed.url(), {})
    assert result.status is Status.FAILED
    assert result.message == (
        f"WebSocket {feed.url()}: handshake refused: HTTP 401 Unauthorized "
        "(missing or unknown bearer token)"
    )
    assert result.observed == {"handshake_status": 401}


def test_wrong_token_is_refused_and_masked(feed: FeedServer) -> None:
    result = _run(feed.url(), environ={"FEED_TOKEN": "wrong-" + TOKEN})
    assert result.status is Status.FAILED
    assert "handshake refused: HTTP 401" in result.message


def test_a_later_message_can_match(feed: FeedServer) -> None:
    result = _run(feed.url(), conditions=['type == "tick"', "n >= 3"])
    assert result.status is Status.PASSED, result.message
    assert result.message.endswith("(message 5)")
    assert result.observed["messages_read"] == 5


def test_send_then_expect_the_answer(feed: FeedServer) -> None:
    send = {"op": "subscribe", "channel": "orders", "auth": "${FEED_TOKEN}"}
    result = _run(
        feed.url("/echo"), send=send, conditions=['type == "echo"', "message contains subscribe"]
    )
    assert result.status is Status.PASSED, result.message
    assert json.loads(feed.received[-1]) == {**send, "auth": TOKEN}  # resolved, sent as JSON
    assert "***" in result.details["messages"][0]  # the echo of the token, masked


def test_a_text_message_is_the_document(feed: FeedServer) -> None:
    assert _run(feed.url("/text"), conditions=['$ == "pong"']).status is Status.PASSED
    result = _run(feed.url("/text"), conditions=['$ == "ping"'], timeout_s=0.5)
    assert result.status is Status.FAILED
    assert result.message.endswith(
        'no matching message within 0.5s (1 read; the last: $ == "ping" (got "pong"))'
    )


def test_handshake_header_conditions(feed: FeedServer) -> None:
    ok = _run(feed.url("/silent"), expect_message=False, conditions=["header:Upgrade == websocket"])
    assert ok.status is Status.PASSED, ok.message
    assert ok.message.startswith(f"WebSocket {feed.url('/silent')} accepted the handshake in ")
    assert ";" not in ok.message  # no message awaited
    bad = _run(feed.url("/silent"), expect_message=False, conditions=["header:X-Feed exists"])
    assert bad.status is Status.FAILED
    assert bad.message.endswith(
        "handshake condition header:X-Feed exists (got missing) does not hold"
    )


def test_a_silent_feed_fails(feed: FeedServer) -> None:
    result = _run(feed.url("/silent"), timeout_s=0.5)
    assert result.status is Status.FAILED
    assert result.message == (
        f"WebSocket {feed.url('/silent')}: no message within 0.5s (a silent feed)"
    )


def test_a_feed_that_closes_fails_with_its_reason(feed: FeedServer) -> None:
    result = _run(feed.url("/close"))
    assert result.status is Status.FAILED
    assert result.message.endswith(
        "the server closed the connection (code 1008: tenant suspended) before any message"
    )


def test_no_match_within_max_messages_fails(feed: FeedServer) -> None:
    result = _run(feed.url(), conditions=['type == "order_status"'], max_messages=3)
    assert result.status is Status.FAILED
    assert result.message.endswith(
        'none of the 3 messages read matched; the last: type == "order_status" (got "tick")'
    )
    assert len(result.details["messages"]) == 3


def test_latency_budget(feed: FeedServer) -> None:
    result = _run(feed.url(), conditions=['type == "tick"', "n >= 4"], latency_budget_ms=1)
    assert result.status is Status.FAILED
    assert "over the 1.0 ms budget" in result.message


def test_closed_port_is_an_error() -> None:
    port = free_port()
    result = _run(f"ws://127.0.0.1:{port}/feed")
    assert result.status is Status.ERROR
    assert result.message == (
        f"WebSocket ws://127.0.0.1:{port}/feed: connection refused (nothing listening?)"
    )


def test_server_stopped_mid_test_is_an_error() -> None:
    server = FeedServer(token=TOKEN).start()
    try:
        assert _run(server.url()).status is Status.PASSED
    finally:
        server.stop()
    result = _run(server.url())
    assert result.status is Status.ERROR
    assert result.message.endswith("connection refused (nothing listening?)")


def _raw_server(answer: bytes | None) -> tuple[socket.socket, threading.Thread]:
    """A listener that reads the handshake and answers `answer` (None: nothing, ever)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    sock.settimeout(5)

    def serve() -> None:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(4096)
                if answer is not None:
                    conn.sendall(answer)
                else:
                    conn.recv(4096)  # hold the connection until the client gives up
            except OSError:
                return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return sock, thread


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (None, "no handshake within 0.5s (timed out)"),
        (b"SSH-2.0-OpenSSH_9.2\r\n", "the answer to the handshake is not a WebSocket upgrade"),
    ],
)
def test_no_handshake_or_a_garbled_one_is_an_error(answer: bytes | None, reason: str) -> None:
    sock, thread = _raw_server(answer)
    with sock:
        port = sock.getsockname()[1]
        result = _run(f"ws://127.0.0.1:{port}/", timeout_s=0.5)
    thread.join(timeout=10)
    assert result.status is Status.ERROR
    assert f"WebSocket ws://127.0.0.1:{port}/: {reason}" in result.message


def test_missing_variable_is_a_configuration_error() -> None:
    result = _run("${FEED_URL}/feed")
    assert result.status is Status.ERROR and is_configuration_error(result)
    assert "environment variable FEED_URL is not set" in result.message


# --- the demo system's order feed, as include/specs/demo.yaml checks it ---------------


@pytest.fixture(scope="module")
def demo(pg: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from demo.launcher import DemoSystem

    name = "demo_ws_" + uuid.uuid4().hex[:8]
    pg.create_database(name)
    system = DemoSystem(
        pg.dsn(name),
        tmp_path_factory.mktemp("demo-state"),
        orders_port=free_port(),
        inventory_port=free_port(),
    )
    system.start()
    yield system
    system.stop()


def test_the_demo_feed_as_the_demo_spec_checks_it(demo: Any) -> None:
    from demo.config import ACME_TOKEN

    spec = load_spec(REPO / "include" / "specs" / "demo.yaml")
    [check] = [c for c in spec.checks_of("health") if c.kind == "websocket"]
    environ = {"DEMO_ORDERS_URL": demo.orders_url, "DEMO_TOKEN_ACME": ACME_TOKEN}
    [result] = websocket.run(check, RunContext(spec, environ=environ))
    assert result.status is Status.PASSED, result.message
    assert result.message.startswith(f"WebSocket ws://{demo.orders_url[7:]}/v1/orders/feed ")
    assert ACME_TOKEN not in json.dumps(result.to_row(), default=str)
    [refused] = websocket.run(check, RunContext(spec, environ={**environ, "DEMO_TOKEN_ACME": "x"}))
    assert refused.status is Status.FAILED
    assert "handshake refused: HTTP 401" in refused.message


SERVER_JWT = (
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzZXNzaW9uLTQyIiwicm9sZSI6ImFkbWluIn0."
    "c2lnbmF0dXJlLW9mLXRoZS1zZXJ2ZXI"
)
SERVER_TOKEN = "srv-access-7Qz9LmPx3Wv8Kd2R"


@pytest.fixture
def leaky() -> Iterator[str]:
    """A server that hands out its own secrets: a session JWT in Set-Cookie, an
    `access_token` in its first message, and a token in the body of a refused handshake."""
    from websockets.sync.server import Server, ServerConnection, serve

    def process_request(connection: ServerConnection, request: Any) -> Any:
        if request.path.startswith("/refuse"):
            body = json.dumps(
                {"error": "expired", "refresh_token": SERVER_TOKEN, "jwt": SERVER_JWT}
            )
            return connection.respond(403, body)
        return None

    def process_response(connection: ServerConnection, request: Any, response: Any) -> Any:
        response.headers["Set-Cookie"] = f"session={SERVER_JWT}; HttpOnly"
        response.headers["X-Session-Token"] = SERVER_TOKEN
        response.headers["Server"] = "leaky/1.0"
        return response

    def handle(ws: ServerConnection) -> None:
        ws.send(json.dumps({"type": "hello", "access_token": SERVER_TOKEN, "id": SERVER_JWT}))
        ws.wait_closed()

    server: Server = serve(
        handle, "127.0.0.1", 0, process_request=process_request, process_response=process_response
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_tokens_the_server_sends_are_not_kept_as_evidence(leaky: str) -> None:
    result = _run(
        leaky + "/feed",
        {},
        conditions=['type == "hello"', "header:Set-Cookie exists"],
    )
    assert result.status is Status.PASSED, result.message
    headers = result.details["handshake_headers"]
    assert "set-cookie" not in headers and "x-session-token" not in headers
    assert headers["server"] == "leaky/1.0"  # a telling header stays
    assert "access_token" in result.details["messages"][0]  # the field stays, its value not
    row = json.dumps(result.to_row(), default=str)
    assert SERVER_JWT not in row and SERVER_TOKEN not in row
    assert "eyJhbGciOiJIUzI1NiJ9" not in row


def test_a_refused_handshake_body_keeps_no_token(leaky: str) -> None:
    result = _run(leaky + "/refuse", {})
    assert result.status is Status.FAILED
    assert "handshake refused: HTTP 403" in result.message
    assert "expired" in result.details["response"]["body"]
    row = json.dumps(result.to_row(), default=str)
    assert SERVER_JWT not in row and SERVER_TOKEN not in row
