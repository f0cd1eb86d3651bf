"""Secrets are referenced, never written: detection of literals wherever they appear."""

from __future__ import annotations

import pytest

from vigil.spec.secrets import (
    HOW_TO,
    LiteralSecretError,
    find_literal_secrets,
    find_malformed_references,
    has_reference,
    literal_password_in_url,
    reject_literal_secret_in_header,
    reject_literal_secret_in_url,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("url", "literal"),
    [
        ("http://127.0.0.1:8080", False),
        ("http://user@host", False),
        ("postgresql://vigil:${VIGIL_DB_PASSWORD}@db/app", False),
        ("${DEMO_URL:-http://127.0.0.1:18081}", False),
        ("ops@example.com", False),
        ("http://user:hunter2@host", True),
        ("postgresql://vigil:s3cret@db:5432/app", True),
        ("http://user:${PW:-hunter2}@host", True),
        ("${DEMO_URL:-http://user:hunter2@host}", True),
    ],
)
def test_literal_password_in_url(url: str, literal: bool) -> None:
    assert literal_password_in_url(url) is literal


def test_reject_literal_secret_in_url_says_how_to_reference() -> None:
    with pytest.raises(LiteralSecretError) as caught:
        reject_literal_secret_in_url("https://bot:hunter2@hooks.example")
    assert "literal password" in str(caught.value) and HOW_TO in str(caught.value)
    assert "${VAR_NAME}" in HOW_TO and "conn_id" in HOW_TO
    with pytest.raises(LiteralSecretError, match="query parameter 'api_key'"):
        reject_literal_secret_in_url("/orders?page=2&api_key=abc123")
    assert reject_literal_secret_in_url("/orders?api_key=${ORDERS_KEY}&page=2")


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "Proxy-Authorization",
        "X-Api-Key",
        "X-API-KEY",
        "apikey",
        "X-Auth-Token",
        "Cookie",
        "X-Client-Secret",
        "X-Password",
    ],
)
def test_credential_headers_need_references(name: str) -> None:
    with pytest.raises(LiteralSecretError, match=f"header '{name}' holds a literal secret"):
        reject_literal_secret_in_header(name, "abc123")
    reject_literal_secret_in_header(name, "Bearer ${ORDERS_TOKEN}")
    with pytest.raises(LiteralSecretError, match="default of its reference"):
        reject_literal_secret_in_header(name, "${ORDERS_TOKEN:-abc123}")


def test_ordinary_headers_may_be_literal() -> None:
    for name in ("Accept", "Content-Type", "X-Request-Id", "User-Agent"):
        reject_literal_secret_in_header(name, "anything")


def test_find_literal_secrets_everywhere() -> None:
    data = {
        "targets": {
            "orders": {
                "base_url": "http://admin:pw123@orders",
                "headers": {"Accept": "json", "X-Api-Key": "k-123"},
            }
        },
        "checks": {
            "health": [
                {"body": {"user": "probe", "password": 1234, "nested": [{"token": "t-1"}]}},
                {"body": {"password": "${PROBE_PASSWORD}", "secret": "", "api_key": False}},
            ]
        },
        "results_conn_id": "vigil_results",
        "password_conn_id": "probe_login",  # names a connection: a pointer, not the secret
    }
    found = {f.loc: f.message for f in find_literal_secrets(data)}
    assert set(found) == {
        ("targets", "orders", "base_url"),
        ("targets", "orders", "headers", "X-Api-Key"),
        ("checks", "health", 0, "body", "password"),
        ("checks", "health", 0, "body", "nested", 0, "token"),
    }
    assert "literal password" in found[("targets", "orders", "base_url")]
    assert found[("checks", "health", 0, "body", "password")].startswith(
        "'password' holds a literal secret"
    )


def test_find_malformed_references() -> None:
    data = {
        "ok": ["${A}", "${A_1:-x}", "http://${HOST}:${PORT:-80}/", "$HOME", "price: $5"],
        "bad": ["${A B}", "${A:-x", "${1A}", "${}", "${A}${"],
    }
    found = [f.loc for f in find_malformed_references(data)]
    assert found == [("bad", i) for i in range(5)]


def test_has_reference() -> None:
    assert has_reference("Bearer ${TOKEN}") and has_reference("${URL:-http://x}")
    assert not has_reference("$TOKEN") and not has_reference("{TOKEN}")
