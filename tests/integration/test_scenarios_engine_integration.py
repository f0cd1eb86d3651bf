"""Journeys run by the engine against real parts: the demo system (orders-api, its worker,
its WebSocket feed and its PostgreSQL), HTTP servers on 127.0.0.1 whose answers are
scripted per request (a login, a racy id counter, a flaky endpoint), the WebSocket test
feed (tests/support/ws_server.py) and a real PostgreSQL for sql steps. No mocks."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import pytest

from demo.config import ACME_TOKEN
from demo.launcher import DemoSystem
from tests.support.demo_system import running_demo
from tests.support.http_server import LocalHttpServer, self_signed_tls
from tests.support.ws_server import FeedServer
from vigil.config_errors import is_configuration_error
from vigil.context import RunContext
from vigil.result import CheckResult, Severity, Status
from vigil.scenarios.engine import run_journey
from vigil.scenarios.models import JourneyCheck
from vigil.spec.models import Checks, HttpTarget, PostgresTarget, Spec, WebsocketTarget
from vigil.stack.postgres import LocalPostgres, free_port

pytestmark = pytest.mark.integration

ACME = {"Authorization": "Bearer ${ACME_TOKEN}"}
FEED_TOKEN = "feed-tok-4c3b2a19"


def run(
    journey: dict[str, Any], targets: dict[str, Any], environ: dict[str, str] | None = None
) -> list[CheckResult]:
    check = JourneyCheck.model_validate({"kind": "journey", "id": "j", **journey})
    spec = Spec(environment="test", targets=targets, checks=Checks(scenarios=[check]))
    ctx = RunContext(spec, environ=dict(environ or {}), run_id="scheduled__2026-01-01")
    results = run_journey(check, ctx)
    assert results[0].check_id == "j" and results[0].family == "scenarios"
    assert results[0].check_kind == "journey"
    return results


def http_target(base_url: str, **fields: Any) -> HttpTarget:
    return HttpTarget(kind="http", base_url=base_url, allow_writes=True, **fields)


def trace_of(result: CheckResult) -> dict[str, dict[str, Any]]:
    return {entry["step"]: entry for entry in result.details["trace"]}


def stored(results: list[CheckResult]) -> str:
    """What the results store would hold: the rows as JSON."""
    return json.dumps([r.to_row() for r in results], default=str)


# --- servers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


Answer = tuple[int, Any]  # status, JSON body
Handler = Callable[[Seen], Answer]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A parallel step opens its connections at once: the default backlog (5) would drop
    # some SYNs, and the kernel retries them a second later.
    request_queue_size = 128


class Scripted:
    """A real HTTP/1.1 keep-alive server on 127.0.0.1; each path's answer is a function
    of the request. Every request is recorded, query included."""

    def __init__(self, routes: dict[str, Handler]) -> None:
        self.routes = routes
        self.seen: list[Seen] = []
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                seen = Seen(
                    self.command,
                    parts.path,
                    parts.query,
                    dict(self.headers),
                    self.rfile.read(length) if length else b"",
                )
                scripted.seen.append(seen)
                route = scripted.routes.get(parts.path)
                status, body = route(seen) if route else (404, {"error": "no route"})
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> Scripted:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture(scope="module")
def demo(pg: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSystem]:
    name = "scenarios_" + uuid.uuid4().hex[:8]
    with running_demo(pg, name, tmp_path_factory.mktemp("demo-state")) as system:
        yield system


def demo_targets(demo: DemoSystem) -> dict[str, Any]:
    return {
        "orders": http_target(demo.orders_url, headers=ACME),
        "shop": PostgresTarget(kind="postgres", conn_id="shop"),
    }


def demo_environ(demo: DemoSystem) -> dict[str, str]:
    return {"ACME_TOKEN": ACME_TOKEN, "AIRFLOW_CONN_SHOP": demo.dsn}


ORDER = {"customer_id": 1, "items": [{"sku": "SKU-0007", "quantity": 1}]}


# --- the demo system: every step kind ---------------------------------------------------------


def test_an_order_journey_across_api_worker_database_and_feed(demo: DemoSystem) -> None:
    journey = {
        "target": "orders",
        "steps": [
            {
                "name": "subscribe",
                "subscribe": {
                    "name": "feed",
                    "target": "orders",
                    "path": "/v1/orders/feed",
                    "ready": ['type == "hello"'],
                },
            },
            {
                "name": "create",
                "http": {
                    "method": "POST",
                    "path": "/v1/orders",
                    "headers": {"Idempotency-Key": "{{run.marker}}-{{uuid}}"},
                    "body": ORDER,
                },
                "expect": {"status": [201], "conditions": ['status == "reserved"'], "max_ms": 5000},
                "capture": {"order_id": "$.id", "total": "$.total"},
            },
            {
                "name": "shipped",
                "wait_for": {
                    "http": {"path": "/v1/orders/{{order_id}}"},
                    "until": ['status == "shipped"', "id == {{order_id}}"],
                    "interval_s": 0.2,
                    "timeout_s": 20,
                },
            },
            {
                "name": "in-database",
                "sql": {
                    "target": "shop",
                    "query": "SELECT id, status, total, created_at FROM orders WHERE id = %(id)s",
                    "params": {"id": "{{order_id}}"},
                },
                "expect": {"conditions": ["row_count == 1", 'rows[0].status == "shipped"']},
                "capture": {"db_total": "$.rows[0].total"},
            },
            {
                "name": "events",
                "messages": {
                    "subscription": "feed",
                    "where": ["order_id == {{order_id}}"],
                    "sequence": [
                        'status == "reserved"',
                        'status == "paid"',
                        'status == "shipped"',
                    ],
                    "within_s": 5,
                },
            },
            {
                "name": "statuses",
                "messages": {
                    "subscription": "feed",
                    "where": ["order_id == {{order_id}}"],
                    "include": {"path": "status", "values": ["paid", "shipped"]},
                    "within_s": 2,
                },
            },
            {
                "name": "no-other-tenant",
                "messages": {
                    "subscription": "feed",
                    "where": ["tenant_id != 1"],
                    "none": True,
                    "within_s": 0.5,
                },
            },
        ],
    }
    [result] = run(journey, demo_targets(demo), demo_environ(demo))
    assert result.status is Status.PASSED, result.message
    assert result.message.startswith("j: 7 steps passed in ")
    steps = trace_of(result)
    assert [e["status"] for e in steps.values()] == ["passed"] * 7
    assert set(result.observed["steps_ms"]) == set(steps)
    assert result.observed["total_ms"] >= result.observed["steps_ms"]["shipped"]
    order_id = result.details["variables"]["order_id"]
    assert isinstance(order_id, int)
    assert result.details["variables"]["db_total"] == result.details["variables"]["total"]
    assert steps["shipped"]["attempts"] >= 2
    assert steps["in-database"]["response"]["rows"][0]["status"] == "shipped"
    assert steps["create"]["request"]["headers"]["Authorization"] == "***"
    assert steps["subscribe"]["request"]["url"].endswith("/v1/orders/feed")
    assert json.loads(steps["subscribe"]["messages"][0])["type"] == "hello"
    assert ACME_TOKEN not in stored([result])


def test_parallel_orders_get_distinct_ids_and_bind_as_an_array(demo: DemoSystem) -> None:
    journey = {
        "target": "orders",
        "steps": [
            {
                "name": "orders",
                "parallel": {
                    "copies": 10,
                    "concurrency": 5,
                    "expect": {"distinct": ["order_id"]},
                    "steps": [
                        {
                            "name": "create",
                            "http": {"method": "POST", "path": "/v1/orders", "body": ORDER},
                            "expect": {"status": [201]},
                            "capture": {"order_id": "$.id"},
                        },
                        {
                            "name": "read",
                            "http": {"path": "/v1/orders/{{order_id}}"},
                            "expect": {"conditions": ["id == {{order_id}}"]},
                        },
                        {  # a blocking step, on the step's worker threads
                            "name": "paid",
                            "wait_for": {
                                "http": {"path": "/v1/orders/{{order_id}}"},
                                "until": ['status != "reserved"'],
                                "interval_s": 0.1,
                                "timeout_s": 10,
                            },
                        },
                        {
                            "name": "row",
                            "sql": {
                                "target": "shop",
                                "query": "SELECT tenant_id FROM orders WHERE id = %(id)s",
                                "params": {"id": "{{order_id}}"},
                            },
                            "expect": {"conditions": ["rows[0].tenant_id == 1"]},
                        },
                    ],
                },
            },
            {
                "name": "all-stored",
                "sql": {
                    "target": "shop",
                    "query": "SELECT count(*) AS n FROM orders WHERE id = ANY(%(ids)s)",
                    "params": {"ids": "{{order_id}}"},
                },
                "expect": {"conditions": ["rows[0].n == 10"]},
            },
        ],
    }
    [result] = run(journey, demo_targets(demo), demo_environ(demo))
    assert result.status is Status.PASSED, result.message
    ids = result.details["variables"]["order_id"]
    assert len(ids) == 10 and len(set(ids)) == 10
    summary = trace_of(result)["orders"]
    assert summary["passed"] == 10 and summary["failed"] == 0
    assert summary["distinct"] == {"order_id": {"captured": 10, "distinct": 10}}
    assert "first_failure" not in summary


# --- failure, cleanup, retries and bounds -----------------------------------------------------


def test_a_failing_step_stops_the_journey_and_cleanup_sees_what_was_captured() -> None:
    with LocalHttpServer() as server:
        server.route("/things", status=201, json={"id": 41, "status": "new"})
        server.route("/things/41", json={"id": 41, "status": "new"})
        server.route("/broken", status=500, json={"error": "boom"})
        server.route("/gone", status=404, json={"error": "no such thing"})
        journey = {
            "target": "api",
            "steps": [
                {
                    "name": "create",
                    "http": {"method": "POST", "path": "/things", "body": {"n": "{{copy_of}}"}},
                    "capture": {"thing_id": "$.id"},
                },
                {"name": "read", "http": {"path": "/things/{{thing_id}}"}},
                {"name": "broken", "http": {"path": "/broken"}},
                {"name": "later", "http": {"path": "/things/41"}, "capture": {"later": "$.id"}},
            ],
            "variables": {"copy_of": "{{run.marker}}"},
            "cleanup": [
                {"name": "delete", "http": {"method": "DELETE", "path": "/things/{{thing_id}}"}},
                {"name": "undo-later", "http": {"method": "DELETE", "path": "/x/{{later}}"}},
                {"name": "gone", "http": {"method": "DELETE", "path": "/gone"}},
            ],
        }
        main, cleanup = run(journey, {"api": http_target(server.base_url)})
        sent = [(r.method, r.path) for r in server.requests]
    assert main.status is Status.FAILED
    assert main.message == "j: step 'broken' failed: GET /broken answered 500, expected 2xx"
    assert main.details["failed_step"] == "broken"
    steps = trace_of(main)
    assert [e["status"] for e in steps.values()] == ["passed", "passed", "failed", "skipped"]
    assert steps["broken"]["response"]["status"] == 500
    assert "error" in steps["broken"]["response"]["body"]
    # The cleanup ran after the failure, with the id captured in step 1.
    assert ("DELETE", "/things/41") in sent
    assert sent.index(("DELETE", "/things/41")) > sent.index(("GET", "/broken"))
    assert [e["status"] for e in main.details["cleanup"]] == ["passed", "skipped", "failed"]
    assert "'later' has no value" in main.details["cleanup"][1]["reason"]
    assert not any(path.startswith("/x/") for _, path in sent)
    # A failing cleanup step is a warning of its own; the journey's verdict is unchanged.
    assert cleanup.check_id == "j.cleanup" and cleanup.parent == "j"
    assert cleanup.severity is Severity.WARNING and cleanup.status is Status.FAILED
    assert cleanup.message == (
        "j: cleanup step 'gone' failed: DELETE /gone answered 404, expected 2xx"
    )
    # The run's marker went into the body: stable for the run, unique to this journey.
    body = json.loads(next(r.body for r in server.requests if r.path == "/things"))
    assert body["n"].startswith("vigil-") and len(body["n"]) == 16


def test_when_everything_passes_there_is_no_cleanup_result() -> None:
    with LocalHttpServer() as server:
        server.route("/ok", json={"ok": True})
        results = run(
            {
                "target": "api",
                "steps": [{"name": "ok", "http": {"path": "/ok"}}],
                "cleanup": [{"name": "tidy", "http": {"method": "DELETE", "path": "/ok"}}],
            },
            {"api": http_target(server.base_url)},
        )
    assert [r.status for r in results] == [Status.PASSED]
    assert results[0].details["cleanup"][0]["status"] == "passed"
    assert results[0].details["failed_step"] is None


def test_a_target_that_is_down_is_an_error_not_a_crash() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    [result] = run(
        {
            "target": "api",
            "steps": [
                {"name": "create", "http": {"method": "POST", "path": "/things", "body": {}}},
                {"name": "read", "http": {"path": "/things/1"}},
            ],
        },
        {"api": http_target(closed)},
    )
    assert result.status is Status.ERROR
    assert result.message == (
        "j: step 'create' could not run: POST /things: connection refused (nothing listening?)"
    )
    assert trace_of(result)["read"]["status"] == "skipped"


def test_reads_are_retried_after_a_5xx_within_the_step() -> None:
    calls: list[int] = []

    def flaky(seen: Seen) -> Answer:
        calls.append(1)
        return (503, {"error": "warming up"}) if len(calls) < 3 else (200, {"ok": True})

    with Scripted({"/flaky": flaky}) as server:
        [result] = run(
            {
                "target": "api",
                "steps": [{"name": "read", "http": {"path": "/flaky"}, "retries": 2}],
            },
            {"api": http_target(server.base_url)},
        )
    assert result.status is Status.PASSED, result.message
    assert trace_of(result)["read"]["attempts"] == 3


def test_a_journey_that_runs_out_of_time_is_an_error_and_still_cleans_up() -> None:
    with LocalHttpServer() as server:
        server.route("/order", json={"status": "paid"})
        server.route("/cleanup", json={})
        main, *rest = run(
            {
                "target": "api",
                "timeout_s": 1,
                "steps": [
                    {
                        "name": "wait",
                        "wait_for": {
                            "http": {"path": "/order"},
                            "until": ['status == "shipped"'],
                            "interval_s": 0.1,
                            "timeout_s": 30,
                        },
                    }
                ],
                "cleanup": [{"name": "tidy", "http": {"method": "DELETE", "path": "/cleanup"}}],
            },
            {"api": http_target(server.base_url)},
        )
        assert ("DELETE", "/cleanup") in [(r.method, r.path) for r in server.requests]
    assert rest == []
    assert main.status is Status.ERROR
    assert main.message == "j: journey timed out after 1 s in step 'wait'"
    assert main.observed["steps_ms"]["wait"] < 2000


def test_a_wait_that_gives_up_names_the_condition_and_the_last_value() -> None:
    with LocalHttpServer() as server:
        server.route("/orders/7", json={"id": 7, "status": "paid"})
        [result] = run(
            {
                "target": "api",
                "steps": [
                    {
                        "name": "shipped",
                        "wait_for": {
                            "http": {"path": "/orders/7"},
                            "until": ['status == "shipped"'],
                            "interval_s": 0.1,
                            "timeout_s": 0.5,
                        },
                    }
                ],
            },
            {"api": http_target(server.base_url)},
        )
    assert result.status is Status.FAILED
    assert result.message.startswith(
        'j: step \'shipped\' failed: status == "shipped" (got "paid") after 0.5 s ('
    )
    entry = trace_of(result)["shipped"]
    assert entry["attempts"] >= 3
    assert entry["conditions"] == [
        {"condition": 'status == "shipped"', "ok": False, "actual": "paid"}
    ]


def test_an_unset_environment_variable_is_a_configuration_error() -> None:
    with LocalHttpServer() as server:
        [result] = run(
            {
                "target": "api",
                "steps": [
                    {"name": "read", "http": {"path": "/x", "headers": {"X-Api-Key": "${NOPE}"}}}
                ],
            },
            {"api": http_target(server.base_url)},
        )
    assert result.status is Status.ERROR
    assert is_configuration_error(result)
    assert "environment variable NOPE is not set" in result.message


# --- secrets -----------------------------------------------------------------------------------

LOGIN_TOKEN = "login-token-7d1e2f"
PASSWORD = "pa55-word-x9"


def test_a_token_captured_at_login_never_reaches_the_stored_results() -> None:
    def login(seen: Seen) -> Answer:
        ok = f"password={PASSWORD}" in seen.body.decode()
        return (200, {"access_token": LOGIN_TOKEN}) if ok else (401, {"error": "bad password"})

    def me(seen: Seen) -> Answer:
        if seen.headers.get("Authorization") != f"Bearer {LOGIN_TOKEN}":
            return 401, {"error": "token"}
        # The service echoes the token where no field name says it is one.
        return 200, {"user": "acme", "echo": LOGIN_TOKEN, "note": f"you sent {LOGIN_TOKEN}"}

    with Scripted({"/login": login, "/me": me}) as server:
        results = run(
            {
                "target": "api",
                "steps": [
                    {
                        "name": "login",
                        "http": {
                            "method": "POST",
                            "path": "/login",
                            "body": {"username": "acme", "password": "${LOGIN_PASSWORD}"},
                            "body_format": "form",
                        },
                        "capture": {"token": {"jsonpath": "$.access_token", "secret": True}},
                    },
                    {
                        "name": "me",
                        "http": {
                            "path": "/me",
                            "query": {"access_token": "{{token}}", "page": 1},
                            "auth": {"bearer": "{{token}}"},
                            "headers": {"X-Trace": "t-{{token}}"},
                        },
                        "expect": {"conditions": ['user == "globex"']},  # fails: all shown
                    },
                ],
                "cleanup": [
                    {
                        "name": "logout",
                        "http": {"method": "POST", "path": "/logout", "body": {"t": "{{token}}"}},
                    }
                ],
            },
            {"api": http_target(server.base_url)},
            {"LOGIN_PASSWORD": PASSWORD},
        )
        sent = {seen.path: seen for seen in server.seen}
    main, cleanup = results
    assert main.status is Status.FAILED and main.details["failed_step"] == "me"
    assert cleanup.status is Status.FAILED  # /logout is not there: 404
    # It was sent: in the header, the query and the bodies...
    assert f"access_token={LOGIN_TOKEN}" in sent["/me"].query
    assert sent["/me"].headers["X-Trace"] == f"t-{LOGIN_TOKEN}"
    assert LOGIN_TOKEN in sent["/logout"].body.decode()
    # ... and never stored.
    row = stored(results)
    assert LOGIN_TOKEN not in row and PASSWORD not in row
    steps = trace_of(main)
    assert steps["me"]["request"]["url"].endswith("/me?access_token=***&page=1")
    assert steps["me"]["request"]["headers"]["Authorization"] == "***"
    assert steps["me"]["response"]["status"] == 200
    assert main.details["variables"] == {"token": "***"}


def test_every_part_of_an_object_captured_as_a_secret_is_masked() -> None:
    handle, pin = "blue-harbor-77", "4096-2048"

    def session(seen: Seen) -> Answer:
        return 200, {"session": {"handle": handle, "pin": pin, "ttl": 60}}

    def whoami(seen: Seen) -> Answer:
        # Each part of the captured object, on its own.
        return 200, {"user": "acme", "handle": handle, "note": f"pin {pin}"}

    with Scripted({"/session": session, "/whoami": whoami}) as server:
        [result] = run(
            {
                "target": "api",
                "steps": [
                    {
                        "name": "open",
                        "http": {"path": "/session"},
                        "capture": {"session": {"jsonpath": "$.session", "secret": True}},
                    },
                    {
                        "name": "whoami",
                        "http": {"path": "/whoami"},
                        "expect": {"conditions": ['user == "globex"']},  # fails: all shown
                    },
                ],
            },
            {"api": http_target(server.base_url)},
        )
    assert result.status is Status.FAILED and result.details["failed_step"] == "whoami"
    row = stored([result])
    assert handle not in row and pin not in row
    assert result.details["variables"] == {"session": "***"}


# --- parallel ------------------------------------------------------------------------------------


def counter_routes() -> dict[str, Handler]:
    state = {"racy": 0, "safe": 0}
    lock = threading.Lock()

    def racy(seen: Seen) -> Answer:
        current = state["racy"]  # read, pause, write: the race a missing lock makes
        time.sleep(0.02)
        state["racy"] = current + 1
        return 201, {"id": current + 1}

    def safe(seen: Seen) -> Answer:
        with lock:
            state["safe"] += 1
            return 201, {"id": state["safe"]}

    def items(seen: Seen) -> Answer:
        copy = int(seen.path.rsplit("/", 1)[1])
        return (500, {"error": "odd"}) if copy % 2 else (200, {"copy": copy})

    routes: dict[str, Handler] = {"/racy": racy, "/safe": safe}
    routes.update({f"/items/{n}": items for n in range(20)})
    return routes


def parallel_journey(path: str, method: str = "POST", **expect: Any) -> dict[str, Any]:
    return {
        "target": "api",
        "steps": [
            {
                "name": "many",
                "parallel": {
                    "copies": 20,
                    "concurrency": 10,
                    "expect": expect,
                    "steps": [
                        {
                            "name": "create",
                            "http": {"method": method, "path": path},
                            "capture": {"order_id": "$.id"} if method == "POST" else {},
                        }
                    ],
                },
            }
        ],
    }


def test_a_racy_server_giving_duplicate_ids_fails_naming_them() -> None:
    with Scripted(counter_routes()) as server:
        [result] = run(
            parallel_journey("/racy", distinct=["order_id"]), {"api": http_target(server.base_url)}
        )
    assert result.status is Status.FAILED
    assert "j: step 'many' failed: order_id: 20 copies captured " in result.message
    assert "distinct values (duplicates: " in result.message
    summary = trace_of(result)["many"]
    assert summary["passed"] == 20  # every copy passed its own steps
    assert summary["distinct"]["order_id"]["distinct"] < 20


def test_a_correct_server_gives_distinct_ids_listed_in_copy_order() -> None:
    with Scripted(counter_routes()) as server:
        [result] = run(
            parallel_journey("/safe", distinct=["order_id"]), {"api": http_target(server.base_url)}
        )
    assert result.status is Status.PASSED, result.message
    ids = result.details["variables"]["order_id"]
    assert sorted(ids) == list(range(1, 21))


@pytest.mark.parametrize(("min_passed", "status"), [(0.5, Status.PASSED), (0.6, Status.FAILED)])
def test_the_share_of_copies_that_must_pass(min_passed: float, status: Status) -> None:
    with Scripted(counter_routes()) as server:
        [result] = run(
            parallel_journey("/items/{{copy}}", "GET", min_passed=min_passed),
            {"api": http_target(server.base_url)},
        )
    assert result.status is status, result.message
    summary = trace_of(result)["many"]
    assert (summary["passed"], summary["failed"]) == (10, 10)
    first = summary["first_failure"]
    assert first["copy"] == 1
    assert first["trace"][0]["response"]["status"] == 500
    if status is Status.FAILED:
        assert result.message == (
            "j: step 'many' failed: 10 of 20 copies failed; first: copy 1 step 'create': "
            "GET /items/1 answered 500, expected 2xx"
        )


def one_and_many(path: str, timeout_s: float = 5) -> dict[str, Any]:
    """The same GET as a step of its own (the blocking transport) and in a parallel
    step's copies (the event loop's)."""
    get = {"http": {"path": path}, "timeout_s": timeout_s}
    return {
        "target": "api",
        "steps": [
            {"name": "one", **get},
            {"name": "many", "parallel": {"copies": 4, "steps": [{"name": "get", **get}]}},
        ],
    }


def test_tls_with_a_certificate_the_target_does_not_verify(tmp_path: Path) -> None:
    with LocalHttpServer(tls=self_signed_tls(tmp_path)) as server:
        server.route("/ok", json={"ok": True})
        [result] = run(one_and_many("/ok"), {"api": http_target(server.base_url, verify_tls=False)})
        [refused] = run(one_and_many("/ok"), {"api": http_target(server.base_url)})
    assert result.status is Status.PASSED, result.message
    assert refused.status is Status.ERROR
    assert "could not run: GET /ok: TLS error: [SSL: CERTIFICATE_VERIFY_FAILED]" in refused.message


def test_an_endpoint_that_never_answers_times_out_in_both_transports() -> None:
    with LocalHttpServer() as server:
        server.route("/hang", hang=True)
        server.route("/ok", json={"ok": True})
        journey = one_and_many("/hang", timeout_s=0.3)
        journey["steps"].reverse()  # the copies first, then the step of its own
        [many] = run(journey, {"api": http_target(server.base_url)})
        [one] = run(one_and_many("/hang", timeout_s=0.3), {"api": http_target(server.base_url)})
    assert many.status is Status.ERROR and one.status is Status.ERROR
    assert many.message == (
        "j: step 'many' could not run: 4 of 4 copies failed; first: copy 0 step 'get': "
        "GET /hang: no answer within 0.3s (timed out)"
    )
    assert (
        one.message == "j: step 'one' could not run: GET /hang: no answer within 0.3s (timed out)"
    )
    assert many.observed["steps_ms"]["many"] < 2000


class RawAnswers:
    """A server on 127.0.0.1 answering every request on a connection with the same bytes,
    sent in parts (`pause_s` apart); closing the connection after one answer with
    `close`. For what ThreadingHTTPServer does not send: a body that ends with the
    connection, an interim 1xx answer before the final one."""

    def __init__(self, *parts: bytes, close: bool = False, pause_s: float = 0.05) -> None:
        self.parts, self.close, self.pause_s = parts, close, pause_s
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            received = b""
            conn.settimeout(5)
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                received += data
                while b"\r\n\r\n" in received:  # GETs: a head, no body
                    _, received = received.split(b"\r\n\r\n", 1)
                    for part in self.parts:
                        conn.sendall(part)
                        time.sleep(self.pause_s)
                    if self.close:
                        return

    def __enter__(self) -> RawAnswers:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()


def twice_and_many(path: str) -> dict[str, Any]:
    """Two GETs judged on their JSON body (the blocking transport, the second on a kept
    connection if there is one), then the same in a parallel step's copies."""
    get = {"http": {"path": path}, "expect": {"conditions": ["ok == true"]}, "timeout_s": 5}
    copies = {"copies": 4, "concurrency": 2, "steps": [{"name": "get", **get}]}
    return {
        "target": "api",
        "steps": [
            {"name": "one", **get},
            {"name": "two", **get},
            {"name": "many", "parallel": copies},
        ],
    }


