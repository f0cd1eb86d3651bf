"""Delivery guarantees, by the database and against real receivers: nothing sent twice on
retry or overlap, a channel that is down is recorded and never raises, silences hold but a
resolve still goes out, dry runs send nothing, a target that is down is one alert."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, time, timedelta
from typing import Any, get_args

import psycopg2
import pytest

from tests.support.receivers import StoredRuns, WebhookReceiver
from vigil.alerts.engine import EvaluationReport, evaluate
from vigil.alerts.resolver import Resolver
from vigil.alerts.silences import add_silence, list_silences, remove_silence
from vigil.results import ResultStore
from vigil.spec.alerts import AlertsConfig
from vigil.spec.windows import MaintenanceWindow, Weekday

pytestmark = pytest.mark.integration

SECRET = "hook-secret-456"
P, F = "passed", "failed"
STREAK = {"id": "down", "kind": "consecutive_failures", "count": 1, "resolve_after": 1}


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret=SECRET) as receiver:
        yield receiver


def make_config(hook: WebhookReceiver, *rules: dict[str, Any], **extra: Any) -> AlertsConfig:
    return AlertsConfig.model_validate(
        {
            "channels": {"hook": {"kind": "webhook", "url": hook.url, "secret": "${HOOK_SECRET}"}},
            "routes": {"critical": ["hook"], "warning": ["hook"]},
            "rules": list(rules or [STREAK]),
            "delivery": {"attempts": 3, "backoff_s": 0.01, "max_total_s": 5},
            **extra,
        }
    )


def resolver() -> Resolver:
    return Resolver(environ={"HOOK_SECRET": SECRET})


def run_eval(
    store: ResultStore, runs: StoredRuns, cfg: AlertsConfig, **kwargs: Any
) -> EvaluationReport:
    kwargs.setdefault("now", runs.now)
    return evaluate(store, runs.last, cfg, resolver=resolver(), **kwargs)


def kinds(hook: WebhookReceiver) -> list[list[str]]:
    assert all(r.signature_ok for r in hook.received)
    return [[n["notice"] for n in p["notices"]] for p in hook.payloads()]


def outbox_rows(dsn: str) -> list[tuple[str, str, str]]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT channel, kind, status FROM vigil.alert_notifications ORDER BY id")
            return list(cur.fetchall())
    finally:
        conn.close()


@pytest.fixture
def setup(fresh_db: str, hook: WebhookReceiver) -> tuple[ResultStore, StoredRuns, AlertsConfig]:
    store = ResultStore(fresh_db)
    checks = {"api_up": ("health", "api"), "db_up": ("health", "db")}
    return store, StoredRuns(store, checks), make_config(hook)


def test_a_retried_evaluation_sends_nothing_twice(setup: Any, hook: WebhookReceiver) -> None:
    store, runs, cfg = setup
    runs.add({"api_up": F})
    first = run_eval(store, runs, cfg)
    again = run_eval(store, runs, cfg, now=runs.now + timedelta(days=3))  # even much later
    assert kinds(hook) == [["firing"]]
    assert first.changed("fired") == ["down/check_id=api_up"]
    assert [a.change for a in again.alerts] == ["already evaluated"]
    assert again.deliveries == [] and len(again.notifications) == 1


def test_two_evaluations_at_once_send_one_message(
    fresh_db: str, setup: Any, hook: WebhookReceiver
) -> None:
    _, runs, cfg = setup
    runs.add({"api_up": F, "db_up": F})
    workers = 4
    barrier = threading.Barrier(workers, timeout=10)
    reports: list[EvaluationReport | BaseException] = []

    def one() -> None:
        barrier.wait()
        try:
            reports.append(evaluate(ResultStore(fresh_db), runs.last, cfg, now=runs.now,
                                    resolver=resolver()))  # fmt: skip
        except BaseException as exc:  # reported by the assertion below
            reports.append(exc)

    threads = [threading.Thread(target=one) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(isinstance(r, EvaluationReport) for r in reports), reports
    assert kinds(hook) == [["firing", "firing"]]
    assert outbox_rows(fresh_db) == [("hook", "firing", "sent")] * 2
    fired = [r for r in reports if isinstance(r, EvaluationReport) and r.changed("fired")]
    assert len(fired) == 1


def test_a_channel_that_is_down_is_recorded_and_retried_next_run(
    fresh_db: str, setup: Any, hook: WebhookReceiver
) -> None:
    store, runs, cfg = setup
    hook.go_down()
    runs.add({"api_up": F})
    report = run_eval(store, runs, cfg)  # returns normally
    [delivery] = report.deliveries
    assert (delivery.ok, delivery.attempts) == (False, 3)
    assert "ConnectionError" in delivery.error
    assert [(n.status, n.attempts) for n in report.notifications] == [("failed", 3)]
    hook.come_up()
    runs.add({"api_up": F})
    run_eval(store, runs, cfg)  # nobody heard it fire: its failed firing is sent now
    runs.add({"api_up": F})
    run_eval(store, runs, cfg)  # heard an hour ago: nothing
    assert kinds(hook) == [["firing"]]
    assert outbox_rows(fresh_db) == [("hook", "firing", "sent")]


def test_server_errors_are_retried_client_errors_are_not(setup: Any, hook: WebhookReceiver) -> None:
    store, runs, cfg = setup
    hook.answer(500)
    runs.add({"api_up": F})
    [failed] = run_eval(store, runs, cfg).deliveries
    assert (failed.ok, failed.attempts, failed.error) == (False, 3, "HTTP 500: receiver says no")
    hook.answer(400)
    runs.add({"api_up": F, "db_up": F})
    [refused] = run_eval(store, runs, cfg).deliveries
    assert (refused.ok, refused.attempts) == (False, 1)
    assert len(hook.attempts) == 4 and hook.received == []


def test_a_silence_holds_notices_and_the_resolve_still_goes_out(
    fresh_db: str, setup: Any, hook: WebhookReceiver
) -> None:
    store, runs, cfg = setup
    runs.add({"api_up": P, "db_up": F})
    run_eval(store, runs, cfg)  # db_up fires: heard
    silence = add_silence(store, "target=db", timedelta(hours=6), "migrating db", "alice",
                          now=runs.now)  # fmt: skip
    runs.add({"api_up": P, "db_up": P})
    run_eval(store, runs, cfg)  # db_up resolves under the silence: still told
    runs.add({"api_up": P, "db_up": F})
    report = run_eval(store, runs, cfg)  # db_up fires again: silenced, recorded
    assert [(n.kind, n.status) for n in report.notifications] == [("firing", "silenced")]
    assert "migrating db" in report.notifications[0].error
    assert kinds(hook) == [["firing"], ["resolve"]]
    assert [s.id for s in list_silences(store, now=runs.now)] == [silence.id]
    remove_silence(store, silence.id, removed_by="alice", now=runs.now)
    assert list_silences(store, now=runs.now) == []
    runs.add({"api_up": P, "db_up": F})
    run_eval(store, runs, cfg)  # silence gone, db_up still firing, nobody told: its firing
    assert kinds(hook) == [["firing"], ["resolve"], ["firing"]]


def test_a_maintenance_window_holds_notices_while_open(
    fresh_db: str, hook: WebhookReceiver
) -> None:
    store = ResultStore(fresh_db)
    # T0 is Monday 06:00 UTC = 07:00 in Paris; the window is Mondays 06:30-08:00 Paris time.
    window = {"name": "monday-patch", "match": {"target": "api"}, "timezone": "Europe/Paris",
              "weekdays": ["mon"], "start": "06:30", "end": "08:00"}  # fmt: skip
    cfg = make_config(hook, silences=[window])
    runs = StoredRuns(store, {})
    runs.add({"api_up": F})
    report = run_eval(store, runs, cfg)
    assert [n.status for n in report.notifications] == ["silenced"]
    assert "monday-patch" in report.notifications[0].error
    runs.add({"api_up": F}, at=runs.t0 + timedelta(hours=2))  # 09:00 Paris: window closed
    run_eval(store, runs, cfg)  # the first notice anyone gets of it: a firing
    assert kinds(hook) == [["firing"]]


def test_dry_run_records_and_sends_nothing(
    fresh_db: str, setup: Any, hook: WebhookReceiver
) -> None:
    store, runs, cfg = setup
    runs.add({"api_up": F})
    report = run_eval(store, runs, cfg, dry_run=True)
    assert report.dry_run and report.deliveries == []
    assert [(n.status, n.error) for n in report.notifications] == [("dry_run", "not sent: dry run")]
    runs.add({"api_up": F, "db_up": F}, dry_run=True)  # a run stored as a dry run
    assert run_eval(store, runs, cfg).dry_run
    assert hook.attempts == []


def test_a_failing_health_check_folds_its_targets_alerts_into_one(
    fresh_db: str, hook: WebhookReceiver
) -> None:
    store = ResultStore(fresh_db)
    checks = {
        "db_up": ("health", "db"), "db_schema": ("quality", "db"), "db_rows": ("quality", "db"),
        "orders_up": ("health", "orders"), "orders_list": ("http", "orders"),
        "web_up": ("health", "web"),
    }  # fmt: skip
    cfg = make_config(hook, STREAK, {"id": "any-fail", "kind": "window_failure_rate",
                                     "window": {"last_runs": 3}, "threshold": 0.0,
                                     "min_results": 1, "group_by": ["target"]})  # fmt: skip
    runs = StoredRuns(store, checks)
    skipped = ("skipped", "db")
    runs.add({"db_up": F, "db_schema": "error", "db_rows": "error",
              "orders_up": skipped, "orders_list": skipped, "web_up": P})  # fmt: skip
    report = run_eval(store, runs, cfg)
    [message] = hook.payloads()
    assert [n["fingerprint"] for n in message["notices"]] == ["down/check_id=db_up"]
    folding = message["notices"][0]["folding"]
    assert sorted(f["fingerprint"] for f in folding["folded"]) == [
        "any-fail/target=db", "down/check_id=db_rows", "down/check_id=db_schema"
    ]  # fmt: skip
    assert folding["affected_problems"] == ["db_rows", "db_schema"]
    assert folding["skipped_downstream"] == {"orders": 2}
    folded = {a.fingerprint: a.folded_under for a in report.alerts if a.after == "firing"}
    assert set(folded.values()) == {None, "down/check_id=db_up"}
    # db comes back, its quality problems stay: now they speak for themselves, and as
    # nobody heard of them before, their first notice is a firing, not a reminder.
    runs.add({"db_up": P, "db_schema": "error", "db_rows": P, "orders_up": P,
              "orders_list": P, "web_up": P})  # fmt: skip
    run_eval(store, runs, cfg)
    second = [(n["notice"], n["fingerprint"]) for n in hook.payloads()[1]["notices"]]
    assert sorted(second) == [
        ("firing", "any-fail/target=db"), ("firing", "down/check_id=db_schema"),
        ("resolve", "down/check_id=db_up"),
    ]  # fmt: skip


def sql(dsn: str, statement: str, params: tuple[Any, ...] = ()) -> None:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement, params)
    finally:
        conn.close()


def test_a_claim_left_by_a_dead_sender_is_taken_over_only_after_its_lease(
    fresh_db: str, setup: Any, hook: WebhookReceiver
) -> None:
    store, runs, cfg = setup
    runs.add({"api_up": F})
    run_eval(store, runs, cfg)
    # A sender claimed the row and is still sending (claimed just now): hands off.
    sql(fresh_db, "UPDATE vigil.alert_notifications SET status = 'sending', claimed_at = now()")
    run_eval(store, runs, cfg)
    assert len(hook.received) == 1
    # Its claim is ten minutes old: it died mid-send; the retried evaluation sends it.
    sql(fresh_db, "UPDATE vigil.alert_notifications SET claimed_at = now() - interval '10 min'")
    report = run_eval(store, runs, cfg)
    assert kinds(hook) == [["firing"], ["firing"]]
    assert [n.status for n in report.notifications] == ["sent"]


DUPLICATE_NOTICE = """
INSERT INTO vigil.alert_notifications
    (alert, notice_seq, episode, channel, kind, status, content, evaluated_at)
