"""Each channel against a real receiver: the webhook's signed payload matches its JSON
Schema, email arrives as text + HTML over real SMTP with the connection's login, Slack gets
its JSON, one digest per channel per run, and secrets never reach a log or an error."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import vigil.alerts
from tests.support.receivers import PLAIN_LOOPBACK, SmtpCapture, StoredRuns, WebhookReceiver
from vigil.alerts.engine import EvaluationReport, evaluate
from vigil.alerts.resolver import Resolver
from vigil.context import ConfigError, ConnectionInfo
from vigil.results import ResultStore
from vigil.spec.alerts import AlertsConfig
from vigil.stack.postgres import free_port

pytestmark = [
    pytest.mark.integration,
    # The capture server takes AUTH in clear text on loopback; that is the point of it.
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]

SECRET = "hmac-key-789"
SLACK_TOKEN = "T0001/B0002/verysecrettoken42"
SCHEMA = json.loads(
    (Path(vigil.alerts.__file__).parent / "webhook_payload.schema.json").read_text()
)
RULES = [
    {"id": "down", "kind": "consecutive_failures", "count": 1, "severity": "critical"},
    {"id": "run-rate", "kind": "run_failure_rate", "threshold": 0.1, "severity": "critical"},
]
CHECKS = {"api_up": ("health", "api"), "db_up": ("health", "db"), "web_up": ("health", "web")}


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret=SECRET) as receiver:
        yield receiver


@pytest.fixture
def slack() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpCapture]:
    with SmtpCapture(login="vigil@example.org", password="smtp-pass-321") as server:
        yield server


def connections(smtp: SmtpCapture, slack: WebhookReceiver) -> Any:
    def lookup(conn_id: str) -> ConnectionInfo:
        if conn_id == "smtp_alerts":
            return smtp.connection(conn_id)
        if conn_id == "slack_alerts":
            return ConnectionInfo(conn_id, "slackwebhook", host=f"http://127.0.0.1:{slack.port}",
                                  password=SLACK_TOKEN)  # fmt: skip
        raise ConfigError(f"connection {conn_id!r} is not defined")

    return lookup


def everything(hook: WebhookReceiver, slack: WebhookReceiver, **channels: Any) -> AlertsConfig:
    return AlertsConfig.model_validate(
        {
            "channels": {
                "hook": {"kind": "webhook", "url": hook.url, "secret": "${HOOK_SECRET}"},
                "slack-env": {"kind": "slack", "webhook_url": "${SLACK_URL}"},
                "slack-conn": {"kind": "slack", "conn_id": "slack_alerts"},
                "mail": {"kind": "email", "conn_id": "smtp_alerts", "to": ["oncall@example.org"]},
                "ops-log": {"kind": "log"},
                **channels,
            },
            "routes": {"critical": ["hook", "slack-env", "slack-conn", "mail", "ops-log",
                                    *channels]},
            "rules": RULES,
            "delivery": {"attempts": 2, "backoff_s": 0.01, "max_total_s": 3},
        }
    )  # fmt: skip


def fire(
    fresh_db: str, cfg: AlertsConfig, resolver: Resolver, statuses: dict[str, str]
) -> EvaluationReport:
    store = ResultStore(fresh_db)
    runs = StoredRuns(store, CHECKS)
    runs.add(statuses)
    return evaluate(store, runs.last, cfg, now=runs.now, resolver=resolver)


def test_every_channel_gets_one_digest_per_run(
    fresh_db: str, hook: WebhookReceiver, slack: WebhookReceiver, smtp: SmtpCapture,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    resolver = Resolver(
        environ={"HOOK_SECRET": SECRET, "SLACK_URL": f"{slack.url}/{SLACK_TOKEN}"},
        connection=connections(smtp, slack),
    )
    with caplog.at_level(logging.INFO):
        report = fire(fresh_db, everything(hook, slack), resolver,
                      {"api_up": "failed", "db_up": "failed", "web_up": "passed"})  # fmt: skip
    assert report.problems == []
    assert sorted((d.channel, d.notices, d.ok) for d in report.deliveries) == [
        ("hook", 3, True), ("mail", 3, True), ("ops-log", 3, True),
        ("slack-conn", 3, True), ("slack-env", 3, True),
    ]  # fmt: skip
    assert len(hook.received) == 1 and len(smtp.messages) == 1 and len(slack.received) == 2
    logged = [r for r in caplog.records if r.name == "vigil.alerts.notify"]
    assert len(logged) == 1 and "3 firing" in logged[0].getMessage()
    text = caplog.text + json.dumps([r.error for r in report.notifications])
    assert SECRET not in text and SLACK_TOKEN not in text and smtp.password not in text


def test_webhook_payload_is_signed_and_matches_its_schema(
    fresh_db: str, hook: WebhookReceiver, slack: WebhookReceiver
) -> None:
    cfg = AlertsConfig.model_validate(
        {"channels": {"hook": {"kind": "webhook", "url": hook.url, "secret": "${HOOK_SECRET}"}},
         "routes": {"critical": ["hook"]}, "rules": RULES}
    )  # fmt: skip
    fire(fresh_db, cfg, Resolver(environ={"HOOK_SECRET": SECRET}), {"api_up": "failed"})
    [request] = hook.received
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Vigil-Signature"] == expected
    payload = request.json
    jsonschema.validate(payload, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert request.headers["X-Vigil-Digest"] == payload["id"]
    assert payload["counts"] == {"firing": 2, "resolve": 0, "reminder": 0}
    assert {n["rule"]["kind"] for n in payload["notices"]} == {
        "consecutive_failures", "run_failure_rate"
    }  # fmt: skip


def test_the_schema_rejects_what_it_does_not_describe() -> None:
    with pytest.raises(jsonschema.ValidationError, match="notices"):
        jsonschema.validate({"schema": "vigil.alerts.digest/1"}, SCHEMA)


def test_email_is_multipart_text_and_html_with_the_connections_login(
    fresh_db: str, hook: WebhookReceiver, slack: WebhookReceiver, smtp: SmtpCapture
) -> None:
    cfg = AlertsConfig.model_validate(
        {"channels": {"mail": {"kind": "email", "conn_id": "smtp_alerts", "from": "vigil@x.org",
                               "to": ["a@example.org", "b@example.org"]}},
         "routes": {"critical": ["mail"]}, "rules": RULES[:1]}
    )  # fmt: skip
    fire(fresh_db, cfg, Resolver(connection=connections(smtp, slack)), {"api_up": "failed"})
    [message] = smtp.messages
    assert smtp.envelopes == [("vigil@x.org", ["a@example.org", "b@example.org"])]
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "[vigil] demo: 1 firing (run demo_daily/run001)"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    assert "[critical] down: api_up (health on api) failed 1 run in a row" in plain.get_content()
    assert "<li>[critical] down: api_up" in html.get_content()


def test_wrong_smtp_password_is_a_failure_not_retried(
    fresh_db: str, hook: WebhookReceiver, slack: WebhookReceiver, smtp: SmtpCapture
) -> None:
    def wrong(conn_id: str) -> ConnectionInfo:
        return ConnectionInfo(conn_id, "smtp", "127.0.0.1", smtp.port, smtp.login, "not-it-123",
                              extra=PLAIN_LOOPBACK)  # fmt: skip

    cfg = AlertsConfig.model_validate(
        {"channels": {"mail": {"kind": "email", "conn_id": "smtp_alerts", "to": ["a@x.org"]}},
         "routes": {"critical": ["mail"]}, "rules": RULES[:1]}
    )  # fmt: skip
    [delivery] = fire(fresh_db, cfg, Resolver(connection=wrong), {"api_up": "failed"}).deliveries
    assert (delivery.ok, delivery.attempts) == (False, 1)
    assert "SMTPAuthenticationError" in delivery.error and "not-it-123" not in delivery.error
    assert smtp.messages == []


def test_a_misconfigured_channel_is_recorded_and_the_others_still_deliver(
    fresh_db: str, hook: WebhookReceiver, slack: WebhookReceiver, smtp: SmtpCapture
) -> None:
    down = f"http://127.0.0.1:{free_port()}/services/{SLACK_TOKEN}"
    resolver = Resolver(environ={"HOOK_SECRET": SECRET, "SLACK_DOWN": down},
                        connection=connections(smtp, slack))  # fmt: skip
    slack_down = {"kind": "slack", "webhook_url": "${SLACK_DOWN}"}
    cfg = everything(hook, slack, **{"slack-down": slack_down})
    report = fire(fresh_db, cfg, resolver, {"api_up": "failed"})  # SLACK_URL is not set
    outcome = {d.channel: (d.ok, d.error) for d in report.deliveries}
    problem = "channel 'slack-env' (slack): environment variable SLACK_URL is not set"
    assert outcome["slack-env"] == (False, problem)
    assert outcome["slack-down"][0] is False and "ConnectionError" in outcome["slack-down"][1]
    assert SLACK_TOKEN not in outcome["slack-down"][1] and "***" in outcome["slack-down"][1]
    assert report.problems == [problem]
    assert all(outcome[c][0] for c in ("hook", "mail", "ops-log", "slack-conn"))
    assert len(hook.received) == 1 and len(smtp.messages) == 1


MAIL = {"channels": {"mail": {"kind": "email", "conn_id": "smtp_alerts", "to": ["a@x.org"]}},
        "routes": {"critical": ["mail"]}, "rules": RULES[:1],
        "delivery": {"attempts": 2, "backoff_s": 0.01, "max_total_s": 3}}  # fmt: skip


def test_email_uses_starttls_by_default_and_never_logs_in_without_it(
    fresh_db: str, smtp: SmtpCapture
) -> None:
    # This server offers no STARTTLS: a default connection must fail rather than send the
    # password in clear text.
    resolver = Resolver(connection=lambda conn_id: smtp.connection(conn_id, extra={}))
    report = fire(fresh_db, AlertsConfig.model_validate(MAIL), resolver, {"api_up": "failed"})
    [delivery] = report.deliveries
    assert not delivery.ok and "STARTTLS" in delivery.error
    assert smtp.logins == 0 and smtp.messages == []


def test_email_refuses_a_login_over_a_connection_with_tls_turned_off(
    fresh_db: str, smtp: SmtpCapture
) -> None:
    plain = {"disable_tls": "true"}
    resolver = Resolver(connection=lambda conn_id: smtp.connection(conn_id, extra=plain))
    report = fire(fresh_db, AlertsConfig.model_validate(MAIL), resolver, {"api_up": "failed"})
    [delivery] = report.deliveries
    assert (delivery.ok, delivery.attempts) == (False, 0)  # refused before any connection
    assert "refusing to send the SMTP password in clear text" in delivery.error
    assert "allow_insecure_auth" in delivery.error and smtp.password not in delivery.error
    assert smtp.logins == 0 and smtp.messages == []


def test_a_token_in_a_webhook_url_path_is_masked_in_errors(
    fresh_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = "path-token-9f8e7d"
    url = f"http://127.0.0.1:{free_port()}/hooks/${{HOOK_TOKEN}}"  # nothing listens there
    cfg = AlertsConfig.model_validate(
        {"channels": {"hook": {"kind": "webhook", "url": url}},
         "routes": {"critical": ["hook"]}, "rules": RULES[:1],
         "delivery": {"attempts": 1, "max_total_s": 3}}
    )  # fmt: skip
    with caplog.at_level(logging.INFO):
        report = fire(fresh_db, cfg, Resolver(environ={"HOOK_TOKEN": token}), {"api_up": "failed"})
    [delivery] = report.deliveries
    assert "ConnectionError" in delivery.error and "/hooks/***" in delivery.error
    text = caplog.text + json.dumps([n.error for n in report.notifications]) + delivery.error
    assert token not in text
