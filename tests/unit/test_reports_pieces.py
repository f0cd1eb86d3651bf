"""The reports' pieces without a database: SVG charts, links, windows, flip rates,
coverage of a spec, alerts, file names and escaping."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from vigil.reports import links, render, svg
from vigil.reports.coverage import coverage, endpoint_path
from vigil.reports.data import Counts, ReportError, window
from vigil.reports.review import CheckRecord, rate_changes, render_review_report
from vigil.reports.run_report import Group, parse_alerts, skip_reason, tally
from vigil.result import CheckResult, Status
from vigil.results import ResultStore
from vigil.spec.models import Spec

pytestmark = pytest.mark.unit

P, F, E, S = Status.PASSED, Status.FAILED, Status.ERROR, Status.SKIPPED
EVIL = "<script>alert(1)</script>"


# --- svg ----------------------------------------------------------------------------


def test_charts_escape_every_label_and_name() -> None:
    charts = [
        svg.bar_chart([EVIL], [svg.Series(EVIL, [3], svg.RED)], title=EVIL),
        svg.line_chart([EVIL, "b"], [svg.Series(EVIL, [1, 2], svg.BLUE)], title=EVIL),
        svg.hbar_chart([EVIL], [5.0], title=EVIL),
    ]
    for chart in charts:
        assert "<script" not in chart and "&lt;script&gt;" in chart
        assert chart.startswith("<svg") and chart.endswith("</svg>")


def test_axis_tops_and_ticks_are_round() -> None:
    assert [svg.nice_max(v) for v in (0, 0.7, 3, 6, 10, 12, 26, 120_000)] == [
        1, 1, 5, 10, 10, 20, 50, 200_000,
    ]  # fmt: skip
    # Counts get whole-number ticks: 0-10 in steps of 2, never 2.5.
    assert svg.divisions(10) == 5 and svg.divisions(20) == 4 and svg.divisions(1) == 1
    chart = svg.bar_chart(["d"], [svg.Series("n", [6], svg.GREEN)], title="t")
    ticks = re.findall(r'text-anchor="end">([^<]+)<', chart)
    assert ticks == ["0", "2", "4", "6", "8", "10"]


def test_stacked_bars_are_proportional() -> None:
    chart = svg.bar_chart(
        ["mon"], [svg.Series("p", [3], svg.GREEN), svg.Series("f", [1], svg.RED)], title="t"
    )
    bars = re.findall(r'height="([\d.]+)" fill="#[0-9a-f]+"><title>', chart)  # not the legend
    heights = [float(h) for h in bars]
    plot_h = svg.HEIGHT - svg.TOP - svg.BOTTOM
    assert heights == [pytest.approx(plot_h * 3 / 5, abs=0.1), pytest.approx(plot_h / 5, abs=0.1)]


def test_a_day_without_data_breaks_the_line_unless_told_otherwise() -> None:
    series = [svg.Series("rate", [50, 60, None, 70, 80], svg.BLUE)]
    broken = svg.line_chart(list("abcde"), series, title="t", y_max=100)
    joined = svg.line_chart(list("abcde"), series, title="t", y_max=100, connect_gaps=True)
    assert broken.count("<polyline") == 2 and joined.count("<polyline") == 1
    assert broken.count("<circle") == 4


def test_empty_charts_say_so() -> None:
    assert "no data in this window" in svg.bar_chart([], [], title="t")
    assert "no data in this window" in svg.line_chart(["a"], [svg.Series("s", [None], "#000")],
                                                      title="t")  # fmt: skip
    assert "no data in this window" in svg.hbar_chart([], [], title="t")


# --- links, names, filters ----------------------------------------------------------


def test_airflow_task_urls_encode_run_ids() -> None:
    base = links.airflow_base("https://airflow.example.com/ ")
    assert base == "https://airflow.example.com"
    url = links.task_url(base, "shop_daily", "manual__2025-01-01T00:00:00+00:00", "health.api")
    assert url == (
        "https://airflow.example.com/dags/shop_daily/runs/"
        "manual__2025-01-01T00%3A00%3A00%2B00%3A00/tasks/health.api"
    )
    assert links.airflow_base(None) is None and links.airflow_base("") is None
    for bad in ("javascript:alert(1)", "ftp://x", "127.0.0.1:8080"):
        with pytest.raises(ReportError, match="airflow_base_url must be an http"):
            links.airflow_base(bad)


def test_data_docs_locations() -> None:
    assert links.data_docs_url("http://docs/index.html") == "http://docs/index.html"
    assert links.data_docs_url("/srv/docs/index.html") == "file:///srv/docs/index.html"
    with pytest.raises(ReportError, match="data_docs must be an http"):
        links.data_docs_url("javascript:alert(1)")


def test_file_names_cannot_leave_their_folder() -> None:
    assert render.safe_name("scheduled__2025-01-01T06:00:00+00:00", "run_id") == (
        "scheduled__2025-01-01T06:00:00+00:00"
    )
    assert render.safe_name("../../etc/passwd", "run_id") == ".._.._etc_passwd"
    with pytest.raises(ReportError, match=r"run_id '\.\.' cannot be used as a file"):
        render.safe_name("..", "run_id")


def test_templates_autoescape_and_filters() -> None:
    env = render.environment()
    assert env.from_string("{{ x }}").render(x=EVIL) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert render.fmt_pct(None) == "—" and render.fmt_pct(2 / 3) == "66.7%"
    assert render.fmt_ms(None) == "—" and render.fmt_ms(1500) == "1.5 s"
    assert render.fmt_ms(4.25) == "4.2 ms" and render.fmt_ms(42) == "42 ms"


# --- windows and rates --------------------------------------------------------------


def test_windows_are_whole_days_ending_today() -> None:
    win = window(7, datetime(2025, 3, 31, 23, 30, tzinfo=UTC))
    assert (win.first, win.last, len(win.days)) == (date(2025, 3, 25), date(2025, 3, 31), 7)
    assert win.start == datetime(2025, 3, 25, tzinfo=UTC)
    assert win.end == datetime(2025, 4, 1, tzinfo=UTC)
    before = win.before()
    assert (before.first, before.last) == (date(2025, 3, 18), date(2025, 3, 24))
    # 23:30 UTC is already 1 April in Paris.
    assert window(1, datetime(2025, 3, 31, 23, 30, tzinfo=UTC), "Europe/Paris").last == date(
        2025, 4, 1
    )
    with pytest.raises(ReportError, match="days must be a whole number"):
        window(True, None)


@pytest.mark.parametrize(
    ("statuses", "flips", "rate", "flaky", "always_failing"),
    [
        ((P, F, P, F), 3, 1.0, True, False),
        ((P, S, F, S, P, P), 2, 2 / 3, True, False),  # skips are left out
        ((F, E, F, E), 0, 0.0, False, True),  # failed <-> error is the same problem
        ((P, P, P, F, F, F), 1, 0.2, False, False),  # broke once: not flaky
        ((P, F), 1, 1.0, False, False),  # too few runs to call
        ((E,), 0, 0.0, False, False),
        ((S, S), 0, 0.0, False, False),
    ],
)
def test_flip_rate(
    statuses: tuple[Status, ...], flips: int, rate: float, flaky: bool, always_failing: bool
) -> None:
    record = CheckRecord("c", "health", "t", statuses)
    assert record.flips == flips
    assert record.flip_rate == pytest.approx(rate)
    assert (record.flaky, record.always_failing) == (flaky, always_failing)


def test_rate_changes_compare_pass_rates_in_points() -> None:
    current = {"health": Counts(3, 1, 0, 5)}
    previous = {"health": Counts(1, 1, 0, 0), "quality": Counts(2, 0, 0, 0)}
    changes = rate_changes(current, previous)
    assert [c.label for c in changes] == ["all checks", "health", "quality"]
    assert changes[1].delta_points == pytest.approx(25.0)
    assert changes[2].delta_points is None  # quality did not run this window
    assert changes[0].previous == Counts(3, 1, 0, 0)


# --- run report pieces --------------------------------------------------------------


def test_group_duration_is_wall_clock_span() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    results = [
        CheckResult(check_id="a", family="health", target="x", status=P, started_at=t0,
                    duration_ms=100),
        CheckResult(check_id="b", family="health", target="x", status=S, started_at=t0
                    + timedelta(milliseconds=30), duration_ms=500, message="skipped: db down"),
    ]  # fmt: skip
    group = Group("health", "x", results)
    assert group.duration_ms == pytest.approx(530)
    assert tally(results) == Counts(passed=1, skipped=1)
    assert skip_reason(results[1]) == "db down"


def test_alerts_need_a_rule_and_a_transition() -> None:
    alerts = parse_alerts([
        {"rule": "r1", "scope": "api", "transition": "fired", "message": "m"},
        {"rule": "r2", "transition": "RESOLVED"},
    ])  # fmt: skip
    assert [(a.rule, a.resolved, a.scope) for a in alerts] == [
        ("r1", False, "api"),
        ("r2", True, ""),
    ]
    not_mappings: list[Any] = ["fired"]  # XCom hands over whatever a task returned
    with pytest.raises(ReportError, match=r"alerts\[0\]: expected a mapping, got str"):
        parse_alerts(not_mappings)
    with pytest.raises(ReportError, match=r"alerts\[0\]: missing rule, transition"):
        parse_alerts([{"scope": "x"}])


# --- coverage -----------------------------------------------------------------------


def test_endpoints_of_http_targets() -> None:
    assert endpoint_path("/v1/orders?limit=5") == "/v1/orders"
    assert endpoint_path("${HEALTH_PATH}") == "${HEALTH_PATH}"
    spec = Spec.model_validate({
        "environment": "e",
        "targets": {"api": {"kind": "http", "base_url": "http://127.0.0.1:1"},
                    "db": {"kind": "postgres", "conn_id": "c"}},
        "checks": {"health": [
            {"id": "h1", "kind": "http", "target": "api", "path": "/health"},
            {"id": "h2", "kind": "http", "target": "api", "path": "/health?deep=1"},
            {"id": "o", "kind": "http", "target": "api", "path": "/orders", "method": "HEAD"},
        ]},
    })  # fmt: skip
    cov = coverage(spec, ran_ids={"h2"}, ran_targets={"api"}, result_targets={"api", "old"})
    api, db = cov.targets
    assert [(e.label, e.check_ids, e.checked) for e in api.endpoints] == [
        ("GET /health", ("h1", "h2"), True), ("HEAD /orders", ("o",), False),
    ]  # fmt: skip
    assert (db.status, db.endpoints) == ("no checks declared", ())
    assert (cov.with_checks, cov.checked, cov.undeclared_targets) == (1, 1, ["old"])


def test_review_refuses_the_spec_of_another_environment() -> None:
    spec = Spec.model_validate({"environment": "staging", "targets": {}})
    # Refused before any query: this store's address is never reached.
    store = ResultStore("host=127.0.0.1 port=1 dbname=nowhere")
    with pytest.raises(ReportError, match="spec is for environment 'staging', the review for"):
        render_review_report(store, "prod", spec=spec)
