"""Failed notices are retried by later runs, each delivered once, within bounds; a notice
given up is named in the run's report and the task log. Against a real results store and
a real webhook receiver whose secret variable is unset, then set."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from markupsafe import escape

from tests.support.receivers import StoredRuns, WebhookReceiver
from vigil.alerts import sql
from vigil.alerts.engine import EvaluationReport, evaluate
from vigil.alerts.resolver import Resolver
from vigil.conclude import conclude
from vigil.results import ResultStore
from vigil.spec.alerts import AlertsConfig
from vigil.spec.models import Spec

pytestmark = pytest.mark.integration

SECRET = "hook-secret-retries"
P, F = "passed", "failed"
STREAK = {"id": "down", "kind": "consecutive_failures", "count": 1, "resolve_after": 1}
UNSET = Resolver(environ={})  # the channel's ${HOOK_SECRET} is not set


def is_set() -> Resolver:
    return Resolver(environ={"HOOK_SECRET": SECRET})


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret=SECRET) as receiver:
        yield receiver


def alerts(hook: WebhookReceiver) -> dict[str, Any]:
    return {
        "channels": {"hook": {"kind": "webhook", "url": hook.url, "secret": "${HOOK_SECRET}"}},
        "routes": {"critical": ["hook"], "warning": ["hook"]},
        "rules": [STREAK],
        "delivery": {"attempts": 2, "backoff_s": 0.01, "max_total_s": 3},
    }


@pytest.fixture
def setup(fresh_db: str, hook: WebhookReceiver) -> tuple[ResultStore, StoredRuns, AlertsConfig]:
    store = ResultStore(fresh_db)
    checks = {"api_up": ("health", "api"), "db_up": ("health", "db")}
    return store, StoredRuns(store, checks), AlertsConfig.model_validate(alerts(hook))


def step(setup: Any, statuses: dict[str, Any], resolver: Resolver, **at: Any) -> EvaluationReport:
    store, runs, cfg = setup
    runs.add(statuses, **at)
    return evaluate(store, runs.last, cfg, now=runs.now, resolver=resolver)


def kinds(hook: WebhookReceiver) -> list[list[str]]:
    assert all(r.signature_ok for r in hook.received)
    return [[n["notice"] for n in p["notices"]] for p in hook.payloads()]


def outbox(dsn: str) -> list[tuple[str, str, int]]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT kind, status, tries FROM vigil.alert_notifications ORDER BY id")
            return list(cur.fetchall())
    finally:
        conn.close()


def test_a_firing_failed_for_an_unset_variable_is_retried_then_the_resolve_sent(
    fresh_db: str, setup: Any, hook: WebhookReceiver
) -> None:
    first = step(setup, {"api_up": F}, UNSET)
    logged = [(n.kind, n.status, n.attempts) for n in first.notifications]
    assert logged == [("firing", "failed", 0)]
    retried = step(setup, {"api_up": F}, is_set())  # the variable is set now
    assert [(d.notices, d.ok) for d in retried.deliveries] == [(1, True)]
    step(setup, {"api_up": F}, is_set())
    step(setup, {"api_up": P}, is_set())
    step(setup, {"api_up": P}, is_set())
    assert kinds(hook) == [["firing"], ["resolve"]]
    assert outbox(fresh_db) == [("firing", "sent", 2), ("resolve", "sent", 1)]
    assert "HOOK_SECRET" in first.deliveries[0].error and first.deliveries[0].kept == 1


def test_a_firing_still_owed_when_the_alert_resolves_gives_way_to_the_resolve(
    fresh_db: str, setup: Any, hook: WebhookReceiver
) -> None:
    step(setup, {"api_up": F}, UNSET)
    report = step(setup, {"api_up": P}, is_set())
    assert kinds(hook) == [["resolve"]]
    assert outbox(fresh_db) == [("firing", "superseded", 1), ("resolve", "sent", 1)]
    assert report.given_up == []  # nothing the channel still needed was lost


def test_two_evaluations_at_once_retry_a_failed_notice_once(
    fresh_db: str, setup: Any, hook: WebhookReceiver
) -> None:
    _, runs, cfg = setup
    step(setup, {"api_up": F, "db_up": F}, UNSET)
    runs.add({"api_up": F, "db_up": F})
    workers = 4
    barrier = threading.Barrier(workers, timeout=10)
    reports: list[EvaluationReport | BaseException] = []

    def one() -> None:
        barrier.wait()
        try:
            reports.append(evaluate(ResultStore(fresh_db), runs.last, cfg, now=runs.now,
                                    resolver=is_set()))  # fmt: skip
        except BaseException as exc:  # reported by the assertion below
            reports.append(exc)

    threads = [threading.Thread(target=one) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(isinstance(r, EvaluationReport) for r in reports), reports
    assert kinds(hook) == [["firing", "firing"]]
    assert outbox(fresh_db) == [("firing", "sent", 2)] * 2


def test_a_notice_is_given_up_after_its_tries_and_the_run_report_and_log_say_so(
    fresh_db: str,
    setup: Any,
    hook: WebhookReceiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, runs, _ = setup
    spec = Spec.model_validate(
        {"environment": runs.environment, "targets": {}, "alerts": alerts(hook)}
    )
    monkeypatch.delenv("HOOK_SECRET", raising=False)
    for _ in range(sql.RETRY_MAX_TRIES - 1):
        runs.add({"api_up": F})
        assert conclude(spec, store, runs.last, dry_run=False, out_dir=tmp_path).given_up == []
    runs.add({"api_up": F})
    with caplog.at_level(logging.WARNING, logger="vigil"):
        last = conclude(spec, store, runs.last, dry_run=False, out_dir=tmp_path)
    [given_up] = last.given_up
    assert given_up.startswith(
        f"hook: firing of down/check_id=api_up given up after {sql.RETRY_MAX_TRIES} tries: "
    )
    assert "HOOK_SECRET" in given_up and last.failed_deliveries == []  # nothing kept
    assert sum(given_up in r.getMessage() for r in caplog.records) == 1
    assert str(escape(given_up)) in last.reports["run"].read_text()
    assert outbox(fresh_db)[-1] == ("firing", "given_up", sql.RETRY_MAX_TRIES)
    # The variable is set: nothing is owed any more, and no notice is due before the repeat
    # interval (24 h) has passed since the one given up; then its first notice, a firing.
    # (conclude evaluates on the wall clock: so do these.)
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    runs.add({"api_up": F})
    assert conclude(spec, store, runs.last, dry_run=False, out_dir=tmp_path).given_up == []
    assert hook.received == []
    for status, hours in ((F, 25), (P, 26)):
        runs.add({"api_up": status})
        later = datetime.now(UTC) + timedelta(hours=hours)
        evaluate(store, runs.last, spec.alerts, now=later, resolver=is_set())
    assert kinds(hook) == [["firing"], ["resolve"]]


def test_a_notice_owed_too_long_is_given_up_and_the_alert_told_afresh(
    fresh_db: str, setup: Any, hook: WebhookReceiver
) -> None:
    _, runs, _ = setup
    step(setup, {"api_up": F}, UNSET)
    late = runs.t0 + timedelta(seconds=sql.RETRY_WITHIN_S, hours=1)
    report = step(setup, {"api_up": F}, is_set(), at=late)
    [given_up] = report.given_up
    assert given_up.describe().startswith(
        "hook: firing of down/check_id=api_up given up after 1 try, not delivered within 7d: "
    )
    assert kinds(hook) == [["firing"]]  # a new firing, its first notice to the channel
    assert outbox(fresh_db) == [("firing", "given_up", 1), ("firing", "sent", 1)]
