"""The weekly trend report's "Performance probes" section over probe figures stored in a
real results store: a latency and a throughput chart per probe and profile, the latest
figures in a table, and an empty state when no probe measured in the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from vigil.reports import render_trend_report
from vigil.reports.probe_trends import EMPTY
from vigil.result import CheckResult, Status
from vigil.results import ResultStore, RunRef, db, probe_figures

pytestmark = pytest.mark.integration

NOW = datetime(2025, 3, 31, 12, 0, tzinfo=UTC)  # the window: 25 to 31 March
TREND_CHARTS = 4  # the report's own charts: outcomes, rates, run durations, slowest checks


class Page(HTMLParser):
    """The cells of the probes table's rows, the <h3> texts, and every <title> (the
    charts' names and tooltips)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.headings: list[str] = []
        self.titles: list[str] = []
        self._in_probes = False
        self._sink: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._in_probes = dict(attrs).get("class") == "probes"
        elif tag == "tr" and self._in_probes:
            self.rows.append([])
        if tag in ("td", "h3", "title") and (tag != "td" or self._in_probes):
            self._sink = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_probes = False
        if self._sink is None or tag not in ("td", "h3", "title"):
            return
        text = " ".join("".join(self._sink).split())
        sink = self.rows[-1] if tag == "td" else self.headings if tag == "h3" else self.titles
        sink.append(text)
        self._sink = None

    def handle_data(self, data: str) -> None:
        if self._sink is not None:
            self._sink.append(data)


def page(html: str) -> Page:
    parsed = Page()
    parsed.feed(html)
    return parsed


def measure(
    store: ResultStore,
    at: str,
    probe: str,
    figures: dict[str, float],
    *,
    profile: str = "default",
    passed: bool = True,
    environment: str = "shop",
) -> None:
    """A run started `at` (2025-MM-DDTHH:MM) in which `probe` measured `figures`."""
    started = datetime.fromisoformat(f"2025-{at}:00+00:00")
    run = RunRef(environment, "daily", f"{environment}_daily", f"run_{started:%m%dT%H%M}_{probe}")
    store.start_run(run, started_at=started)
    status = Status.PASSED if passed else Status.FAILED
    result = CheckResult(check_id=f"{probe}.p95", family="probes", target="api", status=status,
                         started_at=started, duration_ms=20_000.0, parent=probe)  # fmt: skip
    store.record(run, [result])
    probe_figures.record(store, run, check_id=probe, target="api", check_kind="http_load",
                         profile=profile, passed=passed, figures=figures,
                         histogram=None)  # fmt: skip
    store.finish_run(run, ended_at=started + timedelta(minutes=1))
    # The store stamps a measurement with the time it is recorded: set it to when it ran.
    kwargs = store.connect_kwargs("date the figures")
    with db.transaction(kwargs, "date the figures") as cur:
        cur.execute(
            "UPDATE vigil.probe_figures SET recorded_at = %s WHERE check_id = %s AND run = "
            "(SELECT id FROM vigil.runs WHERE dag_id = %s AND run_id = %s)",
            (started + timedelta(seconds=30), probe, run.dag_id, run.run_id),
        )


def load(
    p50: float, p95: float, p99: float, rps: float, error_rate: float = 0.0
) -> dict[str, float]:
    return {"p50": p50, "p90": p95 * 0.9, "p95": p95, "p99": p99, "p99.9": p99 * 2,
            "max": p99 * 3, "mean": p50 * 1.1, "rps": rps, "error_rate": error_rate,
            "requests": rps * 30, "errors": rps * 30 * error_rate, "duration_s": 30.0}  # fmt: skip


