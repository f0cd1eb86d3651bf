"""The weekly trend and monthly review reports over a store filled run by run, day by day:
the numbers in their HTML are checked against ones computed by hand."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from vigil.reports import (
    ReportError,
    render_review_report,
    render_trend_report,
    write_review_report,
    write_trend_report,
)
from vigil.result import CheckResult, Status
from vigil.results import ResultStore, RunRef
from vigil.spec.models import Spec

pytestmark = pytest.mark.integration

P, F, E, S = Status.PASSED, Status.FAILED, Status.ERROR, Status.SKIPPED
NOW = datetime(2025, 3, 31, 12, 0, tzinfo=UTC)
TARGETS = {"a": "api", "b": "db", "c": "queue"}


class Tables(HTMLParser):
    """Rows of every <table>, by its class: (the row's attributes, its <td> texts); and
    the text of every <title> (the charts' tooltips)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[tuple[dict[str, str], list[str]]]] = {}
        self.svg_titles: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._title: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "table":
            self._table = values.get("class", "")
            self.tables.setdefault(self._table, [])
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append((values, []))
        elif tag == "td" and self._table is not None:
            self._cell = []
        elif tag == "title":
            self._title = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "td" and self._cell is not None and self._table is not None:
            self.tables[self._table][-1][1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "title" and self._title is not None:
            self.svg_titles.append("".join(self._title))
            self._title = None

    def handle_data(self, data: str) -> None:
        for sink in (self._cell, self._title):
            if sink is not None:
                sink.append(data)


def parse(html: str) -> Tables:
    tables = Tables()
    tables.feed(html)
    return tables


def body_rows(tables: Tables, name: str) -> list[tuple[dict[str, str], list[str]]]:
    return [(attrs, cells) for attrs, cells in tables.tables[name] if cells]


def record_run(
    store: ResultStore, env: str, started: datetime, plan: Mapping[str, tuple[Status, float]],
    *, seconds: float | None, kinds: dict[str, str] | None = None,
    targets: dict[str, str] | None = None, parents: dict[str, str] | None = None,
) -> None:  # fmt: skip
    """One run of `env` started at `started`: check id -> (status, duration ms); finished
    after `seconds`, or left running when None."""
    run = RunRef(env, "daily", f"{env}_daily", f"run_{started:%Y%m%dT%H%M}")
    store.start_run(run, started_at=started)
    store.record(run, [
        CheckResult(check_id=cid, family=(kinds or {}).get(cid, "health"),
                    target=(targets or TARGETS)[cid], status=status, started_at=started,
                    duration_ms=ms, message=f"{cid} {status} at {started:%d %b}",
                    parent=(parents or {}).get(cid))
        for cid, (status, ms) in plan.items()
    ])  # fmt: skip
    if seconds is not None:
        store.finish_run(run, ended_at=started + timedelta(seconds=seconds))


def at(day: str, hour: int = 6) -> datetime:
    return datetime.fromisoformat(f"2025-{day}T{hour:02d}:00:00+00:00")


# --- weekly trend -------------------------------------------------------------------

# (start, seconds to finish or None, {check: (status, ms)}); 03-28 has no run.
TREND_RUNS = [
    (at("03-24"), 60, {"a": (F, 900), "b": (F, 900), "c": (F, 900)}),  # before the window
    (at("03-25"), 60, {"a": (P, 100), "b": (P, 10), "c": (P, 5)}),
    (at("03-26"), 90, {"a": (F, 300), "b": (P, 20), "c": (S, 0)}),
    (at("03-27"), 120, {"a": (P, 200), "b": (E, 1000), "c": (S, 0)}),
    (at("03-29"), 60, {"a": (P, 100), "b": (P, 30), "c": (P, 5)}),
    (at("03-30"), 30, {"a": (P, 100), "b": (P, 10), "c": (F, 7)}),
    (at("03-30", 18), 90, {"a": (F, 500), "b": (P, 10), "c": (P, 5)}),
    (at("03-31"), None, {"a": (P, 100), "b": (P, 40), "c": (P, 6)}),  # still running
    (at("04-01"), 60, {"a": (F, 900), "b": (F, 900), "c": (F, 900)}),  # after the window
]


@pytest.fixture
def trend_store(fresh_db: str) -> ResultStore:
    store = ResultStore(fresh_db)
    for started, seconds, plan in TREND_RUNS:
        record_run(store, "shop", started, plan, seconds=seconds)
    # Another environment, inside the window: must not leak into shop's numbers.
    record_run(store, "staging", at("03-30"), {"a": (F, 9999)}, seconds=5)
    return store


def test_trend_counts_and_rates_per_day(trend_store: ResultStore) -> None:
    tables = parse(render_trend_report(trend_store, "shop", days=7, now=NOW))
    rows = {attrs["data-day"]: cells[1:] for attrs, cells in body_rows(tables, "per-day")}
    # runs, checks, passed, failed, error, skipped, pass rate, failure rate, median run
    assert rows == {
        "2025-03-25": ["1", "3", "3", "0", "0", "0", "100.0%", "0.0%", "60.0 s"],
        "2025-03-26": ["1", "3", "1", "1", "0", "1", "50.0%", "50.0%", "90.0 s"],
        "2025-03-27": ["1", "3", "1", "0", "1", "1", "50.0%", "50.0%", "120.0 s"],
        "2025-03-28": ["0", "0", "0", "0", "0", "0", "—", "—", "—"],
        "2025-03-29": ["1", "3", "3", "0", "0", "0", "100.0%", "0.0%", "60.0 s"],
        "2025-03-30": ["2", "6", "4", "2", "0", "0", "66.7%", "33.3%", "60.0 s"],
        "2025-03-31": ["1", "3", "3", "0", "0", "0", "100.0%", "0.0%", "—"],
    }


def test_trend_slowest_checks_and_run_durations(trend_store: ResultStore) -> None:
    html = render_trend_report(trend_store, "shop", days=7, now=NOW)
    tables = parse(html)
    # check, kind, target, runs, median, max (skipped results do not count)
    assert [cells for _, cells in body_rows(tables, "slowest")] == [
        ["a", "health", "api", "7", "100 ms", "500 ms"],
        ["b", "health", "db", "7", "20 ms", "1.0 s"],
        ["c", "health", "queue", "5", "5.0 ms", "7.0 ms"],
    ]
    runs = [cells for _, cells in body_rows(tables, "runs")]
    assert len(runs) == 7 and runs[0][3] == "running" and runs[0][6] == "running"
    # Charts: inline SVG whose tooltips carry the same numbers.
    assert "Wed 26 Mar — failed: 1" in tables.svg_titles
    assert "Sun 30 Mar — pass rate: 67%" in tables.svg_titles
    assert "a: 100 ms" in tables.svg_titles
    assert "30 Mar 18:00 — run duration: 90.0 s" in tables.svg_titles
    assert html.count("<svg") == 4 and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )


def test_trend_of_an_empty_window_still_renders(trend_store: ResultStore) -> None:
    html = render_trend_report(trend_store, "shop", days=3, now=NOW + timedelta(days=30))
    tables = parse(html)
    assert all(cells[1] == "0" for _, cells in body_rows(tables, "per-day"))
    assert html.count("no data in this window") == 3  # no slowest chart: nothing ran
    assert "No check ran in this window." in html


def test_trend_days_follow_the_time_zone(trend_store: ResultStore) -> None:
    # In Tokyo (UTC+9) the 18:00 UTC run of 30 March starts on 31 March.
    tables = parse(render_trend_report(trend_store, "shop", days=2, now=NOW, tz="Asia/Tokyo"))
    rows = {attrs["data-day"]: cells[1] for attrs, cells in body_rows(tables, "per-day")}
    assert rows == {"2025-03-30": "1", "2025-03-31": "2"}


def test_write_trend_report_and_bad_windows(trend_store: ResultStore, tmp_path: Path) -> None:
    path = write_trend_report(trend_store, "shop", out_dir=tmp_path, now=NOW)
    assert path == tmp_path / "shop" / "trend" / "2025-03-31.html"
    assert "2025-03-25 to 2025-03-31" in path.read_text(encoding="utf-8")
    with pytest.raises(ReportError, match="days must be a whole number from 1 to 366, got 0"):
        render_trend_report(trend_store, "shop", days=0)
    with pytest.raises(ReportError, match="now must be timezone-aware"):
        render_trend_report(trend_store, "shop", now=datetime(2025, 3, 31))
    with pytest.raises(ReportError, match="unknown time zone 'Mars/Olympus'"):
        render_trend_report(trend_store, "shop", tz="Mars/Olympus")


# --- monthly review -----------------------------------------------------------------

SPEC = Spec.model_validate({
    "environment": "shop",
    "targets": {
        "api": {"kind": "http", "base_url": "http://127.0.0.1:18081"},
        "db": {"kind": "postgres", "conn_id": "shop_db"},
        "db-port": {"kind": "tcp", "address": "127.0.0.1:5432"},
        "queue": {"kind": "tcp", "address": "127.0.0.1:5672"},
        "cache": {"kind": "tcp", "address": "127.0.0.1:6379"},
    },
    "checks": {"health": [
        {"id": "api-health", "kind": "http", "target": "api", "path": "/health"},
        {"id": "api-orders", "kind": "http", "target": "api", "path": "/v1/orders?limit=5"},
        {"id": "api-orders-post", "kind": "http", "target": "api", "path": "/v1/orders",
         "method": "POST", "expect_status": [201]},
        {"id": "api-admin", "kind": "http", "target": "api", "path": "/admin"},
        {"id": "db-up", "kind": "postgres", "target": "db"},
        {"id": "db-port-open", "kind": "tcp", "target": "db-port"},
        {"id": "queue-port", "kind": "tcp", "target": "queue"},
    ]},
})  # fmt: skip
REVIEW_TARGETS = {
    "api-health": "api", "api-orders": "api", "api-orders-post": "api", "api-admin": "api",
    "db-up": "db", "queue-port": "queue", "legacy-check": "legacy",
}  # fmt: skip
# Statuses per run, oldest first, for the six runs of the window (5, 10, ... 30 March).
REVIEW_PLAN = {
    "api-health": (P, F, P, F, P, P),  # 4 flips over 5 pairs: 0.8
    "api-orders": (P, P, P, P, P, P),
    "api-orders-post": (P, P, P, F, E, E),  # broke once and stayed broken: not flaky
    "db-up": (E, F, E, F, E, F),  # failing throughout; failed <-> error is no flip
    "queue-port": (S, S, S, S, S, S),
    "legacy-check": (P, S, P, F, P, P),  # skips left out: P P F P P, 2 flips over 4: 0.5
}


@pytest.fixture
def review_store(fresh_db: str) -> ResultStore:
    store = ResultStore(fresh_db)
    kinds = {"legacy-check": "quality"}
    # Before both windows: must count nowhere (api-admin still "never ran").
    record_run(store, "shop", at("01-15"), {"api-admin": (P, 1)}, seconds=1,
               targets=REVIEW_TARGETS)  # fmt: skip
    for day in ("02-10", "02-20"):  # the previous window: everything passed
        plan = {c: (P, 1.0) for c in ("api-health", "api-orders", "api-orders-post", "db-up")}
        record_run(store, "shop", at(day), plan, seconds=1, targets=REVIEW_TARGETS)
    for index, day in enumerate(("03-05", "03-10", "03-15", "03-20", "03-25", "03-30")):
        plan = {cid: (statuses[index], 1.0) for cid, statuses in REVIEW_PLAN.items()}
        record_run(store, "shop", at(day), plan, seconds=1, kinds=kinds, targets=REVIEW_TARGETS)
    return store


def test_review_flaky_and_always_failing(review_store: ResultStore) -> None:
    tables = parse(render_review_report(review_store, "shop", spec=SPEC, now=NOW))
    flaky = [cells for _, cells in body_rows(tables, "flaky")]
    # check, kind, target, runs, problems, flips, flip rate, outcomes
    assert flaky == [
        ["api-health", "health", "api", "6", "2", "4", "80.0%", "✔✘✔✘✔✔"],
        ["legacy-check", "quality", "legacy", "5", "1", "2", "50.0%", "✔✔✘✔✔"],
    ]
    failing = [cells for _, cells in body_rows(tables, "always-failing")]
    assert failing == [["db-up", "health", "db", "6", "db-up failed at 30 Mar"]]


def test_review_never_ran_and_only_skipped(review_store: ResultStore) -> None:
    tables = parse(render_review_report(review_store, "shop", spec=SPEC, now=NOW))
    assert [attrs["data-check-id"] for attrs, _ in body_rows(tables, "never-ran")] == [
        "api-admin", "db-port-open",
    ]  # fmt: skip
    assert [attrs["data-check-id"] for attrs, _ in body_rows(tables, "only-skipped")] == [
        "queue-port"
    ]


def test_review_pass_rate_against_the_previous_window(review_store: ResultStore) -> None:
    tables = parse(render_review_report(review_store, "shop", spec=SPEC, now=NOW))
    rates = {attrs["data-family"]: cells[1:] for attrs, cells in body_rows(tables, "rates")}
    # ran before, pass rate before, ran now, pass rate now, change
    assert rates == {
        "all checks": ["8", "100.0%", "29", "58.6%", "-41.4 pts"],  # 17 of 29 passed
        "health": ["8", "100.0%", "24", "54.2%", "-45.8 pts"],  # 13 of 24
        "quality": ["0", "—", "5", "80.0%", "—"],  # 4 of 5
    }


def test_review_coverage_of_targets_and_endpoints(review_store: ResultStore) -> None:
    html = render_review_report(review_store, "shop", spec=SPEC, now=NOW)
    tables = parse(html)
    targets = {
        attrs["data-target"]: [attrs["data-status"], *cells[3:]]
        for attrs, cells in body_rows(tables, "coverage")
    }
    assert targets == {
        "api": ["checked", "4", "3", "api-admin"],
        "cache": ["no checks declared", "0", "0", ""],
        "db": ["checked", "1", "1", ""],
        "db-port": ["declared, not checked", "1", "0", "db-port-open"],
        "queue": ["declared, not checked", "1", "0", "queue-port"],
    }
    assert "4 of 5 declared targets have at least one check; 2 of 5 were checked" in " ".join(
        html.split()
    )
    endpoints = [
        (attrs["data-endpoint"], attrs["data-checked"])
        for attrs, _ in body_rows(tables, "endpoints")
    ]
    assert endpoints == [
        ("GET /admin", "no"), ("GET /health", "yes"), ("GET /v1/orders", "yes"),
        ("POST /v1/orders", "yes"),
    ]  # fmt: skip
    assert "name targets the spec no longer declares: legacy." in " ".join(
        html.replace("<code>", "").replace("</code>", "").split()
    )


def test_review_without_a_spec_says_what_it_cannot_show(
    review_store: ResultStore, tmp_path: Path
) -> None:
    path = write_review_report(review_store, "shop", out_dir=tmp_path, now=NOW)
    assert path == tmp_path / "shop" / "review" / "2025-03-31.html"
    html = path.read_text(encoding="utf-8")
    assert "No spec was given: declared checks cannot be compared" in html
    assert "No spec was given: coverage needs the declared targets." in html
    assert [c[0] for _, c in body_rows(parse(html), "flaky")] == ["api-health", "legacy-check"]


def test_suite_and_drift_results_count_for_their_spec_check(fresh_db: str) -> None:
    """A suite reports its expectations, drift its objects, each with its spec check as
    `parent`: the spec check ran. Ids alone decide nothing (`orders-data-archive.x` is not
    a part of `orders-data`)."""
    spec = Spec.model_validate({
        "environment": "dq",
        "targets": {"db": {"kind": "postgres", "conn_id": "db"}},
        "checks": {"quality": [
            {"id": "orders-data", "kind": "suite", "target": "db", "suite": "dq/orders.json",
             "table": "orders"},
            {"id": "db-schema", "kind": "schema_drift", "target": "db", "snapshot": "dq/s.yaml"},
            {"id": "items-data", "kind": "suite", "target": "db", "suite": "dq/items.json",
             "table": "items"},
        ]},
    })  # fmt: skip
    store = ResultStore(fresh_db)
    plan = {"orders-data.columns": (P, 1.0), "orders-data.row_count": (F, 1.0),
            "db-schema.public.orders.column.note": (F, 1.0)}  # fmt: skip
    parents = {"orders-data.columns": "orders-data", "orders-data.row_count": "orders-data",
               "db-schema.public.orders.column.note": "db-schema"}  # fmt: skip
    plan["items-data.row_count"] = (P, 1.0)  # an id that looks like a part, with no parent
    record_run(store, "dq", at("03-20"), plan, seconds=1, kinds=dict.fromkeys(plan, "quality"),
               targets=dict.fromkeys(plan, "db"), parents=parents)  # fmt: skip
    tables = parse(render_review_report(store, "dq", spec=spec, now=NOW))
    never = [attrs["data-check-id"] for attrs, _ in body_rows(tables, "never-ran")]
    assert never == ["items-data"]
