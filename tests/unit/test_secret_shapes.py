"""Secret-shaped values in text an endpoint sent back are redacted; the rest is kept."""

from __future__ import annotations

import pytest

from vigil.spec.secret_shapes import is_secret_variable, redact_secret_shapes

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('{"password": "hunter22", "user": "bob"}', '{"password": "***", "user": "bob"}'),
        ("client_secret=cs-123456&grant=x", "client_secret=***&grant=x"),
        ("Authorization: Bearer abcdefgh12345678", "Authorization: *** ***"),
        ("leaked ghp_abcdefghijklmnopqrstuvwxyz0123456789", "leaked ***"),
        ('{"session_id": "s-123456", "idempotency_key": "k-1"}', None),
        ("token bucket empty; 8d2f61c4 shipped", None),
        ('{"auth": "down", "db": "up"}', None),
        ("Basic authentication required", None),
        ("Bearer realm=api; bearer required", None),
        ("WWW-Authenticate: Basic dXNlcjpwYXNzd29yZA==", "WWW-Authenticate: Basic ***"),
        ("token Zx81kLmQ2pRt", "token ***"),
        ('{"auth": "Zx81kLmQ2pRt9"}', '{"auth": "***"}'),
        (
            "Location: /cb?access_token=abc123def456&state=1",
            "Location: /cb?access_token=***&state=1",
        ),
    ],
)
def test_redacting_secret_shapes_keeps_what_is_not_one(text: str, shown: str | None) -> None:
    assert redact_secret_shapes(text) == (text if shown is None else shown)


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("API_TOKEN", True),
        ("DEMO_TOKEN_ACME", True),
        ("DB_PASSWORD", True),
        ("SLACK_WEBHOOK_URL", True),
        ("NL_KEY", True),
        ("ORDERS_URL", False),
        ("TENANT_ID", False),
        ("KEYSPACE", False),
        ("MONKEY", False),
        ("AUTH_API_URL", False),
        ("KEY_VAULT_HOST", False),
        ("AUTH_SERVICE_ENDPOINT", False),
        ("TOKEN_PATH", False),
        ("SECRET_STORE_ADDR", False),
        ("AUTH_TOKEN", True),
        ("DISCORD_WEBHOOK_URL", True),
    ],
)
def test_a_variable_is_a_secret_when_its_name_says_so(name: str, secret: bool) -> None:
    assert is_secret_variable(name) is secret
