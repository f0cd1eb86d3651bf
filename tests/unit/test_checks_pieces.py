"""The pure parts of the runners: judging a response, a dependency report, an inspect
document or database facts, and parsing addresses — no server needed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.docker_api import container_attrs
from vigil.checks import container, http, postgres, tcp
from vigil.checks.models import ContainerCheck, HttpCheck, PostgresCheck
from vigil.context import ConfigError

pytestmark = pytest.mark.unit


def _http_check(**fields: Any) -> HttpCheck:
    return HttpCheck(kind="http", id="h", target="api", **fields)


def _response(status: int = 200, body: bytes = b"{}", latency_ms: float = 5.0) -> http.Response:
    return http.Response(status, {"Content-Type": "application/json"}, body, False, latency_ms)


# --- dependency reports ----------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        {"db": {"status": "ok"}, "cache": {"status": "down"}},
        {"db": "ok", "cache": "down"},
        [{"name": "db", "status": "UP"}, {"name": "cache", "status": "down"}],
        {"db": True, "cache": False},
    ],
)
def test_dependency_report_shapes(raw: Any) -> None:
    report = http.dependency_statuses(raw)
    assert report is not None
    assert report["cache"] == "down"
    assert report["db"].lower() in http.OK_WORDS


@pytest.mark.parametrize("raw", [None, "ok", 3, [1, 2], [{"status": "ok"}]])
def test_not_a_dependency_report(raw: Any) -> None:
    assert http.dependency_statuses(raw) is None


def test_every_dependency_not_ok_is_named() -> None:
    body = (
        b'{"dependencies": {"db": {"status": "ok"}, "inventory-api": {"status": "down"},'
        b' "payments": "degraded", "mail": {}}}'
    )
    verdict = http.evaluate(_http_check(check_dependencies=True), _response(body=body))
    assert verdict.problems == [
        "3 dependencies not ok: inventory-api (down), payments (degraded), mail (unknown)"
    ]
    assert verdict.observed["dependencies"]["db"] == {"status": "ok"}


def test_missing_dependency_report_is_an_error_only_when_the_status_was_right() -> None:
    check = _http_check(check_dependencies=True)
    assert http.evaluate(check, _response(body=b'{"status": "ok"}')).errors
    on_503 = http.evaluate(check, _response(status=503, body=b"<html>oops</html>"))
    assert on_503.errors == [] and on_503.lead == "answered 503, expected 200"


# --- status, latency, conditions -------------------------------------------------------


def test_wrong_status_lists_every_accepted_one() -> None:
    verdict = http.evaluate(_http_check(expect_status=[200, 204]), _response(status=500))
    assert verdict.lead == "answered 500, expected 200 or 204"


def test_latency_over_budget_is_a_problem() -> None:
    verdict = http.evaluate(_http_check(latency_budget_ms=100), _response(latency_ms=250.0))
    assert verdict.problems == ["took 250 ms, over the 100 ms latency budget"]
    assert (
        http.evaluate(_http_check(latency_budget_ms=100), _response(latency_ms=99.0)).problems == []
    )


def test_conditions_report_each_outcome() -> None:
    check = _http_check(conditions=['status == "ok"', "version >= 2"])
    verdict = http.evaluate(check, _response(body=b'{"status": "degraded", "version": 3}'))
    assert len(verdict.problems) == 1
    assert verdict.problems[0].startswith('condition status == "ok" (got "degraded")')
    assert [o["ok"] for o in verdict.observed["conditions"]] == [False, True]


def test_malformed_or_oversized_body_cannot_be_judged() -> None:
    check = _http_check(conditions=["status exists"])
    assert "not valid JSON" in http.evaluate(check, _response(body=b"{oops")).errors[0]
    big = http.Response(200, {}, b"{" * 10, True, 1.0)
    assert "larger than" in http.evaluate(check, big).errors[0]


def test_url_password_is_redacted() -> None:
    assert http.redact_url("https://bob:s3cret@h.example/x") == "https://bob:***@h.example/x"
    assert http.redact_url("https://h.example/a:b@c") == "https://h.example/a:b@c"


# --- TCP addresses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "parsed"),
    [
        ("127.0.0.1:5432", ("127.0.0.1", 5432)),
        ("db.internal:1", ("db.internal", 1)),
        ("[::1]:8080", ("::1", 8080)),
        (" localhost:65535 ", ("localhost", 65535)),
    ],
)
def test_tcp_addresses(address: str, parsed: tuple[str, int]) -> None:
    assert tcp.parse_address(address) == parsed


@pytest.mark.parametrize("address", ["127.0.0.1", "host:0", "host:70000", ":80", "::1:80", ""])
def test_bad_tcp_addresses_say_what_is_expected(address: str) -> None:
    with pytest.raises(ConfigError, match="address"):
        tcp.parse_address(address)


# --- containers ------------------------------------------------------------------------


def _container_check(**fields: Any) -> ContainerCheck:
    return ContainerCheck(kind="container", id="c", target="orders", **fields)


def test_running_healthy_container_has_no_problems() -> None:
    observed = container.observe(container_attrs("orders", health="healthy", restart_count=1))
    assert container.judge(_container_check(max_restarts=1), observed) == []
    assert observed["state"] == "running" and observed["restart_count"] == 1


def test_container_problems_are_all_listed() -> None:
    attrs = container_attrs(
        "orders",
        status="exited",
        exit_code=137,
        oom_killed=True,
        health="unhealthy",
        restart_count=4,
    )
    problems = container.judge(
        _container_check(max_restarts=3), container.observe(attrs), "curl: connection refused"
    )
    assert problems == [
        "state is exited, exit code 137, killed for lack of memory, expected running",
        "health is unhealthy, expected healthy (last probe: curl: connection refused)",
        "restarted 4 times, more than 3",
    ]


def test_no_healthcheck_means_the_state_decides() -> None:
    observed = container.observe(container_attrs("orders"))
    assert observed["health"] is None
    assert container.judge(_container_check(), observed) == []
    starting = container.observe(container_attrs("orders", health="starting"))
    assert container.judge(_container_check(), starting) == ["health is starting, expected healthy"]
    assert container.judge(_container_check(require_healthy=False), starting) == []


# --- postgres --------------------------------------------------------------------------


def test_postgres_judgement() -> None:
    facts = postgres.Facts(
        connect_ms=8,
        query_ms=0.5,
        max_connections=100,
        used_connections=91,
        database="shop",
        missing_databases=["audit"],
        missing_schemas=["sales", "ops"],
    )
    check = PostgresCheck(
        kind="postgres", id="p", target="db", max_connection_usage=0.9, latency_budget_ms=5
    )
    assert postgres.judge(check, facts) == [
        "missing databases: audit",
        "missing schemas in shop: sales, ops",
        "91 of 100 connections in use (91%), over the 90% limit",
        "answered in 8.5 ms, over the 5.0 ms latency budget",
    ]
    healthy = postgres.Facts(connect_ms=1, max_connections=100, used_connections=90)
    assert postgres.judge(check, healthy) == []
