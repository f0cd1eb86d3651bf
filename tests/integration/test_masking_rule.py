"""What is masked and what stays readable, both sides, against a real HTTP server.

The rule (README, "What is masked"): a value is a secret when it fills a credential field
(a credential header, a secret-named query parameter, body key or form field) or when its
variable's name says so (`*_TOKEN`, `*_PASSWORD`, `*_SECRET`, `*_KEY`, ...). Addresses,
ids and paths stay readable, so a failure names what it was about.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.http_server import LocalHttpServer
from vigil.checks import http
from vigil.checks.models import HttpCheck
from vigil.context import RunContext
from vigil.result import CheckResult, Status
from vigil.spec.models import HttpTarget, Spec

pytestmark = pytest.mark.integration

ORDER_ID = "8d2f61c4-6a0e-4a49-9a53-0c4b8f1de5a7"  # a non-secret id, from a default
SIG = "sig-7Hq2LmZx90aa"  # a credential in a query parameter
TOKEN = "tok-Ab12Cd34Ef56"  # named like a secret, used in an ordinary header
PASSWORD = "pw-Zz99Yy88Xx77"  # under a credential key of a JSON body
CUSTOMER = "customer-4711"  # under an ordinary body key


@pytest.fixture
def server() -> Iterator[LocalHttpServer]:
    with LocalHttpServer() as srv:
        # Everything it was sent comes back in its error body, as a careless API does.
        srv.route(f"/orders/{ORDER_ID}", status=500, body=f"{SIG} {TOKEN} {PASSWORD} {CUSTOMER}")
        yield srv


def run(server: LocalHttpServer, check: HttpCheck) -> CheckResult:
    spec = Spec.model_validate(
        {
            "environment": "mask",
            "targets": {"api": HttpTarget(kind="http", base_url=server.base_url)},
        }
    )
    environ = {"API_TRACE_TOKEN": TOKEN, "SIG": SIG, "PW": PASSWORD, "CUSTOMER": CUSTOMER}
    (result,) = http.run(check, RunContext(spec, environ=environ))
    return result


def text_of(result: CheckResult) -> str:
    return str(result.model_dump(mode="json"))


def test_ids_stay_readable_and_secrets_are_masked(server: LocalHttpServer) -> None:
    check = HttpCheck(
        id="order",
        kind="http",
        target="api",
        method="POST",
        path=f"/orders/${{ORDER_ID:-{ORDER_ID}}}?sig=${{SIG}}&view=full",
        headers={"X-Trace": "${API_TRACE_TOKEN}"},
        body={"auth": {"password": "${PW}"}, "customer": "${CUSTOMER}"},
    )
    result = run(server, check)
    assert result.status is Status.FAILED
    (sent,) = server.requests
    assert ORDER_ID in sent.path and PASSWORD.encode() in sent.body  # the real values went out
    shown = text_of(result)
    assert ORDER_ID in result.message, result.message  # the id names what failed
    assert CUSTOMER in shown  # an ordinary body value stays readable
    for secret in (SIG, TOKEN, PASSWORD):
        assert secret not in shown, secret
    assert "view=full" in shown  # the rest of the query is readable


def test_an_ordinary_variable_under_a_credential_header_is_masked(
    server: LocalHttpServer,
) -> None:
    check = HttpCheck(
        id="order",
        kind="http",
        target="api",
        path=f"/orders/{ORDER_ID}",
        headers={"Authorization": "Bearer ${CUSTOMER}"},  # the field decides, not the name
    )
    result = run(server, check)
    assert result.status is Status.FAILED
    assert CUSTOMER not in text_of(result)


def test_a_token_the_endpoint_answers_with_is_redacted_from_the_evidence() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlLXBhcnQ"
    answer = {"access_token": "opaque-4f9a8b7c6d5e", "token_type": "bearer", "id_token": jwt}
    with LocalHttpServer() as srv:
        srv.route("/login", status=500, json={**answer, "order": ORDER_ID})
        check = HttpCheck(id="login", kind="http", target="api", path="/login")
        result = run(srv, check)
    excerpt = result.details["response"]["body_excerpt"]
    assert "opaque-4f9a8b7c6d5e" not in excerpt and jwt not in excerpt
    assert '"token_type": "bearer"' in excerpt and ORDER_ID in excerpt  # the rest readable
