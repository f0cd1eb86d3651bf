"""One run with a secret planted on every path a secret takes, and none of them anywhere
it could be read afterwards.

The secrets: a `${VAR}` header value a service echoes back in its error page, a
connection password a PostgreSQL front echoes in its driver error, a header value ending
in a newline (requests quotes it repr-escaped when it refuses it), a token given as the
user part of a URL from an environment variable, and an alert webhook's credential header
its receiver echoes in an error body. The run goes as Airflow runs it (vigil.pipeline per
target, the summary, then vigil.conclude: alert rules, notifications, reports) against a
real results store; then the store's rows, the captured log, the run report and every
notification a receiver got are searched for each secret in raw, stripped, repr-escaped,
JSON-escaped and URL-encoded form.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import psycopg2
import pytest

from tests.support.http_server import LocalHttpServer
from tests.support.pg_echo import EchoingPostgres
from tests.support.receivers import WebhookReceiver
from vigil.conclude import Conclusion, conclude
from vigil.context import RunContext
from vigil.pipeline import Selection, run_target
from vigil.result import Status
from vigil.result_table import format_table
from vigil.results.store import ResultStore, RunRef
from vigil.spec.models import Spec

pytestmark = pytest.mark.integration

API_TOKEN = "api-tok-7Hq2/x+z=="  # sent as "Bearer ${API_TOKEN}", echoed by the service
PG_PASSWORD = "pg-pw-Zq81x%/&"  # a connection's password, echoed by the PostgreSQL front
NL_KEY = "nl-key-4Rt9\n"  # read from a file with its newline: requests refuses it
USER_TOKEN = "usr-tok-83Jd"  # https://${token}@host, from one environment variable
HOOK_TOKEN = "hook-tok-55Lm/=="  # a webhook channel's credential, echoed by its receiver
SECRETS = (API_TOKEN, PG_PASSWORD, NL_KEY, USER_TOKEN, HOOK_TOKEN)
RUN = RunRef("masked", "daily", "masked_daily", "manual__masking")
log = logging.getLogger("vigil")


def spellings(secret: str) -> set[str]:
    """Every way a secret could be read back."""
    forms = {
        secret,
        secret.strip(),
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
    }
    return {form for form in forms if form}


def leaks(text: str) -> list[str]:
    return [repr(form) for secret in SECRETS for form in spellings(secret) if form in text]


def echo_body(secret: str) -> str:
    return (
        f"401 from upstream: token {secret} rejected (as {quote(secret, safe='')}; "
        f"{json.dumps({'token': secret})})"
    )


@pytest.fixture
def service() -> Iterator[LocalHttpServer]:
    with LocalHttpServer() as srv:
        srv.route("/api/echo", status=500, body=echo_body(API_TOKEN))
        srv.route("/user/health", status=503, body="down for maintenance")
        srv.route("/hook-echo", status=500, body=echo_body(HOOK_TOKEN))
        yield srv


@pytest.fixture
def front() -> Iterator[EchoingPostgres]:
    with EchoingPostgres() as pg_front:
        yield pg_front


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def the_spec(service: LocalHttpServer, hook: WebhookReceiver) -> Spec:
    health: list[dict[str, Any]] = [
        {"id": "api-echo", "kind": "http", "target": "api", "path": "/api/echo",
         "headers": {"Authorization": "Bearer ${API_TOKEN}"}},
        {"id": "api-newline", "kind": "http", "target": "api", "path": "/api/echo",
         "headers": {"X-Api-Key": "${NL_KEY}"}},
        {"id": "user-url", "kind": "http", "target": "userapi", "path": "/user/health"},
        {"id": "db-echo", "kind": "postgres", "target": "echodb"},
    ]  # fmt: skip
    for check in health:
        check["timeout_s"] = 3
    channels = {
        "hook": {"kind": "webhook", "url": hook.url},
        "echo-hook": {"kind": "webhook", "url": service.url("/hook-echo"),
                      # A credential by convention, not by a fixed list of names.
                      "headers": {"X-Auth-Key": "${HOOK_TOKEN}"}},
        "ops-log": {"kind": "log"},
    }  # fmt: skip
    return Spec.model_validate(
        {
            "environment": RUN.environment,
            "targets": {
                "api": {"kind": "http", "base_url": service.base_url},
                "userapi": {"kind": "http", "base_url": "${API_URL}"},
                "echodb": {"kind": "postgres", "conn_id": "echo_db"},
            },
            "checks": {"health": health},
            "alerts": {
                "channels": channels,
                "routes": {"critical": list(channels), "warning": list(channels)},
                "rules": [
                    {"id": "down", "kind": "consecutive_failures", "count": 1, "resolve_after": 1}
                ],
                "delivery": {"attempts": 2, "backoff_s": 0.01, "max_total_s": 10},
            },
        }
    )


def run_like_airflow(spec: Spec, environ: dict[str, str], store: ResultStore, out: Path) -> Any:
    """The tasks of one DAG run: each target's checks, the summary, then the conclusion."""
    ctx = RunContext(spec, environ=environ, run_id=RUN.run_id, dag_id=RUN.dag_id, cadence="daily")
    selection = Selection(frozenset({"health"}))
    store.start_run(RUN, params={}, dry_run=False)
    for target in spec.targets:
        outcome = run_target(ctx, "health", target, store, RUN, selection)
        log.info("health checks of %s:\n%s", target, format_table(outcome.results))
    results = store.run_results(RUN)
    store.finish_run(RUN)
    log.info("run %s:\n%s", RUN.run_id, format_table(results))
    conclusion = conclude(spec, store, RUN, dry_run=False, out_dir=out)
    log.info(conclusion.alerts_summary)
    for failure in conclusion.failed_deliveries:
        log.warning("notification not delivered: %s", failure)
    return results, conclusion


