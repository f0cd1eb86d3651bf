"""The shared PostgreSQL and HTTP pieces, without a server: guarded sessions, where a
database is said to be, and request and response evidence that carries no credential."""

from __future__ import annotations

import psycopg2
import pytest
from requests.structures import CaseInsensitiveDict

from vigil import http_client, pg
from vigil.masking import Masker

pytestmark = pytest.mark.unit


def test_a_watched_database_gets_a_read_only_bounded_session() -> None:
    params = pg.parse("postgresql://app:pw@db.example:6543/shop?options=-c%20work_mem%3D8MB")
    kwargs = pg.session(
        params, application_name="vigil-x", statement_timeout_s=2.5, connect_timeout_s=0.2
    )
    # The guards come last: a connection's own options cannot turn them off.
    assert kwargs["options"] == (
        "-c work_mem=8MB -c default_transaction_read_only=on -c statement_timeout=2500"
    )
    assert kwargs["application_name"] == "vigil-x" and kwargs["connect_timeout"] == 1
    assert kwargs["password"] == "pw" and kwargs["dbname"] == "shop"


def test_the_store_session_keeps_its_own_settings_and_is_writable() -> None:
    own = {"host": "h", "options": "-c statement_timeout=5", "application_name": "mine"}
    defaults = {"statement_timeout": "60000", "TimeZone": "UTC"}
    kwargs = pg.session(own, application_name="vigil-results", readonly=False, defaults=defaults)
    assert kwargs["options"] == "-c statement_timeout=5 -c TimeZone=UTC"
    assert kwargs["application_name"] == "mine"
    assert pg.session(kwargs, application_name="x", readonly=False) == kwargs  # idempotent


def test_where_a_database_is_never_says_its_password() -> None:
    params = pg.parse({"host": "db", "port": 5433, "database": "shop", "user": "app",
                       "password": "pw-1234"})  # fmt: skip
    assert pg.address(params) == "db:5433/shop"
    assert pg.describe(params) == "db:5433, database 'shop' as app"
    assert (
        pg.describe({"host": "/run/pg"})
        == "socket /run/pg port 5432, database '?' as (default user)"
    )
    assert pg.address({}) == "local socket:5432/postgres"


def test_a_driver_error_is_cut_to_its_first_line() -> None:
    assert pg.first_line(psycopg2.OperationalError("  FATAL: no\nDETAIL: more\n")) == "FATAL: no"
    assert pg.first_line(psycopg2.OperationalError()) == "OperationalError"


def test_request_evidence_hides_credentials() -> None:
    masker = Masker()
    masker.remember("tenant-secret-9")
    request = http_client.Request(
        "GET",
        "https://bob:pw@h.example/x?k=tenant-secret-9",
        CaseInsensitiveDict(
            {"Authorization": "Bearer abc", "X-Api-Key": "k", "X-Tenant": "tenant-secret-9"}
        ),
    )
    assert request.shown(masker) == {
        "method": "GET",
        "url": "https://bob:***@h.example/x?k=***",
        "headers": {"Authorization": "***", "X-Api-Key": "***", "X-Tenant": "***"},
    }


def test_a_body_excerpt_is_masked_before_it_is_cut() -> None:
    secret = "straddling-secret-42"
    body = ("x" * (http_client.EXCERPT_CHARS - 5) + secret).encode()
    response = http_client.Response(500, {"Content-Type": "text/plain"}, body, False, 1.0)
    masker = Masker()
    masker.remember(secret)
    shown = response.shown(masker)
    assert shown["body_excerpt"] == "x" * (http_client.EXCERPT_CHARS - 5) + "***"
    assert "straddl" not in response.excerpt(masker)
    assert shown["headers"] == {"content-type": "text/plain"}
