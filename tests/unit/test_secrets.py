"""Secrets are referenced, never written: detection of literals wherever they appear."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.spec.loader import load_spec
from vigil.spec.secrets import (
    ENV_REF,
    HOW_TO,
    LiteralSecretError,
    find_literal_secrets,
    find_malformed_references,
    has_reference,
    literal_password_in_url,
    reject_literal_secret_in_header,
    reject_literal_secret_in_url,
    string_secret_reason,
)

pytestmark = [pytest.mark.unit, pytest.mark.timeout(20)]


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


# --- every form of a literal secret, and what is not one ----------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "Bearer sk_live_abc${SUFFIX}",
        "sk_live_${REST}",
        "${PREFIX}abc123",
        "abc ${TOKEN}",
        "Bearer ${TOKEN} extra",
    ],
)
def test_a_literal_mixed_with_a_reference_is_a_secret(value: str) -> None:
    with pytest.raises(LiteralSecretError, match="mixes literal text with a reference"):
        reject_literal_secret_in_header("Authorization", value)


@pytest.mark.parametrize(
    "value",
    ["Bearer ${T}", "Basic ${USER}:${PASSWORD}", "Token token=${T}", "${A}${B}", "GenieKey ${K}"],
)
def test_a_scheme_word_and_punctuation_may_surround_references(value: str) -> None:
    reject_literal_secret_in_header("Authorization", value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("https://ghp_16C7e42F292c6912E7710c838347Ae178B4a@api.github.com", "as its user name"),
        ("https://Zk3qP9xWm2Lr8Tn4Vb7Yc1Hd6Gf5Js0A@host/x", "as its user name"),
        ("https://hooks.slack.com/services/T0123/B0123/AbCdEfGhIjKlMnOp", "Slack webhook"),
        ("${HOOK:-https://hooks.slack.com/services/T0/B0/AbCdEfGhIjKl}", "the default of"),
        ("https://discord.com/api/webhooks/1234567/AbCdEfGhIjKlMnOp", "Discord webhook"),
        ("https://acme.webhook.office.com/webhookb2/3f1e-77/IncomingWebhook/9a", "Teams"),
        ("https://api.telegram.org/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/send", "Telegram"),
        ("/v1/hooks/Zk3qP9xWm2Lr8Tn4Vb7Yc1Hd6Gf5Js0A/health", "URL path holds a literal token"),
        ("/health?code=aGVsbG8gd29ybGQgdGhpcyBpcyBh", "query parameter 'code'"),
        ("/maps?key=AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY", "literal token"),
        ("/boards?key=trello-k-42&name=x", "query parameter 'key'"),
        ("/blob?sv=2024-01-01&sig=5qtBt0z0Yr%2F5T3bE", "query parameter 'sig'"),
        ("/x?X-Amz-Signature=abc123", "query parameter 'X-Amz-Signature'"),
        ("/feed?page=2&cursor=Zk3qP9xWm2Lr8Tn4Vb7Yc1Hd6Gf5Js0A", "query parameter 'cursor'"),
        ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "literal token"),
        ("see eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig", "literal token"),
        ('{"user": "probe", "password": "hunter2"}', "JSON in this value has a literal"),
        ('[{"auth": {"token": 12345}}]', "at [0].auth.token"),
        ("user=probe&password=hunter2", "query parameter 'password'"),
    ],
)
def test_strings_that_carry_a_secret(text: str, reason: str) -> None:
    found = string_secret_reason(text)
    assert found is not None and reason in found, found


@pytest.mark.parametrize(
    "text",
    [
        "https://hooks.slack.com/services/${SLACK_WEBHOOK_PATH}",
        "https://hooks.slack.com/services/T0123/B0123/${SLACK_TOKEN}",
        "${DEMO_WEBHOOK_URL:-http://127.0.0.1:18083/hooks/vigil}",
        "http://user@host/x",
        "/v1/orders/550e8400-e29b-41d4-a716-446655440000",
        "/v1/commits/da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "/v1/countries?code=FR&page=2",
        "/oauth/token?grant_type=client_credentials",
        "https://auth.example.com/oauth/token",
        '{"password": "${PROBE_PASSWORD}", "user": "probe"}',
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
        'status == "ok"',
        'version matches "^\\d+\\.\\d+"',
        "orders-service-production-eu-west-1",
        "a=b",
    ],
)
def test_strings_that_do_not(text: str) -> None:
    assert string_secret_reason(text) is None


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("X-Auth-Key", True),
        ("X-Api-Token", True),
        ("X-Functions-Key", True),
        ("Ocp-Apim-Subscription-Key", True),
        ("X-Webhook-Secret", True),
        ("X-Signature", True),
        ("X-Auth", True),
        ("Idempotency-Key", False),
        ("X-Public-Key", False),
        ("X-Request-Id", False),
        ("X-Token-Url", False),
    ],
)
def test_credential_headers_by_convention(name: str, secret: bool) -> None:
    if secret:
        with pytest.raises(LiteralSecretError):
            reject_literal_secret_in_header(name, "c2VjcmV0")
    else:
        reject_literal_secret_in_header(name, "c2VjcmV0")


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("pass", True),
        ("clientSecret", True),
        ("refresh_token", True),
        ("api_key", True),
        ("privateKey", True),
        ("credentials", True),
        ("token_url", False),
        ("keyspace", False),
        ("max_tokens", False),
        ("password_conn_id", False),
        ("secret_name", False),
        ("public_key", False),
        ("primary_key", False),
        ("bypass", False),
        ("key", False),
    ],
)
def test_credential_names_in_a_document(name: str, secret: bool) -> None:
    found = list(find_literal_secrets({"body": {name: "c2VjcmV0"}}))
    assert bool(found) is secret


def test_a_body_object_a_list_and_binary_under_credential_keys() -> None:
    data = {
        "body": {
            "credentials": {"user": "probe", "pass": "hunter2"},
            "api_key": ["k-1", "${K2}"],
            "password": b"hunter2",
            "user": b"probe",  # binary, but not a credential
        }
    }
    found = {f.loc: f.message for f in find_literal_secrets(data)}
    assert set(found) == {
        ("body", "credentials", "user"),  # below a credential key everything is secret
        ("body", "credentials", "pass"),
        ("body", "api_key", 0),
        ("body", "password"),
    }
    assert "(a !!binary value)" in found[("body", "password")]


def test_references_do_not_nest_and_scan_in_linear_time() -> None:
    # `${A:-${B}}` is not a reference with a default: it is reported as malformed.
    (finding,) = find_malformed_references({"url": "${A:-${B}}"})
    assert finding.loc == ("url",)
    long = "${A:-" * 20_000
    assert ENV_REF.search(long) is None  # returns at once, not after minutes
    (finding,) = find_malformed_references({"x": long})
    assert len(finding.message) < 300


NEGATIVE_TEST_SPEC = """\
environment: negative
targets:
  api:
    kind: http
    base_url: http://127.0.0.1:18081
    headers:
      Authorization: Bearer ${API_TOKEN}