def test_a_body_that_ends_with_the_connection_is_read_by_both_transports() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
    with RawAnswers(head, b'{"ok":', b" true}", close=True) as server:
        [result] = run(twice_and_many("/x"), {"api": http_target(server.base_url)})
    assert result.status is Status.PASSED, result.message
    assert trace_of(result)["one"]["response"]["body"] == '{"ok": true}'


def test_an_interim_answer_before_the_final_one_is_skipped_by_both_transports() -> None:
    # 103 Early Hints and the final answer's head in one packet, its body in the next.
    head = (
        b"HTTP/1.1 103 Early Hints\r\nLink: </app.css>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n"
    )
    with RawAnswers(head, b'{"ok": true}') as server:
        [result] = run(twice_and_many("/x"), {"api": http_target(server.base_url)})
    assert result.status is Status.PASSED, result.message
    assert "link" not in {name.lower() for name in trace_of(result)["two"]["response"]["headers"]}


def test_copies_against_a_closed_port_are_errors() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    journey = one_and_many("/x")
    journey["steps"].reverse()
    [result] = run(journey, {"api": http_target(closed)})
    assert result.status is Status.ERROR
    assert result.message.endswith("step 'get': GET /x: connection refused (nothing listening?)")
    assert trace_of(result)["one"]["status"] == "skipped"


