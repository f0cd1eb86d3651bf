"""The pure parts of the runners: judging a response, a dependency report, an inspect
document or database facts, and parsing addresses — no server needed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from tests.support.docker_api import container_attrs
from vigil.checks import container, http, postgres, tcp
from vigil.checks.models import (
    ContainerCheck,
    HttpCheck,
    PostgresCheck,
    body_format_of,
    is_credential_header,
)
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


def test_missing_dependency_report_is_a_configuration_problem_only_when_the_status_was_right() -> (
    None
):
    check = _http_check(check_dependencies=True)
    for body in (b'{"status": "ok"}', b"true", b'{"dependencies": "all fine"}'):
        verdict = http.evaluate(check, _response(body=body))
        assert verdict.errors == [] and verdict.misconfigured == [http.NO_DEPENDENCY_REPORT]
    on_503 = http.evaluate(check, _response(status=503, body=b"<html>oops</html>"))
    assert on_503.errors == on_503.misconfigured == []
    assert on_503.lead == "answered 503, expected 200"


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


def test_header_conditions_alone_leave_the_body_unread() -> None:
    check = _http_check(conditions=["header:Content-Type contains json"])
    verdict = http.evaluate(check, _response(body=b"not json at all"))
    assert verdict.errors == verdict.problems == []
    assert verdict.observed["conditions"][0]["ok"] is True
    both = _http_check(conditions=["header:X-Nope exists", "status exists"])
    verdict = http.evaluate(both, _response(body=b"{oops"))
    assert verdict.problems == ["condition header:X-Nope exists (got missing) does not hold"]
    assert "not valid JSON" in verdict.errors[0]  # the body condition could not be judged


# --- request bodies and credentials ----------------------------------------------------


@pytest.mark.parametrize(
    ("explicit", "content_type", "expected"),
    [
        (None, None, "json"),
        (None, "application/json", "json"),
        (None, "application/problem+json; charset=utf-8", "json"),
        (None, "application/x-www-form-urlencoded", "form"),
        (None, "Application/X-WWW-Form-Urlencoded; charset=utf-8", "form"),
        (None, "text/plain", "text"),
        (None, "application/xml", "text"),
        ("json", "text/plain", "json"),  # the explicit setting wins
        ("text", "application/json", "text"),  # a JSON document written out, sent as is
    ],
)
def test_body_format(explicit: Any, content_type: str | None, expected: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    assert body_format_of(explicit, headers) == expected


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"body_format": "form", "body": ["a"]}, "a form body is a mapping"),
        ({"body_format": "form", "body": "a=1"}, "a form body is a mapping"),
        ({"body_format": "form", "body": {"a": {"b": 1}}}, "form field 'a' must be a string"),
        ({"body_format": "form", "body": {"a": [None]}}, "form field 'a' must be a string"),
        ({"body_format": "text", "body": {"a": 1}}, "a text body is a string"),
        (
            {"headers": {"Content-Type": "application/x-www-form-urlencoded"}, "body": [1]},
            "the Content-Type header (form)",
        ),
        (
            {"credentials_mode": "none", "headers": {"X-Api-Key": "${KEY}"}},
            "credentials_mode: none, but the check sets credential header 'X-Api-Key'",
        ),
    ],
)
def test_bodies_and_credentials_that_cannot_be_sent_fail_the_spec(
    fields: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(fragment)):
        _http_check(**fields)


def test_bodies_that_fit_their_format() -> None:
    form = {"username": "u", "password": "${PW}", "n": 2, "on": True, "scope": ["a", "b"]}
    assert _http_check(body_format="form", body=form).body == form
    assert _http_check(body_format="text", body="ping").body == "ping"
    assert _http_check(body="a string, sent as a JSON string").body_format is None
    assert _http_check(credentials_mode="invalid", headers={"Authorization": "Bearer ${T}"})


@pytest.mark.parametrize(
    ("name", "credential"),
    [
        ("Authorization", True),
        ("X-Api-Key", True),
        ("Cookie", True),
        ("X-Auth-Token", True),
        ("X-Hub-Signature", True),
        ("X-Tenant", False),
        ("Content-Type", False),
        ("Idempotency-Key", False),  # a request id, not a credential
        ("X-Token-Type", False),  # names a credential, is not one
    ],
)
def test_credential_headers(name: str, credential: bool) -> None:
    assert is_credential_header(name) is credential


def test_invalidated_credentials_keep_the_scheme() -> None:
    invalid = "${VIGIL_INVALID_CREDENTIAL}"
    assert http._invalidated("Bearer ${TOKEN}") == f"Bearer {invalid}"
    assert http._invalidated("${USER}:${PASS}") == f"{invalid}:{invalid}"
    assert http._invalidated("") == invalid


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