SELECT alert, notice_seq, episode, channel, kind, 'pending', content, evaluated_at
FROM vigil.alert_notifications
"""


def test_the_database_refuses_a_second_row_for_one_notice(fresh_db: str, setup: Any) -> None:
    store, runs, cfg = setup
    runs.add({"api_up": F})
    run_eval(store, runs, cfg)
    with pytest.raises(psycopg2.errors.UniqueViolation, match="alert_notifications_once_key"):
        sql(fresh_db, DUPLICATE_NOTICE)


def test_a_late_retry_of_an_older_run_does_not_undo_a_newer_one(
    setup: Any, hook: WebhookReceiver
) -> None:
    store, runs, cfg = setup
    first = runs.add({"api_up": F})
    run_eval(store, runs, cfg)
    runs.add({"api_up": P})
    run_eval(store, runs, cfg)
    late = evaluate(store, first, cfg, now=runs.now + timedelta(hours=2), resolver=resolver())
    assert [a.change for a in late.alerts] == ["already evaluated"]
    assert kinds(hook) == [["firing"], ["resolve"]]


def test_silences_are_made_listed_and_removed_with_clear_errors(fresh_db: str) -> None:
    from vigil.alerts.silences import SilenceError

    store = ResultStore(fresh_db)
    now = StoredRuns(store, {}).t0
    a = add_silence(store, "target=db", "2h", "backup", "bob", now=now)
    b = add_silence(fresh_db, "rule=flaky", now + timedelta(days=1), "known flake", "carol",
                    now=now)  # fmt: skip
    assert (a.until - a.starts_at, a.scope, b.scope) == (
        timedelta(hours=2),
        "target=db",
        "rule=flaky",
    )
    assert [s.id for s in list_silences(store, now=now + timedelta(hours=3))] == [b.id]
    removed = remove_silence(store, b.id, removed_by="carol", now=now)
    assert removed.removed_by == "carol" and list_silences(store, now=now) == [a]
    assert len(list_silences(store, include_inactive=True)) == 2
    refused: list[tuple[Callable[[], object], str]] = [
        (lambda: remove_silence(store, b.id), "no silence #"),
        (lambda: add_silence(store, "target=db", "2h", " ", "bob", now=now), "needs a reason"),
        (lambda: add_silence(store, "target=db", now - timedelta(hours=1), "r", "bob", now=now),
         "not in the future"),
        (lambda: add_silence(store, "target=db", "2025-03-04T00:00:00", "r", "bob", now=now),
         "needs a timezone"),
        (lambda: add_silence(store, "target=db", "tomorrow", "r", "bob", now=now),
         "cannot read duration 'tomorrow'"),
        (lambda: add_silence(store, "color=red", "2h", "r", "bob", now=now), "cannot match on"),
    ]  # fmt: skip
    for call, says in refused:
        with pytest.raises(SilenceError, match=says):
            call()


def test_a_resolve_that_failed_is_delivered_by_a_later_run_once(
    fresh_db: str, setup: Any, hook: WebhookReceiver
) -> None:
    store, runs, cfg = setup
    runs.add({"api_up": F})
    run_eval(store, runs, cfg)
    hook.go_down()
    runs.add({"api_up": P})
    report = run_eval(store, runs, cfg)
    assert [(n.kind, n.status) for n in report.notifications] == [("resolve", "failed")]
    hook.come_up()
    runs.add({"api_up": P})
    later = run_eval(store, runs, cfg)  # nothing new to say, but a resolve still owed
    assert [(d.channel, d.notices, d.ok) for d in later.deliveries] == [("hook", 1, True)]
    runs.add({"api_up": P})
    run_eval(store, runs, cfg)
    assert kinds(hook) == [["firing"], ["resolve"]]
    assert outbox_rows(fresh_db) == [("hook", "firing", "sent"), ("hook", "resolve", "sent")]


def test_a_claim_a_dead_sender_left_is_taken_over_by_a_later_run(
    fresh_db: str, setup: Any, hook: WebhookReceiver
) -> None:
    store, runs, cfg = setup
    hook.go_down()
    runs.add({"api_up": F})
    run_eval(store, runs, cfg)
    # As if the sender had died holding the row ten minutes ago, before any answer.
    sql(fresh_db, "UPDATE vigil.alert_notifications SET status = 'sending', "
                  "claimed_at = now() - interval '10 min'")  # fmt: skip
    hook.come_up()
    runs.add({"api_up": F})
    run_eval(store, runs, cfg)  # its firing is taken over; no reminder on top of it
    runs.add({"api_up": F})
    run_eval(store, runs, cfg)
    assert kinds(hook) == [["firing"]]
    assert outbox_rows(fresh_db) == [("hook", "firing", "sent")]


def test_a_dry_run_leaves_alert_state_as_it_found_it(
    fresh_db: str, setup: Any, hook: WebhookReceiver
) -> None:
    store, runs, cfg = setup
    runs.add({"api_up": F})
    run_eval(store, runs, cfg)
    runs.add({"api_up": P}, dry_run=True)
    dry = run_eval(store, runs, cfg)
    assert dry.changed("resolved") == ["down/check_id=api_up"]  # what it would do, reported
    assert [(n.kind, n.status) for n in dry.notifications] == [("resolve", "dry_run")]
    runs.add({"api_up": P})
    real = run_eval(store, runs, cfg)
    assert real.changed("resolved") == ["down/check_id=api_up"]
    assert kinds(hook) == [["firing"], ["resolve"]]
    assert outbox_rows(fresh_db) == [("hook", "firing", "sent"), ("hook", "resolve", "sent")]


def test_alerts_of_a_removed_rule_resolve_and_say_so_once(
    fresh_db: str, hook: WebhookReceiver
) -> None:
    store = ResultStore(fresh_db)
    runs = StoredRuns(store, {"api_up": ("health", "api"), "db_up": ("health", "db")})
    slow = {"id": "slow-down", "kind": "consecutive_failures", "count": 1, "for_runs": 3,
            "channels": ["hook"]}  # fmt: skip
    before = make_config(hook, STREAK, slow)
    runs.add({"api_up": F, "db_up": P})
    run_eval(store, runs, before)  # down fires; slow-down is pending (1 of 3 runs)
    after = make_config(hook, {**STREAK, "id": "renamed"})
    runs.add({"api_up": F, "db_up": P})
    report = run_eval(store, runs, after)
    changes = {a.fingerprint: a.change for a in report.alerts}
    assert changes["down/check_id=api_up"] == "resolved"
    assert changes["slow-down/check_id=api_up"] == "cleared"
    runs.add({"api_up": F, "db_up": P})
    again = run_eval(store, runs, after)
    assert "down/check_id=api_up" not in {a.fingerprint for a in again.alerts}
    notices = [(n["notice"], n["fingerprint"]) for p in hook.payloads() for n in p["notices"]]
    assert notices == [
        ("firing", "down/check_id=api_up"),
        ("firing", "renamed/check_id=api_up"), ("resolve", "down/check_id=api_up"),
    ]  # fmt: skip
    resolve = hook.payloads()[1]["notices"][1]
    assert "rule was removed" in resolve["title"] and resolve["state"] == "resolved"


def test_a_window_that_cannot_be_read_is_a_problem_not_a_crash(
    setup: Any, hook: WebhookReceiver
) -> None:
    store, runs, cfg = setup
    # Bypasses validation, which now refuses it: a time with a zone, as 1320 used to become.
    bad = MaintenanceWindow.model_construct(
        name="nightly", match={}, timezone="UTC", weekdays=list(get_args(Weekday)),
        start=time(0, 22, tzinfo=UTC), end=time(0, 23, 30, tzinfo=UTC), cron=None,
        duration=None, reason="",
    )  # fmt: skip
    runs.add({"api_up": F})
    report = run_eval(store, runs, cfg.model_copy(update={"silences": [bad]}))
    assert any("maintenance window 'nightly' ignored" in p for p in report.problems)
    assert kinds(hook) == [["firing"]]