# --- WebSocket: subscribe and messages ---------------------------------------------------------


@pytest.fixture
def feed() -> Iterator[FeedServer]:
    with FeedServer(token=FEED_TOKEN) as server:
        yield server


def feed_journey(*messages: dict[str, Any], token: str = "${FEED_TOKEN}") -> dict[str, Any]:
    return {
        "target": "feed",
        "steps": [
            {
                "name": "subscribe",
                "subscribe": {
                    "name": "ticks",
                    "target": "feed",
                    "query": {"access_token": token},
                    "ready": ['type == "hello"'],
                },
            },
            *(
                {"name": f"m{i}", "messages": {"subscription": "ticks", **m}}
                for i, m in enumerate(messages)
            ),
        ],
    }


def run_feed(feed: FeedServer, journey: dict[str, Any]) -> CheckResult:
    target = WebsocketTarget(kind="websocket", url=feed.url("/feed"))
    [result] = run(journey, {"feed": target}, {"FEED_TOKEN": FEED_TOKEN})
    assert FEED_TOKEN not in stored([result])
    return result


def test_messages_in_order_any_order_include_and_none(feed: FeedServer) -> None:
    ticks = ['type == "tick"']
    result = run_feed(
        feed,
        feed_journey(
            {"where": ticks, "sequence": ["n == 1", "n == 3"], "within_s": 3},
            {"where": ticks, "sequence": ["n == 4", "n == 2"], "order": "any_order"},
            {"where": ticks, "include": {"path": "n", "values": [0, 2, 5]}, "within_s": 3},
            {"where": ['type == "alarm"'], "none": True, "within_s": 0.3},
        ),
    )
    assert result.status is Status.PASSED, result.message
    assert trace_of(result)["subscribe"]["request"]["url"].endswith("/feed?access_token=***")
    assert trace_of(result)["m0"]["matching"] >= 4