def store_rows(dsn: str) -> str:
    """Every row of every table of the results store, as JSON text."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'vigil' AND table_type = 'BASE TABLE'"
            )
            tables = [name for (name,) in cur.fetchall()]
            rows = []
            for table in tables:
                cur.execute(f'SELECT row_to_json(t)::text FROM vigil."{table}" t')
                rows += [row for (row,) in cur.fetchall()]
            return "\n".join(rows)
    finally:
        conn.close()


def test_no_secret_reaches_the_store_a_log_a_report_or_a_notification(
    fresh_db: str,
    service: LocalHttpServer,
    front: EchoingPostgres,
    hook: WebhookReceiver,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HOOK_TOKEN", HOOK_TOKEN)  # alert channels read the process env
    pg_uri = f"postgresql://app:{quote(PG_PASSWORD, safe='')}@127.0.0.1:{front.port}/shop"
    environ = {
        "API_TOKEN": API_TOKEN,
        "NL_KEY": NL_KEY,
        "API_URL": f"http://{USER_TOKEN}@127.0.0.1:{service.port}",
        "AIRFLOW_CONN_ECHO_DB": pg_uri,
    }
    results, conclusion = run_like_airflow(
        the_spec(service, hook), environ, ResultStore(fresh_db), tmp_path
    )

    # Every secret took its path: sent where it belongs, and echoed back.
    sent = [r.headers.get("Authorization", "") for r in service.requests]
    assert f"Bearer {API_TOKEN}" in sent
    assert HOOK_TOKEN in [r.headers.get("X-Auth-Key", "") for r in service.requests]
    assert front.passwords == [PG_PASSWORD]
    by_id = {r.check_id: r for r in results}
    assert by_id["api-echo"].status is Status.FAILED
    assert "***" in by_id["api-echo"].details["response"]["body_excerpt"]
    assert by_id["api-newline"].status is Status.ERROR
    assert "header value: '***" in by_id["api-newline"].message
    assert by_id["user-url"].message.startswith("GET http://***@127.0.0.1:")
    assert by_id["db-echo"].status is Status.ERROR
    assert "password authentication failed: got *** ('***', sent as ***)" in (
        by_id["db-echo"].message
    )
    assert [f for f in conclusion.failed_deliveries if f.startswith("echo-hook: HTTP 500")]
    assert "***" in " ".join(conclusion.failed_deliveries)

    # ... and is nowhere to be read.
    places = gather(fresh_db, caplog, conclusion, hook, service)
    for place, text in places.items():
        assert text, f"nothing to search in {place}"
        assert leaks(text) == [], f"secret in {place}"


def gather(
    dsn: str,
    caplog: pytest.LogCaptureFixture,
    conclusion: Conclusion,
    hook: WebhookReceiver,
    service: LocalHttpServer,
) -> dict[str, str]:
    report = conclusion.reports["run"].read_text()
    payloads = [r.body.decode() for r in hook.received]
    echoed = [r.body.decode() for r in service.requests if r.path == "/hook-echo"]
    assert payloads and echoed, "no notification went out"
    assert "api-echo" in report and "db-echo" in report
    assert "ops-log" not in caplog.text or "FIRING" in caplog.text
    return {
        "results store": store_rows(dsn),
        "log": caplog.text + "\n".join(r.getMessage() for r in caplog.records),
        "run report": report,
        "webhook payloads": "\n".join(payloads),
        "echoing webhook payloads": "\n".join(echoed),
        "conclusion": json.dumps(
            [conclusion.alerts_summary, conclusion.alerts, conclusion.failed_deliveries]
        ),
    }