@pytest.fixture
def store(fresh_db: str) -> ResultStore:
    store = ResultStore(fresh_db)
    measure(store, "03-20T06:00", "orders-api-load", load(9, 9999, 9999, 1))  # before the window
    measure(store, "03-25T06:00", "orders-api-load", load(80, 240, 400, 410.4))
    measure(store, "03-27T06:00", "orders-api-load", load(85, 250, 420, 398))
    measure(store, "03-29T06:00", "orders-api-load", load(120, 600, 900, 1500), profile="heavy")
    measure(store, "03-30T06:00", "orders-api-load", load(90, 812, 1250, 95.5, 0.02),
            passed=False)  # fmt: skip
    # A connection probe: latencies, no throughput.
    connections = {"p50": 2.5, "p95": 4.0, "p99": 7.5, "error_rate": 0.0, "opened": 50.0}
    measure(store, "03-30T07:00", "db-connections", connections)
    measure(store, "04-02T06:00", "orders-api-load", load(9, 9999, 9999, 1))  # after it
    measure(store, "03-30T06:00", "orders-api-load", load(9, 7777, 9999, 1), environment="staging")
    return store


def test_the_section_charts_each_probe_and_tables_its_latest_figures(store: ResultStore) -> None:
    html = render_trend_report(store, "shop", days=7, now=NOW)
    parsed = page(html)
    assert '<h2 id="probes">Performance probes</h2>' in html and EMPTY not in html
    # probe, profile, target, measured, passed, latest, p50, p95, p99, throughput, error rate
    latest = [[c for i, c in enumerate(row) if i != 5] for row in parsed.rows if row]
    assert latest == [
        ["db-connections", "default", "api", "1", "1", "2.5 ms", "4.0 ms", "7.5 ms", "—", "0.0%"],
        ["orders-api-load", "default", "api", "3", "2", "90 ms", "812 ms", "1.2 s", "95.5/s",
         "2.0%"],
        ["orders-api-load", "heavy", "api", "1", "1", "120 ms", "600 ms", "900 ms", "1,500/s",
         "0.0%"],
    ]  # fmt: skip
    assert [row[5] for row in parsed.rows if row] == [
        "2025-03-30 07:00:30 UTC passed",
        "2025-03-30 06:00:30 UTC failed",
        "2025-03-29 06:00:30 UTC passed",
    ]
    assert parsed.headings == [
        "db-connections (default profile, on api)",
        "orders-api-load (default profile, on api)",
        "orders-api-load (heavy profile, on api)",
    ]
    # An <svg> per chart: latency for each probe and profile, throughput where measured.
    assert html.count("<svg") == TREND_CHARTS + 3 + 2
    assert {
        "orders-api-load (default): latency, measurement by measurement",
        "orders-api-load (default): throughput (successful requests per second)",
        "orders-api-load (heavy): latency, measurement by measurement",
        "orders-api-load (heavy): throughput (successful requests per second)",
        "db-connections (default): latency, measurement by measurement",
    } <= set(parsed.titles)
    assert "db-connections (default): throughput (successful requests per second)" not in html
    # Tooltips carry each measurement's numbers, in the order they were measured.
    tips = [t for t in parsed.titles if " — " in t]
    assert [t for t in tips if t.endswith(" ms") and "p95" in t][:3] == [
        "30 Mar 07:00 — p95: 4.0 ms",
        "25 Mar 06:00 — p95: 240 ms",
        "27 Mar 06:00 — p95: 250 ms",
    ]
    assert "30 Mar 06:00 — p95: 812 ms" in tips and "30 Mar 06:00 — p99: 1.2 s" in tips
    assert "25 Mar 06:00 — rps: 410/s" in tips and "29 Mar 06:00 — rps: 1,500/s" in tips
    # Nothing from outside the window or from another environment.
    assert "10.0 s" not in html and "7.8 s" not in html


def test_the_section_follows_the_report_time_zone(store: ResultStore) -> None:
    parsed = page(render_trend_report(store, "shop", days=7, now=NOW, tz="Asia/Tokyo"))
    assert "30 Mar 15:00 — p95: 812 ms" in parsed.titles


def test_without_probe_figures_the_section_says_so(store: ResultStore) -> None:
    for html in (
        render_trend_report(store, "shop", days=3, now=NOW + timedelta(days=30)),
        render_trend_report(store, "elsewhere", days=7, now=NOW),
    ):
        assert '<h2 id="probes">Performance probes</h2>' in html
        assert f'<p class="empty">{EMPTY}</p>' in html
        # (no slowest-checks chart either: no check ran)
        assert 'class="probes"' not in html and html.count("<svg") == TREND_CHARTS - 1
