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
    ],
)
def test_a_variable_is_a_secret_when_its_name_says_so(name: str, secret: bool) -> None:
    assert is_secret_variable(name) is secret