def test_a_sequence_out_of_order_fails_saying_what_was_seen(feed: FeedServer) -> None:
    result = run_feed(
        feed,
        feed_journey(
            {"where": ['type == "tick"'], "sequence": ["n == 3", "n == 1"], "within_s": 0.5}
        ),
    )
    assert result.status is Status.FAILED
    assert result.message.startswith(
        "j: step 'm0' failed: missing n == 1 (in order, after n == 3); saw n: 0, 1, 2, 3, "
    )
    assert 'meeting type == "tick")' in result.message


def test_none_fails_naming_the_message_that_arrived(feed: FeedServer) -> None:
    result = run_feed(
        feed, feed_journey({"where": ['type == "tick"'], "none": True, "within_s": 2})
    )
    assert result.status is Status.FAILED
    assert result.message.startswith('j: step \'m0\' failed: received {"type": "tick", "n": 0} at ')
    assert result.observed["steps_ms"]["m0"] < 1500  # the first offending message ends it


def test_none_cannot_pass_on_what_was_not_watched(feed: FeedServer) -> None:
    alarms = {"where": ['type == "alarm"'], "none": True, "within_s": 1.5}
    # The server closed the subscription: nothing could arrive, so silence proves nothing.
    closed = feed_journey(alarms)
    del closed["steps"][0]["subscribe"]["ready"]
    target = WebsocketTarget(kind="websocket", url=feed.url("/close"))
    [ended] = run(closed, {"feed": target}, {"FEED_TOKEN": FEED_TOKEN})
    assert ended.status is Status.ERROR, ended.message
    assert ended.details["failed_step"] == "m0"
    assert ended.message == (
        "j: step 'm0' could not run: cannot tell that no message meeting type == \"alarm\" "
        "arrives within 1.5 s: the server closed the connection (code 1008: tenant suspended) "
        "before the end of the window"
    )
    # Messages past max_messages are counted, not kept: one of them may have been it.
    capped = feed_journey({"where": ["n == 5"], "none": True, "within_s": 1})
    capped["steps"][0]["subscribe"]["max_messages"] = 2
    dropped = run_feed(feed, capped)
    assert dropped.status is Status.ERROR, dropped.message
    assert "cannot tell that no message meeting n == 5 arrives within 1 s: " in dropped.message
    assert "messages after the first 2 were not kept (max_messages)" in dropped.message


