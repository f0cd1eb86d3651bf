"""The trend report's "Performance probes" section: per probe and load profile, its latency
(p50, p95, p99) and throughput measurement by measurement over the window, and its latest
figures, from the time series the probes store (vigil.results.probe_figures).

A measurement belongs to the window by when it was recorded (the probe ran then), and
one probe's profiles are charted apart: a heavy weekly load is not a daily one.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from markupsafe import Markup

from vigil.reports import render, svg
from vigil.reports.data import Window
from vigil.results import ResultStore, probe_figures
from vigil.results.probe_figures import FigureRow

LATENCIES = (("p50", svg.GREEN), ("p95", svg.ORANGE), ("p99", svg.RED))
EMPTY = "No performance probe measured in this window."


@dataclass(frozen=True)
class ProbeTrend:
    check_id: str
    profile: str
    rows: list[FigureRow]  # the window's measurements, oldest first

    @property
    def latest(self) -> FigureRow:
        return self.rows[-1]

    @property
    def target(self) -> str:
        return self.latest.target

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.rows)

    def figure(self, name: str) -> float | None:
        """The latest measurement's figure, None when it has none (nothing succeeded to be
        timed, or the probe kind does not measure it)."""
        return self.latest.figures.get(name)

    def has(self, name: str) -> bool:
        return any(name in r.figures for r in self.rows)


def probe_trends(store: ResultStore, environment: str, win: Window) -> list[ProbeTrend]:
    """The window's measurements, per probe and profile, by probe id then profile."""
    rows = [
        r for r in probe_figures.series(store, environment, win.start) if r.recorded_at < win.end
    ]
    return [
        ProbeTrend(check_id, profile, list(group))
        for (check_id, profile), group in groupby(rows, key=lambda r: (r.check_id, r.profile))
    ]


def charts(trend: ProbeTrend, win: Window) -> list[Markup]:
    """Its latency chart, and its throughput chart when the probe measures one."""
    zone = win.start.tzinfo
    labels = [r.recorded_at.astimezone(zone).strftime("%d %b %H:%M") for r in trend.rows]
    name = f"{trend.check_id} ({trend.profile})"
    out = [
        svg.line_chart(
            labels,
            [
                svg.Series(metric, [r.figures.get(metric) for r in trend.rows], color)
                for metric, color in LATENCIES
            ],
            title=f"{name}: latency, measurement by measurement",
            fmt=svg.millis,
        )
    ]
    if trend.has("rps"):
        out.append(
            svg.line_chart(
                labels,
                [svg.Series("rps", [r.figures.get("rps") for r in trend.rows], svg.BLUE)],
                title=f"{name}: throughput (successful requests per second)",
                fmt=per_second,
            )
        )
    return out


def per_second(value: float) -> str:
    return f"{value:,.0f}/s" if value >= 100 else f"{svg.plain(value)}/s"


def section(store: ResultStore, environment: str, win: Window) -> Markup:
    """The section's HTML, or its empty state when no probe measured in the window."""
    trends = probe_trends(store, environment, win)
    html = (
        render.environment()
        .get_template("_probes.html")
        .render(
            trends=[(t, charts(t, win)) for t in trends],
            empty=EMPTY,
            per_second=per_second,
        )
    )
    return Markup(html)  # rendered with autoescaping on
