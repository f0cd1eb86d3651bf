"""The trend and review reports over a history longer than the raw results kept: after
retention prunes the old runs, the days before the first raw day come from the daily
rollups, with the same counts as before pruning, and the reports say so."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import psycopg2
import pytest

from vigil.reports import render_review_report, render_trend_report
from vigil.reports.data import Counts, DayStats
from vigil.reports.review import review_data
from vigil.reports.trend import trend_data
from vigil.result import CheckResult, Severity, Status
from vigil.results import ResultStore, RunRef
from vigil.results.retention import apply_retention
from vigil.results.retention_policy import RetentionPolicy

pytestmark = pytest.mark.integration

P, F, E, S = Status.PASSED, Status.FAILED, Status.ERROR, Status.SKIPPED
NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
RAW_DAYS = 62  # the minimum the policy allows
POLICY = RetentionPolicy(raw_days=RAW_DAYS, rollup_days=730)
FIRST_RAW = TODAY - timedelta(days=RAW_DAYS)
SEEDED_DAYS = 100
CHECKS = (("health", "api-up"), ("health", "db-up"), ("quality", "orders-fresh"))


def day_of(offset: int) -> date:
    return TODAY - timedelta(days=offset)


def plan(offset: int, nth: int) -> dict[str, Status]:
    """Outcomes varying by day and run; some days leave a check out."""
    out = {
        "api-up": F if (offset + nth) % 3 == 0 else P,
        "db-up": E if offset % 7 == 0 else P,
        "orders-fresh": S if offset % 4 == 0 else (F if offset % 5 == 0 else P),
    }
    if offset % 6 == 0:
        del out["db-up"]
    return out


def record_run(
    store: ResultStore, env: str, started: datetime, outcomes: dict[str, Status]
) -> None:
    run = RunRef(env, "daily", f"{env}_daily", f"run__{started.isoformat()}")
    families = dict((check_id, family) for family, check_id in CHECKS)
    store.record(run, [
        CheckResult(check_id=check_id, family=families[check_id], target=check_id.split("-")[0],
                    status=status, severity=Severity.CRITICAL, started_at=started,
                    duration_ms=5.0, message=f"{check_id} {status.value}")
        for check_id, status in outcomes.items()
    ])  # fmt: skip


def seed(
    store: ResultStore, hours: tuple[int, ...] = (6,), offsets: range = range(SEEDED_DAYS)
) -> None:
    """About 100 days of runs: one a day, two every third day, none every eleventh; a run
    at each of `hours` (UTC); another environment now and then, which must not leak in."""
    for offset in offsets:
        if offset % 11 == 5:
            continue
        for nth in range(2 if offset % 3 == 0 else 1):
            for hour in hours:
                started = datetime.combine(day_of(offset), time(hour, nth), UTC)
                record_run(store, "shop", started, plan(offset, nth))
        if offset % 10 == 0:
            started = datetime.combine(day_of(offset), time(7), UTC)
            record_run(store, "bank", started, {"api-up": F})
    # A run with no result yet: counted by neither the raw days nor the rollups.
    store.start_run(
        RunRef("shop", "daily", "shop_daily", "empty"), started_at=NOW - timedelta(days=80)
    )


def figures(days: list[DayStats]) -> list[tuple[date, int, Counts]]:
    return [(d.day, d.runs, d.counts) for d in days]


def count(dsn: str, sql: str) -> int:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql)
        row = cur.fetchone()
    conn.close()
    assert row is not None
    return int(row[0])


def per_day_rows(html: str) -> dict[str, str]:
    """The trend's per-day table: the day, and its row's cells as one string."""
    table = html.split('<table class="per-day">', 1)[1].split("</table>", 1)[0]
    return {
        day: " ".join(re.sub(r"<[^>]+>", " ", cells).split())
        for day, cells in re.findall(r'<tr data-day="([0-9-]+)">(.*?)</tr>', table, re.S)
    }


def copy_of(pg: Any, template: str) -> str:
    """A new database copied from `template` (seeding once per module, not per test)."""
    name = "t_" + uuid.uuid4().hex[:12]
    conn = psycopg2.connect(pg.dsn())
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        conn.close()
    return str(pg.dsn(name))


def seeded_template(pg: Any, name: str, fill: Callable[[ResultStore], None]) -> str:
    pg.create_database(name)
    fill(ResultStore(pg.dsn(name)))
    return name


@pytest.fixture(scope="module")
def history(pg: Any) -> str:
    return seeded_template(pg, "rollups_history_" + uuid.uuid4().hex[:8], seed)


@pytest.fixture
def fresh_copy(pg: Any, history: str) -> str:
    return copy_of(pg, history)


@pytest.fixture
def store(fresh_copy: str) -> ResultStore:
    return ResultStore(fresh_copy)


def test_a_long_trend_keeps_its_days_after_pruning(store: ResultStore, fresh_copy: str) -> None:
    before = trend_data(store, "shop", days=SEEDED_DAYS, now=NOW)
    html_before = render_trend_report(store, "shop", days=SEEDED_DAYS, now=NOW)
    assert before.rollups_before is None and "daily rollups" not in html_before

    outcome = apply_retention(store, POLICY, now=NOW)
    assert outcome.days_pruned > 0
    assert (
        count(fresh_copy, f"SELECT count(*) FROM vigil.runs WHERE started_at < '{FIRST_RAW}'") == 0
    )

    after = trend_data(store, "shop", days=SEEDED_DAYS, now=NOW)
    assert figures(after.days) == figures(before.days)
    assert [d.day for d in after.days if d.from_rollups] == [
        d for d in before.window.days if d < FIRST_RAW
    ]
    pruned = [d for d in after.days if d.from_rollups]
    assert len(pruned) == SEEDED_DAYS - RAW_DAYS - 1
    assert sum(d.runs for d in pruned) > len(pruned)  # days of two runs among them
    assert all(d.counts.ran for d in pruned if d.runs)
    assert after.totals == before.totals
    # Every run but the one without results, which no rollup holds (nor any day's count).
    assert after.run_count == before.run_count - 1
    assert after.rollups_before == FIRST_RAW

    html = render_trend_report(store, "shop", days=SEEDED_DAYS, now=NOW)
    assert per_day_rows(html) == per_day_rows(html_before)
    assert f"Days before {FIRST_RAW} from daily rollups:" in html
    assert "(UTC days)" not in html
    # The pass-rate chart: the same points (their tooltips) as before pruning.
    assert len(rates_chart(html)) > SEEDED_DAYS
    assert rates_chart(html) == rates_chart(html_before)


def rates_chart(html: str) -> list[str]:
    """The tooltips of the first chart after the per-day heading (pass and failure rate)."""
    section = html.split('id="per-day"', 1)[1].split("</svg>", 1)[0]
    return re.findall(r"<title>([^<]*)</title>", section)


def test_a_window_within_the_raw_days_reads_no_rollup(store: ResultStore) -> None:
    apply_retention(store, POLICY, now=NOW)
    data = trend_data(store, "shop", days=RAW_DAYS + 1, now=NOW)
    assert data.rollups_before is None
    assert not any(d.from_rollups for d in data.days)
    assert "daily rollups" not in render_trend_report(store, "shop", days=RAW_DAYS, now=NOW)


def test_the_review_rates_and_chart_survive_pruning(store: ResultStore) -> None:
    days = 45  # the window before it reaches back 90 days, beyond the raw days
    before = review_data(store, "shop", days=days, now=NOW)
    html_before = render_review_report(store, "shop", days=days, now=NOW)
    apply_retention(store, POLICY, now=NOW)
    after = review_data(store, "shop", days=days, now=NOW)
    assert after.rates == before.rates
    assert after.rates[0].previous.ran > 0
    assert {r.label for r in after.rates} == {"all checks", "health", "quality"}
    assert after.records == before.records  # the current window is all raw
    assert after.rollups_before == FIRST_RAW
    html = render_review_report(store, "shop", days=days, now=NOW)
    assert f"Days before {FIRST_RAW} from daily rollups:" in html
    assert "flaky, always-failing" not in html  # the per-check sections lost nothing
    chart = re.compile(r'<h2 id="pass-rate">.*?(<svg.*?</svg>)', re.S)
    assert chart.findall(html) == chart.findall(html_before)


def test_the_review_says_its_per_check_sections_start_at_the_raw_days(
    store: ResultStore,
) -> None:
    apply_retention(store, POLICY, now=NOW)
    html = render_review_report(store, "shop", days=80, now=NOW)
    assert f"sections cover {FIRST_RAW} onwards only" in html


@pytest.mark.parametrize("tz", ["Asia/Tokyo", "America/New_York"])
def test_in_another_time_zone_every_run_counts_once(fresh_db: str, tz: str) -> None:
    store = ResultStore(fresh_db)
    # Runs near both ends of the UTC day: in Tokyo a 23:00 UTC run is the next day, in
    # New York a 02:00 UTC run the day before; on the days around the first raw day.
    seed(store, hours=(2, 23), offsets=range(RAW_DAYS - 6, RAW_DAYS + 6))
    days = SEEDED_DAYS + 2
    before = trend_data(store, "shop", days=days, now=NOW, tz=tz)
    apply_retention(store, POLICY, now=NOW)
    after = trend_data(store, "shop", days=days, now=NOW, tz=tz)
    assert after.totals == before.totals
    assert sum(d.runs for d in after.days) == sum(d.runs for d in before.days) > 0
    assert any(d.from_rollups for d in after.days)
    # Days well inside the raw results are as before.
    recent = [d for d in before.days if d.day > FIRST_RAW + timedelta(days=1)]
    assert figures(after.days[-len(recent) :]) == figures(recent)
    html = render_trend_report(store, "shop", days=days, now=NOW, tz=tz)
    assert f"Days before {FIRST_RAW} from daily rollups (UTC days):" in html