checks:
  health:
    - id: wrong-token-refused
      kind: http
      target: api
      path: /me
      credentials_mode: invalid
      expect_status: [401]
    - id: no-token-refused
      kind: http
      target: api
      path: /me
      credentials_mode: none
      expect_status: [401]
    - id: explicit-wrong-token-refused
      kind: http
      target: api
      path: /me
      headers:
        Authorization: Bearer ${VIGIL_INVALID_CREDENTIAL}
        X-Api-Key: ${VIGIL_INVALID_CREDENTIAL}
      expect_status: [401, 403]
    - id: login-form
      kind: http
      target: api
      method: POST
      path: /token?api_key=${VIGIL_INVALID_CREDENTIAL}
      body_format: form
      body: {username: alice, password: "${VIGIL_INVALID_CREDENTIAL}"}
      expect_status: [401]
"""


def test_a_deliberately_invalid_credential_is_accepted_by_the_secret_rules(
    tmp_path: Path,
) -> None:
    reject_literal_secret_in_header("Authorization", "Bearer ${VIGIL_INVALID_CREDENTIAL}")
    reject_literal_secret_in_header("X-Api-Key", "${VIGIL_INVALID_CREDENTIAL}")
    path = tmp_path / "negative.yaml"
    path.write_text(NEGATIVE_TEST_SPEC)
    spec = load_spec(path)
    credentials = [c.credentials_mode for c in spec.checks.health]
    assert credentials == ["invalid", "none", "configured", "configured"]


@pytest.mark.parametrize(
    "value",
    [
        "Bearer not-a-valid-token",  # a literal is a literal, however it is meant
        "Bearer ${VIGIL_INVALID_CREDENTIAL:-x}",  # a default is literal text
    ],
)
def test_a_literal_wrong_token_is_still_refused(value: str) -> None:
    with pytest.raises(LiteralSecretError):
        reject_literal_secret_in_header("Authorization", value)


NESTED_SECRET_SPEC = """\
environment: nested
targets:
  api:
    kind: http
    base_url: http://127.0.0.1:18081
checks:
  health:
    - id: login
      kind: http
      target: api
      method: POST
      path: /token
      body: {BODY}
"""


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ("{client_secret: {value: hunter2zz}}", ("client_secret", "value")),
        ("{credentials: {username: probe, pw: hunter3zz}}", ("credentials", "pw")),
        ("{auth: {key: hunter4zz}}", ("auth", "key")),
        ("{auth: {nested: [{deep: hunter5zz}]}}", ("auth", "nested", 0, "deep")),
    ],
)
def test_literals_nested_below_a_credential_key_are_refused(
    tmp_path: Path, body: str, loc: tuple[object, ...]
) -> None:
    found = {f.loc for f in find_literal_secrets({"body": _yaml(body)})}
    assert ("body", *loc) in found
    path = tmp_path / "nested.yaml"
    path.write_text(NESTED_SECRET_SPEC.replace("{BODY}", body))
    with pytest.raises(Exception) as raised:
        load_spec(path)
    for literal in ("hunter2zz", "hunter3zz", "hunter4zz", "hunter5zz"):
        assert literal not in str(raised.value)


def test_each_nested_literal_is_its_own_problem() -> None:
    data = {"body": {"credentials": {"username": "probe", "pw": "hunter3zz"}}}
    found = [f.loc for f in find_literal_secrets(data)]
    assert sorted(found, key=str) == [
        ("body", "credentials", "pw"),
        ("body", "credentials", "username"),
    ]


def test_references_nested_below_a_credential_key_are_accepted(tmp_path: Path) -> None:
    assert (
        list(find_literal_secrets({"body": {"credentials": {"user": "${U}", "pass": "${P}"}}}))
        == []
    )
    path = tmp_path / "nested.yaml"
    path.write_text(
        NESTED_SECRET_SPEC.replace("{BODY}", '{credentials: {user: "${U}", pass: "${P}"}}')
    )
    spec = load_spec(path)
    assert spec.checks.health[0].id == "login"


def _yaml(text: str) -> object:
    import yaml

    return yaml.safe_load(text)