def test_a_refused_subscription_is_an_error(feed: FeedServer) -> None:
    result = run_feed(feed, feed_journey({"none": True, "within_s": 0.1}, token="wrong-token"))
    assert result.status is Status.ERROR
    assert "handshake refused: HTTP 401" in result.message
    assert "wrong-token" not in result.message  # a credential query parameter: masked


# --- sql ----------------------------------------------------------------------------------------


@pytest.fixture
def shop(fresh_db: str) -> str:
    with closing(psycopg2.connect(fresh_db)) as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (id int PRIMARY KEY, status text, total numeric(10, 2),"
            " placed timestamptz DEFAULT '2026-01-02T03:04:05Z')"
        )
        cur.execute(
            "INSERT INTO orders (id, status, total) VALUES (1, 'new', 12.50), (2, 'paid', 7)"
        )
        conn.commit()
    return fresh_db


def sql_step(name: str, query: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "sql": {"target": "db", "query": query, **fields.pop("sql", {})},
        **fields,
    }


def run_sql(dsn: str, *steps: dict[str, Any], **journey: Any) -> CheckResult:
    [result] = run(
        {"target": "db", "steps": list(steps), **journey},
        {"db": PostgresTarget(kind="postgres", conn_id="shop")},
        {"AIRFLOW_CONN_SHOP": dsn},
    )
    return result


