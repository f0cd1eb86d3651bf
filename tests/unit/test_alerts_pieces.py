"""The alert engine's pure parts: the state transition table, maintenance windows,
silence scopes, folding, digests, bounded retries and secret masking."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import vigil.alerts
from vigil.alerts.delivery import DeliveryResult, deliver, http_outcome
from vigil.alerts.digest import MAX_TEXT, Digest, Notice
from vigil.alerts.folding import fold
from vigil.alerts.history import History, Row, RunRecord, _blockers
from vigil.alerts.resolver import Resolver
from vigil.alerts.rules import Finding, fingerprint
from vigil.alerts.signals import SIGNALS
from vigil.alerts.silences import SilenceError, parse_scope
from vigil.alerts.state import Step, transition
from vigil.context import ConfigError
from vigil.result import Severity, Status
from vigil.results import RunRef
from vigil.spec.alerts import ConsecutiveFailures, Delivery, RunFailureRate
from vigil.spec.windows import MaintenanceWindow, matches

pytestmark = pytest.mark.unit

T = datetime(2025, 3, 3, 6, 0, tzinfo=UTC)  # Monday
RUN = RunRef("demo", "daily", "demo_daily", "r1")
SCHEMA = json.loads(
    (Path(vigil.alerts.__file__).parent / "webhook_payload.schema.json").read_text()
)


def finding(breaching: bool, recovered: bool | None = None, **rule: Any) -> Finding:
    r = RunFailureRate(id="r", kind="run_failure_rate", **rule)
    return Finding(r, {}, breaching, (not breaching) if recovered is None else recovered, "t")


# --- state ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "runs", "breaching", "recovered", "for_runs", "step"),
    [
        (None, 0, True, False, 1, Step("firing", 1, "fire")),
        (None, 0, True, False, 3, Step("pending", 1, None)),
        ("pending", 2, True, False, 3, Step("firing", 3, "fire")),
        ("pending", 1, False, True, 3, Step("resolved", 0, None)),
        ("firing", 4, True, False, 1, Step("firing", 5, None)),
        ("firing", 4, False, False, 1, Step("firing", 0, None)),  # not yet recovered
        ("firing", 4, False, True, 1, Step("resolved", 0, "resolve")),
        ("resolved", 0, True, False, 1, Step("firing", 1, "fire")),  # a new episode
        ("resolved", 0, False, True, 1, Step("resolved", 0, None)),
        (None, 0, False, True, 1, Step(None, 0, None)),
    ],
)  # fmt: skip
def test_transitions(
    state: str | None, runs: int, breaching: bool, recovered: bool, for_runs: int, step: Step
) -> None:
    assert transition(state, runs, finding(breaching, recovered, for_runs=for_runs)) == step


def test_fingerprints_are_readable_and_bounded() -> None:
    assert fingerprint("slow", {}) == "slow"
    assert fingerprint("f", {"target": "a", "kind": "health"}) == "f/kind=health,target=a"
    long = fingerprint("f", {"check_id": "x" * 300})
    assert long.startswith("f/") and len(long) == 18


# --- windows and silences ---------------------------------------------------------------


def window(**kw: Any) -> MaintenanceWindow:
    return MaintenanceWindow.model_validate({"name": "w", **kw})


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        (datetime(2025, 3, 9, 22, 30, tzinfo=UTC), True),  # Sun 23:30 Paris
        (datetime(2025, 3, 10, 0, 30, tzinfo=UTC), True),  # Mon 01:30 Paris, past midnight
        (datetime(2025, 3, 10, 1, 0, tzinfo=UTC), False),  # Mon 02:00 Paris: the end
        (datetime(2025, 3, 9, 21, 30, tzinfo=UTC), False),  # Sun 22:30 Paris: before
        (datetime(2025, 3, 8, 22, 30, tzinfo=UTC), False),  # Sat 23:30 Paris: other day
    ],
)  # fmt: skip
def test_weekly_window_across_midnight_in_its_timezone(moment: datetime, is_open: bool) -> None:
    w = window(weekdays=["sun"], start="23:00", end="02:00", timezone="Europe/Paris")
    assert w.is_open(moment) is is_open


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        (datetime(2025, 4, 1, 3, 0, tzinfo=UTC), True),
        (datetime(2025, 4, 1, 4, 59, tzinfo=UTC), True),
        (datetime(2025, 4, 1, 5, 0, tzinfo=UTC), False),
        (datetime(2025, 4, 1, 2, 59, tzinfo=UTC), False),
        (datetime(2025, 4, 2, 3, 30, tzinfo=UTC), False),
    ],
)  # fmt: skip
def test_cron_window_opens_for_its_duration(moment: datetime, is_open: bool) -> None:
    assert window(cron="0 3 1 * *", duration="2h").is_open(moment) is is_open


def test_cron_day_fields_follow_cron_rules() -> None:
    # Both day fields restricted: either matches (the 13th, or any Friday).
    w = window(cron="0 12 13 * fri", duration="1h")
    assert w.is_open(datetime(2025, 6, 13, 12, 30, tzinfo=UTC))  # Friday the 13th
    assert w.is_open(datetime(2025, 6, 6, 12, 30, tzinfo=UTC))  # a Friday
    assert w.is_open(datetime(2025, 5, 13, 12, 30, tzinfo=UTC))  # a Tuesday the 13th
    assert not w.is_open(datetime(2025, 6, 10, 12, 30, tzinfo=UTC))
    sunday = window(cron="*/30 8-9 * * 7", duration="10m")  # 7 is Sunday too
    assert sunday.is_open(datetime(2025, 6, 8, 9, 35, tzinfo=UTC))
    assert not sunday.is_open(datetime(2025, 6, 8, 9, 45, tzinfo=UTC))


def test_silence_scopes() -> None:
    match = parse_scope("target=orders* ,rule=api-streak")
    assert match == {"target": "orders*", "rule": "api-streak"}
    labels = {"target": "orders_db", "rule": "api-streak", "environment": "demo"}
    assert matches(match, labels)
    assert not matches(match, {**labels, "rule": "other"})
    assert not matches({"check_id": "x"}, labels)  # a label the alert lacks never matches
    for bad, says in (("", "empty"), ("target", "not key=glob"), ("host=db", "'host'")):
        with pytest.raises(SilenceError, match=says):
            parse_scope(bad)


# --- folding ----------------------------------------------------------------------------


def row(check_id: str, kind: str, target: str, status: str, blocked: tuple[str, ...] = ()) -> Row:
    return Row(check_id, kind, target, Status(status), Severity.CRITICAL, T, 10.0, "", blocked)


def check_finding(check_id: str, kind: str, target: str, breaching: bool = True) -> Finding:
    rule = ConsecutiveFailures(id="down", kind="consecutive_failures", count=1)
    scope = {"check_id": check_id}
    return Finding(rule, scope, breaching, not breaching, check_id, {}, target, kind)


def test_folding_puts_a_down_targets_alerts_under_its_health_alert() -> None:
    run = RunRecord(1, RUN, "failed", T, None, False)
    rows = [
        row("db_up", "health", "db", "failed"), row("db_q", "quality", "db", "error"),
        row("api_up", "health", "api", "skipped", ("db",)),
        row("api_get", "http", "api", "error"), row("web_up", "health", "web", "failed"),
    ]  # fmt: skip
    run.results = {r.check_id: r for r in rows}
    findings = [
        check_finding("db_up", "health", "db"), check_finding("db_q", "quality", "db"),
        check_finding("api_get", "http", "api"), check_finding("web_up", "health", "web"),
        check_finding("other", "http", "elsewhere"),
    ]  # fmt: skip
    folding = fold(findings, run)
    assert folding.parent_of == {
        "down/check_id=db_q": "down/check_id=db_up", "down/check_id=api_get": "down/check_id=db_up"
    }  # fmt: skip
    extra = folding.extra["down/check_id=db_up"]
    assert extra["affected_problems"] == ["db_q"] and extra["skipped_downstream"] == {"api": 1}
    assert folding.extra["down/check_id=web_up"]["folded"] == []


def test_no_health_alert_means_nothing_to_fold_under() -> None:
    run = RunRecord(1, RUN, "failed", T, None, False)
    run.results = {"db_up": row("db_up", "health", "db", "failed")}
    folding = fold([check_finding("db_q", "quality", "db")], run)
    assert folding.parent_of == {}


def test_skip_reasons_name_their_blockers() -> None:
    reason = "db is unhealthy (db_up: refused); cache has no health result in this run (x)"
    assert _blockers(None, reason) == ("db", "cache")
    assert _blockers(["db"], "whatever") == ("db",)
    assert _blockers(None, "not selected by this run's parameters") == ()


# --- signals ----------------------------------------------------------------------------


def test_task_span_is_wall_time_not_a_sum() -> None:
    def run_of(pk: int, durations: dict[str, float]) -> RunRecord:
        record = RunRecord(pk, RUN, "success", T, None, False)
        record.results = {
            c: Row(c, "health", "a", Status.PASSED, Severity.CRITICAL,
                   T + timedelta(milliseconds=i * 5), ms, "")
            for i, (c, ms) in enumerate(durations.items())
        }  # fmt: skip
        return record

    history = History([run_of(2, {"x": 100, "y": 100}), run_of(1, {"x": 40, "y": 10})])
    [series] = SIGNALS["task"].series(
        history, RunFailureRate(id="r", kind="run_failure_rate").select
    )
    assert (series.current, series.baseline) == (105.0, [40.0])


# --- digests ----------------------------------------------------------------------------


def content(fp: str, **kw: Any) -> dict[str, Any]:
    base = {"fingerprint": fp, "notice_seq": 1, "rule_id": "down",
            "rule_kind": "consecutive_failures", "severity": "critical", "state": "firing",
            "title": f"{fp} failed", "fired_title": None, "scope": {"check_id": fp},
            "target": "db", "kind": "health", "detail": {"streak": 1},
            "first_seen": T.isoformat(), "fired_at": T.isoformat(), "resolved_at": None,
            "folding": None}  # fmt: skip
    return {**base, **kw}


def digest() -> Digest:
    folding = {"root_target": "db", "folded": [{"fingerprint": "q", "title": "q <failed>"}],
               "affected_problems": ["q"], "skipped_downstream": {"api": 3}}  # fmt: skip
    notices = [
        Notice("firing", content("db_up", folding=folding)),
        Notice("resolve", content("api_up", state="resolved", title="api_up passed 2 runs",
                                  fired_title="api_up failed", resolved_at=T.isoformat())),
        Notice("reminder", content("web_up", severity="warning")),
    ]  # fmt: skip
    return Digest("demo", RUN, "hook", notices, T)


def test_digest_text_says_what_changed_and_what_it_took_down() -> None:
    d = digest()
    assert d.subject == "demo: 1 firing, 1 resolved, 1 still firing (run demo_daily/r1)"
    text = d.text()
    assert "FIRING (1)\n  [critical] down: db_up failed\n" in text
    assert "1 related alert(s) folded in; 1 other check(s) on it failed; " in text
    assert "3 check(s) skipped because of it: api (3)" in text
    assert "RESOLVED (1)\n  [critical] down: api_up failed\n      now: api_up passed 2 runs" in text
    assert "STILL FIRING (1)\n  [warning] down: web_up failed" in text
    assert "<h3>FIRING (1)</h3>" in d.html()


def test_digest_html_escapes_what_checks_reported() -> None:
    notice = Notice("firing", content("x", title="got <script>alert(1)</script>"))
    page = Digest("demo", RUN, "mail", [notice], T).html()
    assert "<script>" not in page and "got &lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_digest_payload_matches_the_schema_and_its_id_is_stable() -> None:
    payload = digest().payload()
    jsonschema.validate(payload, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert payload["id"] == digest().id and len(payload["id"]) == 24
    other = Digest("demo", RUN, "other-channel", digest().notices, T)
    assert other.id != digest().id


# --- delivery ---------------------------------------------------------------------------


class Scripted:
    """A sender that answers from a script: the retry logic is what is under test."""

    def __init__(self, *answers: DeliveryResult | Exception) -> None:
        self.answers = list(answers)
        self.timeouts: list[float | None] = []

    def validate(self, config: object) -> list[str]:
        return []

    def send(self, digest: Digest, *, timeout_s: float | None = None) -> DeliveryResult:
        self.timeouts.append(timeout_s)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


POLICY = Delivery(attempts=3, backoff_s=0.5, max_total_s=10)


def test_retries_with_backoff_until_sent() -> None:
    sleeps: list[float] = []
    sender = Scripted(DeliveryResult.failed("HTTP 503"), RuntimeError("bug"), DeliveryResult.sent())
    result = deliver(sender, digest(), POLICY, sleep=sleeps.append)
    assert (result.ok, result.attempts) == (True, 3)
    assert sleeps == [0.5, 1.0]
    assert all(t is not None and 0 < t <= 10 for t in sender.timeouts)


def test_a_refusal_is_not_retried_and_the_error_is_masked() -> None:
    sender = Scripted(DeliveryResult.failed("HTTP 403 for token abcd1234", retryable=False))
    result = deliver(sender, digest(), POLICY, sleep=lambda s: None,
                     mask=lambda t: t.replace("abcd1234", "***"))  # fmt: skip
    assert (result.ok, result.attempts, result.error) == (False, 1, "HTTP 403 for token ***")


def test_gives_up_after_the_attempts_and_within_the_budget() -> None:
    sleeps: list[float] = []
    failing = [DeliveryResult.failed("down")] * 3
    result = deliver(Scripted(*failing), digest(), POLICY, sleep=sleeps.append)
    assert (result.ok, result.attempts, sleeps) == (False, 3, [0.5, 1.0])
    tight = Delivery(attempts=5, backoff_s=20, max_total_s=1)  # the pause exceeds the budget
    assert deliver(Scripted(*failing), digest(), tight, sleep=sleeps.append).attempts == 1


@pytest.mark.parametrize(
    ("status", "ok", "retryable"),
    [(200, True, True), (204, True, True), (400, False, False), (404, False, False),
     (408, False, True), (429, False, True), (500, False, True), (503, False, True)],
)  # fmt: skip
def test_http_outcomes(status: int, ok: bool, retryable: bool) -> None:
    result = http_outcome(status, "body")
    assert (result.ok, result.retryable if not ok else True) == (ok, retryable)


def test_resolver_masks_what_it_resolved_as_secret() -> None:
    resolver = Resolver(environ={"URL": "https://hooks.example/T1/B2/tokentoken", "N": "x"})
    url = resolver.expand("${URL}", secret=True)
    resolver.remember_url(url)
    assert resolver.expand("${N}") == "x"
    assert resolver.mask(f"failed: {url}") == "failed: ***"
    assert resolver.mask("POST /T1/B2/tokentoken refused") == "POST *** refused"
    with pytest.raises(ConfigError, match="environment variable MISSING is not set"):
        resolver.expand("${MISSING}")


def test_resolver_masks_each_referenced_value_not_the_whole_text() -> None:
    # requests quotes only the path of a URL it failed to reach: the token must still hide.
    resolver = Resolver(environ={"TOKEN": "tok-secret-42"})
    url = resolver.expand("https://hooks.example.org/in/${TOKEN}?v=1", secret=True)
    assert url == "https://hooks.example.org/in/tok-secret-42?v=1"
    said = resolver.mask("Max retries exceeded with url: /in/tok-secret-42?v=1")
    assert said == "Max retries exceeded with url: /in/***?v=1"


def test_a_zero_median_baseline_still_yields_json_safe_numbers() -> None:
    from vigil.alerts.rules import duration_regression
    from vigil.spec.alerts import DurationRegression

    def run_of(pk: int, ms: float) -> RunRecord:
        record = RunRecord(pk, RUN, "success", T - timedelta(hours=pk), None, False)
        record.results = {"x": Row("x", "health", "a", Status.PASSED, Severity.CRITICAL, T, ms, "")}
        return record

    history = History([run_of(0, 7.0), run_of(1, 0.0), run_of(2, 0.0)])
    rule = DurationRegression(id="slow", kind="duration_regression", subject="check", min_runs=2)
    [found] = duration_regression(rule, history)
    assert found.breaching and found.detail["ratio"] is None
    json.dumps(found.detail, allow_nan=False)
    assert "above the median 0 ms" in found.title


# --- issue 14: headline by severity, cut values, grammar ---------------------------------


def test_the_lead_health_alert_is_the_most_severe_problem_not_the_first_by_name() -> None:
    run = RunRecord(1, RUN, "failed", T, None, False)
    # Both fail; the warning-severity check sorts first by name.
    latency = Row("api_a_latency", "health", "api", Status.FAILED, Severity.WARNING, T, 10.0, "")
    health = row("api_health", "health", "api", "failed")
    run.results = {r.check_id: r for r in (latency, health)}
    findings = [check_finding(r.check_id, "health", "api") for r in (latency, health)]
    folding = fold(findings, run)
    assert folding.parent_of == {"down/check_id=api_a_latency": "down/check_id=api_health"}


def test_a_digest_masks_then_cuts_long_values() -> None:
    secret = "s3cr3t-token"
    title = "x" * (MAX_TEXT - 5) + secret + "y" * 100  # the cut falls inside the secret
    notice = Notice("firing", content("db_up", title=title, detail={"rows": list(range(30))}))
    masked = Digest("demo", RUN, "hook", [notice], T).masked(lambda t: t.replace(secret, "***"))
    [out] = masked.notices
    assert secret[:5] not in out.content["title"].removeprefix("x" * (MAX_TEXT - 5))
    assert out.content["title"].endswith(" chars cut]")
    assert out.content["detail"]["rows"] == [*range(20), "… 10 more"]
    jsonschema.validate(masked.payload(), SCHEMA, format_checker=jsonschema.FormatChecker())


def test_streak_titles_count_runs_in_good_english() -> None:
    from vigil.alerts.rules import consecutive_failures

    def run_of(pk: int, status: Status) -> RunRecord:
        record = RunRecord(pk, RUN, "success", T - timedelta(hours=pk), None, False)
        record.results = {"x": Row("x", "health", "a", status, Severity.CRITICAL, T, 1.0, "down")}
        return record

    rule = ConsecutiveFailures(id="down", kind="consecutive_failures", count=1)
    [failed] = consecutive_failures(rule, History([run_of(0, Status.FAILED)]))
    assert failed.title == "x (health on a) failed 1 run in a row: down"
    [passed] = consecutive_failures(
        rule, History([run_of(0, Status.PASSED), run_of(1, Status.FAILED)])
    )
    assert passed.title == "x (health on a) passed 1 run in a row"
