"""What an HTTP check sends and reads, against a real HTTP server on 127.0.0.1
(tests/support/http_server.py): deliberately invalid or absent credentials (a wrong token
is refused with 401), form-encoded and raw text bodies, a bare JSON value and response
headers in conditions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.support.http_server import LocalHttpServer
from vigil.checks import http
from vigil.checks.models import HttpCheck
from vigil.config_errors import is_configuration_error
from vigil.context import RunContext
from vigil.result import CheckResult, Status
from vigil.spec.models import Checks, HttpTarget, Spec
from vigil.spec.secret_shapes import INVALID_CREDENTIAL

pytestmark = pytest.mark.integration

TOKEN = "Bearer tok-5f2e9c1d"
ENVIRON = {"API_TOKEN": "tok-5f2e9c1d", "LOGIN_PASSWORD": "s3cr!t&more"}


@pytest.fixture
def server() -> Iterator[LocalHttpServer]:
    with LocalHttpServer() as srv:
        srv.route("/me", json={"user": "acme"}, authorization=TOKEN)
        yield srv


def _run(
    server: LocalHttpServer, target_headers: dict[str, str] | None = None, **check_fields: Any
) -> CheckResult:
    check_fields.setdefault("timeout_s", 2)
    check = HttpCheck(kind="http", id="c", target="api", **check_fields)
    target = HttpTarget(
        kind="http",
        base_url=server.base_url,
        headers={"Authorization": "Bearer ${API_TOKEN}"}
        if target_headers is None
        else target_headers,
    )
    spec = Spec(environment="test", targets={"api": target}, checks=Checks(health=[check]))
    [result] = http.run(check, RunContext(spec, environ=dict(ENVIRON)))
    return result


def _sent(server: LocalHttpServer) -> dict[str, str]:
    return {name.lower(): value for name, value in server.requests[-1].headers.items()}


# --- negative tests: a wrong or missing credential is refused --------------------------


def test_the_configured_token_is_accepted(server: LocalHttpServer) -> None:
    result = _run(server, path="/me")
    assert result.status is Status.PASSED, result.message


def test_credentials_invalid_sends_a_wrong_token_the_server_refuses(
    server: LocalHttpServer,
) -> None:
    result = _run(server, path="/me", credentials_mode="invalid", expect_status=[401])
    assert result.status is Status.PASSED, result.message
    # The scheme word is kept, the credential replaced by a value that is surely none.
    assert _sent(server)["authorization"] == f"Bearer {INVALID_CREDENTIAL}"
    assert result.details["request"]["credentials_mode"] == "invalid"
    assert "tok-5f2e9c1d" not in json.dumps(result.to_row())
    # A service that wrongly accepts any token is caught.
    server.route("/me", json={"user": "anyone"})
    lax = _run(server, path="/me", credentials_mode="invalid", expect_status=[401])
    assert lax.status is Status.FAILED
    assert "answered 200, expected 401" in lax.message


def test_credentials_none_sends_no_credential_header(server: LocalHttpServer) -> None:
    result = _run(
        server,
        {"Authorization": "Bearer ${API_TOKEN}", "X-Tenant": "acme"},
        path="/me",
        credentials_mode="none",
        expect_status=[401],
    )
    assert result.status is Status.PASSED, result.message
    sent = _sent(server)
    assert "authorization" not in sent and sent["x-tenant"] == "acme"


def test_the_builtin_reference_cannot_be_overridden_by_the_environment(
    server: LocalHttpServer,
) -> None:
    check = HttpCheck(
        kind="http",
        id="c",
        target="api",
        path="/me",
        headers={"Authorization": "Bearer ${VIGIL_INVALID_CREDENTIAL}"},
        expect_status=[401],
    )
    target = HttpTarget(kind="http", base_url=server.base_url)
    spec = Spec(environment="test", targets={"api": target}, checks=Checks(health=[check]))
    environ = {"VIGIL_INVALID_CREDENTIAL": "tok-5f2e9c1d"}  # would be the real token
    [result] = http.run(check, RunContext(spec, environ=environ))
    assert result.status is Status.PASSED, result.message
    assert _sent(server)["authorization"] == f"Bearer {INVALID_CREDENTIAL}"


def test_credentials_invalid_without_a_credential_header_is_a_configuration_error(
    server: LocalHttpServer,
) -> None:
    result = _run(server, {}, path="/me", credentials_mode="invalid", expect_status=[401])
    assert result.status is Status.ERROR
    assert is_configuration_error(result)
    assert "Bearer ${VIGIL_INVALID_CREDENTIAL}" in result.message
    assert server.requests == []


# --- bodies ---------------------------------------------------------------------------


def test_form_body_is_url_encoded(server: LocalHttpServer) -> None:
    server.route("/token", json={"access_token": "x", "token_type": "bearer"})
    result = _run(
        server,
        {},
        method="POST",
        path="/token",
        body_format="form",
        body={"username": "alice", "password": "${LOGIN_PASSWORD}", "scope": ["read", "write"]},
        conditions=['token_type == "bearer"'],
    )
    assert result.status is Status.PASSED, result.message
    request = server.requests[-1]
    assert _sent(server)["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.body.decode()) == {
        "username": ["alice"],
        "password": ["s3cr!t&more"],
        "scope": ["read", "write"],
    }


def test_form_body_from_the_content_type_header(server: LocalHttpServer) -> None:
    server.route("/token", json={"ok": True})
    content_type = "application/x-www-form-urlencoded; charset=utf-8"
    result = _run(
        server,
        {},
        method="POST",
        path="/token",
        headers={"Content-Type": content_type},
        body={"grant_type": "password", "remember": True},
    )
    assert result.status is Status.PASSED, result.message
    assert server.requests[-1].body == b"grant_type=password&remember=true"
    assert _sent(server)["content-type"] == content_type


def test_text_body_is_sent_as_is(server: LocalHttpServer) -> None:
    server.route("/echo", json={"ok": True})
    result = _run(
        server, {}, method="POST", path="/echo", body_format="text", body="ping ${API_TOKEN}"
    )
    assert result.status is Status.PASSED, result.message
    assert server.requests[-1].body == b"ping tok-5f2e9c1d"
    assert _sent(server)["content-type"] == "text/plain; charset=utf-8"
    xml = _run(
        server,
        {},
        method="POST",
        path="/echo",
        headers={"Content-Type": "application/xml"},
        body="<ping/>",
    )
    assert xml.status is Status.PASSED, xml.message
    assert server.requests[-1].body == b"<ping/>"  # not the JSON string "\"<ping/>\""


def test_a_body_the_targets_content_type_cannot_carry_is_a_configuration_error(
    server: LocalHttpServer,
) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    result = _run(server, form, method="POST", path="/echo", body=["not", "a", "form"])
    assert result.status is Status.ERROR
    assert is_configuration_error(result)
    assert "set body_format on the check" in result.message
    assert server.requests == []


# --- conditions on a bare value and on headers -----------------------------------------


def test_root_path_reads_a_bare_json_value(server: LocalHttpServer) -> None:
    server.route("/alive", json=True)
    assert _run(server, {}, path="/alive", conditions=["$ == true"]).status is Status.PASSED
    server.route("/alive", json=False)
    result = _run(server, {}, path="/alive", conditions=["$ == true"])
    assert result.status is Status.FAILED
    assert "condition $ == true (got false) does not hold" in result.message


def test_header_conditions_read_the_response_headers(server: LocalHttpServer) -> None:
    server.route("/ping", body="pong", headers={"X-Api-Version": "3", "Cache-Control": "no-store"})
    passing = [
        "header:content-type contains text/plain",
        "header:X-Api-Version >= 2",
        'header:Cache-Control == "no-store"',
    ]
    # A plain-text body is fine: no body condition reads it.
    result = _run(server, {}, path="/ping", conditions=passing)
    assert result.status is Status.PASSED, result.message
    assert [c["ok"] for c in result.observed["conditions"]] == [True, True, True]
    failing = _run(server, {}, path="/ping", conditions=["header:X-Request-Id exists"])
    assert failing.status is Status.FAILED
    assert "condition header:X-Request-Id exists (got missing) does not hold" in failing.message