def test_sql_reads_rows_binds_lists_and_captures(shop: str) -> None:
    result = run_sql(
        shop,
        sql_step(
            "paid",
            "SELECT id, status, total, placed FROM orders WHERE id = ANY(%(ids)s) ORDER BY id",
            sql={"params": {"ids": "{{ids}}"}},
            expect={"conditions": ["row_count == 2", 'rows[1].status == "paid"']},
            capture={"total": "$.rows[0].total", "placed": "$.rows[0].placed"},
        ),
        sql_step(
            "again",
            "SELECT status FROM orders WHERE total = %(total)s AND status LIKE 'n%%'",
            sql={"params": {"total": "{{total}}"}},
            expect={"conditions": ['rows[0].status == "new"']},
        ),
        variables={"ids": [1, 2]},
    )
    assert result.status is Status.PASSED, result.message
    assert result.details["variables"] == {"total": 12.5, "placed": "2026-01-02T03:04:05+00:00"}
    entry = trace_of(result)["paid"]
    assert entry["request"]["params"] == {"ids": [1, 2]}
    assert entry["response"]["row_count"] == 2
    assert entry["conditions"][1] == {
        "condition": 'rows[1].status == "paid"',
        "ok": True,
        "actual": "paid",
    }


def test_sql_runs_read_only(shop: str) -> None:
    result = run_sql(
        shop,
        sql_step("sneaky", "WITH d AS (DELETE FROM orders RETURNING id) SELECT count(*) FROM d"),
    )
    assert result.status is Status.ERROR
    assert "read-only transaction" in result.message
    with closing(psycopg2.connect(shop)) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM orders")
        assert cur.fetchone() == (2,)


