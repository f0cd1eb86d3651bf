"""HTTP health checks against a real HTTP server on 127.0.0.1 (tests/support/http_server.py),
a real closed port, a hanging endpoint and a real TLS server with a self-signed certificate.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.http_server import LocalHttpServer, self_signed_tls
from vigil.checks import http, run_checks
from vigil.checks.models import HttpCheck
from vigil.config_errors import is_configuration_error
from vigil.context import RunContext
from vigil.result import CheckResult, Status
from vigil.spec.models import Checks, HttpTarget, Spec
from vigil.stack.postgres import free_port

pytestmark = pytest.mark.integration

TOKEN = "Bearer tok-5f2e9c1d"


@pytest.fixture
def server() -> Iterator[LocalHttpServer]:
    with LocalHttpServer() as srv:
        yield srv


def _run(
    base_url: str,
    environ: dict[str, str] | None = None,
    target_fields: dict[str, Any] | None = None,
    **check_fields: Any,
) -> CheckResult:
    check_fields.setdefault("timeout_s", 2)
    check = HttpCheck(kind="http", id="api-health", target="api", **check_fields)
    target = HttpTarget(kind="http", base_url=base_url, **(target_fields or {}))
    spec = Spec(environment="test", targets={"api": target}, checks=Checks(health=[check]))
    results = http.run(check, RunContext(spec, environ=environ or {}))
    assert len(results) == 1
    assert results[0].check_kind == "http"
    return results[0]


def test_healthy_endpoint_passes_with_evidence(server: LocalHttpServer) -> None:
    server.route(
        "/health",
        json={
            "status": "ok",
            "version": 7,
            "dependencies": {"db": {"status": "ok"}, "cache": "up"},
        },
    )
    result = _run(
        server.base_url,
        path="/health",
        check_dependencies=True,
        conditions=['status == "ok"', "version >= 5"],
    )
    assert result.status is Status.PASSED, result.message
    assert result.message.startswith(f"GET {server.url('/health')} answered 200 in ")
    assert result.observed["status"] == 200
    assert result.observed["dependencies"] == {"db": {"status": "ok"}, "cache": "up"}
    assert result.details["response"]["headers"]["content-type"] == "application/json"
    assert '"version": 7' in result.details["response"]["body_excerpt"]
    assert result.expected == {
        "status": [200],
        "dependencies": "all ok",
        "conditions": ['status == "ok"', "version >= 5"],
    }


def test_503_names_the_dependency_that_is_down(server: LocalHttpServer) -> None:
    report = {"inventory-api": {"status": "down", "error": "timeout"}, "db": {"status": "ok"}}
    server.route("/health", status=503, json={"status": "degraded", "dependencies": report})
    result = _run(server.base_url, path="/health", check_dependencies=True)
    assert result.status is Status.FAILED
    assert result.message == (
        f"GET {server.url('/health')} answered 503, expected 200; dependency inventory-api is down"
    )
    assert result.observed["dependencies"] == report


def test_false_condition_fails_and_says_what_was_found(server: LocalHttpServer) -> None:
    server.route("/health", json={"status": "degraded"})
    result = _run(server.base_url, path="/health", conditions=['status == "ok"'])
    assert result.status is Status.FAILED
    assert 'condition status == "ok" (got "degraded") does not hold' in result.message


def test_over_the_latency_budget_fails(server: LocalHttpServer) -> None:
    server.route("/slow", json={"status": "ok"}, delay_s=0.3)
    result = _run(server.base_url, path="/slow", latency_budget_ms=50)
    assert result.status is Status.FAILED
    assert "over the 50 ms latency budget" in result.message
    assert result.observed["latency_ms"] >= 300


def test_malformed_json_is_an_error(server: LocalHttpServer) -> None:
    server.route("/health", body='{"status": "ok",')
    result = _run(server.base_url, path="/health", conditions=['status == "ok"'])
    assert result.status is Status.ERROR
    assert not is_configuration_error(result)  # a proxy's error page may pass: retried
    assert result.message.startswith(f"GET {server.url('/health')} answered 200 in ")
    assert "; body is not valid JSON (" in result.message
    assert result.details["response"]["body_excerpt"] == '{"status": "ok",'


def test_plain_body_is_fine_when_nothing_reads_it(server: LocalHttpServer) -> None:
    server.route("/ping", body="pong")
    assert _run(server.base_url, path="/ping").status is Status.PASSED


def test_missing_dependency_report_is_a_configuration_error(server: LocalHttpServer) -> None:
    server.route("/health", json={"status": "ok"})
    result = _run(server.base_url, path="/health", check_dependencies=True)
    assert result.status is Status.ERROR
    assert "no 'dependencies' report" in result.message
    assert "drop check_dependencies and check its body with conditions" in result.message
    assert is_configuration_error(result)
    server.route("/bare", json=True)  # a health endpoint answering a bare `true`
    bare = _run(server.base_url, path="/bare", check_dependencies=True)
    assert is_configuration_error(bare)
    assert _run(server.base_url, path="/bare", conditions=["$ == true"]).status is Status.PASSED


def test_closed_port_is_refused() -> None:
    port = free_port()  # bound then released: nothing listens there
    result = _run(f"http://127.0.0.1:{port}", path="/health")
    assert result.status is Status.ERROR
    assert result.message == (
        f"GET http://127.0.0.1:{port}/health: connection refused (nothing listening?)"
    )


def test_hanging_endpoint_times_out(server: LocalHttpServer) -> None:
    server.route("/hang", hang=True)
    result = _run(server.base_url, path="/hang", timeout_s=0.5)
    assert result.status is Status.ERROR
    assert result.message.endswith("/hang: no answer within 0.5s (timed out)")


def test_body_that_trickles_in_times_out(server: LocalHttpServer) -> None:
    server.route("/drip", json={"status": "ok", "padding": "x" * 100}, trickle_s=0.05)
    result = _run(server.base_url, path="/drip", timeout_s=0.5)
    assert result.status is Status.ERROR
    assert "within 0.5s" in result.message


def test_headers_merge_resolve_and_stay_masked(server: LocalHttpServer) -> None:
    server.route("/echo", json={"seen_token": TOKEN})  # a service that leaks what it got
    result = _run(
        server.base_url,
        environ={"API_TOKEN": TOKEN, "TENANT": "acme"},
        target_fields={
            "headers": {"Authorization": "${API_TOKEN}", "X-Tenant": "default", "X-Env": "test"}
        },
        path="/echo",
        headers={"x-tenant": "${TENANT}"},
    )
    sent = {name.lower(): value for name, value in server.requests[-1].headers.items()}
    assert sent["authorization"] == TOKEN
    assert sent["x-tenant"] == "acme" and sent["x-env"] == "test"  # the check's value wins
    shown = result.details["request"]["headers"]
    assert shown["Authorization"] == "***"
    dumped = json.dumps(result.to_row())
    assert TOKEN not in dumped and "tok-5f2e9c1d" not in dumped
    assert '"seen_token": "***"' in result.details["response"]["body_excerpt"]


def test_missing_environment_variable_is_a_configuration_error(server: LocalHttpServer) -> None:
    result = _run(server.base_url, target_fields={"headers": {"Authorization": "${NO_SUCH}"}})
    assert result.status is Status.ERROR
    assert result.message == (
        "configuration problem: environment variable NO_SUCH is not set; "
        "set NO_SUCH in the environment the Airflow workers run with"
    )
    assert is_configuration_error(result)  # not retried: a retry would meet the same
    assert server.requests == []  # nothing was sent half-configured


def test_post_with_json_body_and_other_statuses(server: LocalHttpServer) -> None:
    server.route("/orders/validate", status=202, json={"accepted": True})
    result = _run(
        server.base_url,
        environ={"SKU": "A-1"},
        method="POST",
        path="/orders/validate",
        body={"sku": "${SKU}", "qty": 1},
        expect_status=[200, 202],
        conditions=["accepted == true"],
    )
    assert result.status is Status.PASSED, result.message
    request = server.requests[-1]
    assert request.method == "POST"
    assert json.loads(request.body) == {"sku": "A-1", "qty": 1}


def test_head_request(server: LocalHttpServer) -> None:
    server.route("/health", json={"status": "ok"})
    result = _run(server.base_url, method="HEAD", path="/health")
    assert result.status is Status.PASSED
    assert server.requests[-1].method == "HEAD"


def test_base_url_with_environment_reference(server: LocalHttpServer) -> None:
    server.route("/health", json={"status": "ok"})
    base = "${ORDERS_URL:-http://127.0.0.1:1}"
    try:
        HttpTarget(kind="http", base_url=base)
    except ValueError:
        pytest.fail("HttpTarget.base_url does not accept ${VAR} references yet (spec loader)")
    result = _run(base, environ={"ORDERS_URL": server.base_url}, path="/health")
    assert result.status is Status.PASSED, result.message
    assert result.message.startswith(f"GET {server.url('/health')} answered 200")


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_self_signed_tls_is_an_error_unless_verification_is_off(tmp_path: Path) -> None:
    with LocalHttpServer(tls=self_signed_tls(tmp_path)) as server:
        server.route("/health", json={"status": "ok"})
        verified = _run(server.base_url, path="/health")
        assert verified.status is Status.ERROR
        assert "TLS error" in verified.message and "CERTIFICATE_VERIFY_FAILED" in verified.message
        unverified = _run(server.base_url, path="/health", verify_tls=False)
        assert unverified.status is Status.PASSED, unverified.message
        by_target = _run(server.base_url, path="/health", target_fields={"verify_tls": False})
        assert by_target.status is Status.PASSED


def test_checks_on_one_thread_reuse_the_connection(server: LocalHttpServer) -> None:
    server.route("/health", json={"status": "ok"})
    checks = [HttpCheck(kind="http", id=f"c{i}", target="api", path="/health") for i in range(3)]
    spec = Spec(
        environment="test",
        targets={"api": HttpTarget(kind="http", base_url=server.base_url)},
        checks=Checks(health=checks),
    )
    results = run_checks(checks, RunContext(spec, environ={}), max_workers=1)
    assert [r.status for r in results] == [Status.PASSED] * 3
    assert len({r.peer_port for r in server.requests}) == 1  # one kept-alive connection


def test_proxy_from_the_environment_is_used(
    server: LocalHttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test server plays the proxy: a proxied request names the absolute URL.
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.base_url)
    server.route("http://orders.proxied.invalid/health", json={"status": "ok"})
    result = _run("http://orders.proxied.invalid", path="/health")
    assert result.status is Status.PASSED, result.message
    assert server.requests[-1].path == "http://orders.proxied.invalid/health"


def test_chunked_body_is_read_whole(server: LocalHttpServer) -> None:
    report = {"status": "ok", "dependencies": {f"dep-{i}": "ok" for i in range(30)}}
    server.route("/health", json=report, chunked=True)
    result = _run(server.base_url, path="/health", check_dependencies=True)
    assert result.status is Status.PASSED, result.message
    assert result.observed["dependencies"] == report["dependencies"]


def test_oversized_body_is_cut_and_not_parsed(server: LocalHttpServer) -> None:
    server.route("/health", body="[" + "1," * http.MAX_BODY_BYTES + "1]")
    result = _run(server.base_url, path="/health", conditions=["0 exists"])
    assert result.status is Status.ERROR
    assert "larger than" in result.message
    assert result.details["response"]["body_excerpt"].endswith(f"[{http.MAX_BODY_BYTES} bytes+]")


def test_credential_in_the_query_string_is_masked(server: LocalHttpServer) -> None:
    server.route("/health", json={"status": "ok"})
    result = _run(server.base_url, environ={"KEY": "k-77aa99"}, path="/health?api_key=${KEY}")
    assert result.status is Status.PASSED
    assert "k-77aa99" not in str(result.to_row())
    assert result.details["request"]["url"].endswith("/health?api_key=***")


def test_unexpected_status_alone_fails(server: LocalHttpServer) -> None:
    server.route("/health", status=503, body="down")
    result = _run(server.base_url, path="/health")
    assert result.status is Status.FAILED
    assert result.message == f"GET {server.url('/health')} answered 503, expected 200"


def test_redirect_is_judged_not_followed_and_credentials_stay_home(
    server: LocalHttpServer,
) -> None:
    with LocalHttpServer() as elsewhere:
        elsewhere.route("/login", json={"status": "ok"})
        server.route("/health", status=302, headers={"Location": elsewhere.url("/login")})
        environ = {"API_KEY": "key-9c2f1e"}
        target = {"headers": {"X-Api-Key": "${API_KEY}"}}
        result = _run(server.base_url, environ, target, path="/health")
        assert result.status is Status.FAILED
        assert "answered 302, expected 200" in result.message
        assert elsewhere.requests == []
        moved = _run(server.base_url, environ, target, path="/health", expect_status=[302])
        assert moved.status is Status.PASSED


def test_a_token_the_endpoint_answers_with_stays_out_of_conditions_and_headers(
    server: LocalHttpServer,
) -> None:
    issued = "opaque-7Hq2xZ91"
    server.route(
        "/health",
        json={"access_token": issued, "status": "ok"},
        headers={"Location": f"/cb?access_token={issued}&state=1"},
    )
    result = _run(
        server.base_url,
        path="/health",
        conditions=["access_token exists", 'status == "down"'],
    )
    assert result.status is Status.FAILED
    assert issued not in json.dumps(result.to_row(), default=str)
    assert result.details["response"]["headers"]["location"].endswith("access_token=***&state=1")
    assert 'status == "down" (got "ok")' in result.message


@pytest.mark.parametrize(
    ("base", "path", "environ"),
    [
        ("{url}", "/health?code=${FUNC_CODE}", {"FUNC_CODE": "c0deValue-7x9q2LmN4p"}),
        ("{url}", "${HEALTH_PATH}", {"HEALTH_PATH": "/health?access_token=c0deValue-7x9q2LmN"}),
        ("{url}", "/health?${QS}", {"QS": "sig=c0deValue-7x9q2LmN&v=2"}),
    ],
)
def test_a_credential_in_the_query_is_masked_however_it_got_there(
    server: LocalHttpServer, base: str, path: str, environ: dict[str, str]
) -> None:
    server.route("/health", json={"status": "ok"})
    result = _run(base.format(url=server.base_url), environ=environ, path=path)
    assert result.status is Status.PASSED
    assert "c0deValue" not in json.dumps(result.to_row(), default=str)
    assert server.requests[-1].path == "/health"


def test_a_reference_as_a_query_name_is_expanded(server: LocalHttpServer) -> None:
    server.route("/search", json={"status": "ok"})
    result = _run(server.base_url, environ={"QS": "q=shoes&page=2"}, path="/search?${QS}")
    assert result.status is Status.PASSED
    assert result.details["request"]["url"].endswith("/search?q=shoes&page=2")


def test_a_base_url_resolving_to_a_query_is_a_configuration_error(
    server: LocalHttpServer,
) -> None:
    server.route("/health", json={"status": "ok"})
    environ = {"BASE": f"{server.base_url}/fn?sig=s1gValue-7x9q2LmN"}
    result = _run("${BASE}", environ=environ, path="/health")
    assert result.status is Status.ERROR and is_configuration_error(result)
    assert "query or fragment" in result.message
    assert "s1gValue" not in json.dumps(result.to_row(), default=str)


def test_an_address_variable_with_an_auth_word_stays_readable(server: LocalHttpServer) -> None:
    server.route("/api", json={"status": "ok"})
    base = "${AUTH_API_URL:-" + server.base_url + "}"
    result = _run(base, path="/api")
    assert result.status is Status.PASSED
    assert result.details["request"]["url"] == server.url("/api")