def test_a_wait_for_a_row_that_appears_across_a_dropped_session(shop: str) -> None:
    def insert_later() -> None:
        time.sleep(0.4)
        with closing(psycopg2.connect(shop)) as conn, conn.cursor() as cur:
            # The server drops the journey's kept session: the next attempt reconnects.
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'vigil-scenario'"
            )
            assert cur.fetchall() == [(True,)]
            cur.execute("INSERT INTO orders (id, status, total) VALUES (3, 'new', 1)")
            conn.commit()

    writer = threading.Thread(target=insert_later)
    writer.start()
    try:
        result = run_sql(
            shop,
            {
                "name": "appears",
                "wait_for": {
                    "sql": {"target": "db", "query": "SELECT id FROM orders WHERE id = 3"},
                    "until": ["row_count == 1"],
                    "interval_s": 0.1,
                    "timeout_s": 5,
                },
                "capture": {"new_id": "$.rows[0].id"},
            },
        )
    finally:
        writer.join()
    assert result.status is Status.PASSED, result.message
    assert trace_of(result)["appears"]["attempts"] >= 2
    assert result.details["variables"] == {"new_id": 3}


def test_a_database_that_is_down_is_an_error() -> None:
    result = run_sql(f"postgresql://nobody@127.0.0.1:{free_port()}/x", sql_step("q", "SELECT 1"))
    assert result.status is Status.ERROR
    assert "j: step 'q' could not run: db: cannot connect to 127.0.0.1:" in result.message
