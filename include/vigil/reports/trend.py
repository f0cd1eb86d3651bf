"""The weekly trend report: pass and failure rate per day, slowest checks, run durations,
the performance probes' latency and throughput (vigil.reports.probe_trends), and the
scenario journeys' step durations (vigil.reports.scenario_trends)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from markupsafe import Markup

from vigil.reports import probe_trends, render, scenario_trends, svg
from vigil.reports.data import (
    Counts,
    DayStats,
    SlowCheck,
    Window,
    day_stats,
    rollups_before,
    slowest_checks,
    window,
    window_runs,
)
from vigil.reports.run_report import run_duration_ms
from vigil.results import ResultStore, RunSummary

SLOWEST = 10


@dataclass(frozen=True)
class RunTime:
    run: RunSummary
    duration_ms: float


@dataclass(frozen=True)
class TrendData:
    environment: str
    window: Window
    days: list[DayStats]
    slowest: list[SlowCheck]
    runs: list[RunSummary]  # oldest first
    run_times: list[RunTime]  # finished runs only
    # Days before it come from the daily rollups (their raw results were pruned): their
    # counts only; the slowest checks, runs, probes and journeys read raw results.
    rollups_before: date | None = None

    @property
    def totals(self) -> Counts:
        return Counts.total(d.counts for d in self.days)

    @property
    def run_count(self) -> int:
        """The window's runs. Once part of it comes from rollups, the days' counts: a raw
        run merged into a rolled-up day (another time zone's day boundary, a prune cut
        short) is in both the stored runs and that day's count."""
        if not any(d.from_rollups for d in self.days):
            return len(self.runs)
        return sum(d.runs for d in self.days)

    def median_run_ms(self, day: DayStats) -> float | None:
        times = [t.duration_ms for t in self.run_times if self._day_of(t.run) == day.day]
        return statistics.median(times) if times else None

    def _day_of(self, run: RunSummary) -> date:
        return run.started_at.astimezone(self.window.start.tzinfo).date()


def trend_data(
    store: ResultStore,
    environment: str,
    *,
    days: int = 7,
    now: datetime | None = None,
    tz: str = "UTC",
) -> TrendData:
    win = window(days, now, tz)
    runs = window_runs(store, environment, win)
    run_times = [RunTime(r, ms) for r in runs if (ms := run_duration_ms(r)) is not None]
    return TrendData(
        environment,
        win,
        day_stats(store, environment, win),
        slowest_checks(store, environment, win, SLOWEST),
        runs,
        run_times,
        rollups_before(store, win),
    )


def charts(data: TrendData) -> dict[str, Markup]:
    labels = [d.day.strftime("%a %d %b") for d in data.days]

    def pct(rate: float | None) -> float | None:
        return None if rate is None else rate * 100

    return {
        "outcomes": svg.bar_chart(
            labels,
            [
                svg.Series("passed", [d.counts.passed for d in data.days], svg.GREEN),
                svg.Series("failed", [d.counts.failed for d in data.days], svg.RED),
                svg.Series("error", [d.counts.error for d in data.days], svg.ORANGE),
                svg.Series("skipped", [d.counts.skipped for d in data.days], svg.GREY),
            ],
            title="Check outcomes per day",
        ),
        "rates": svg.line_chart(
            labels,
            [
                svg.Series("pass rate", [pct(d.counts.pass_rate) for d in data.days], svg.GREEN),
                svg.Series(
                    "failure rate", [pct(d.counts.failure_rate) for d in data.days], svg.RED
                ),
            ],
            title="Pass and failure rate per day",
            fmt=svg.percent,
            y_max=100,
        ),
        "run_times": svg.line_chart(
            [
                t.run.started_at.astimezone(data.window.start.tzinfo).strftime("%d %b %H:%M")
                for t in data.run_times
            ],
            [svg.Series("run duration", [t.duration_ms for t in data.run_times], svg.BLUE)],
            title="Run duration, run by run",
            fmt=svg.millis,
        ),
        "slowest": svg.hbar_chart(
            [s.check_id for s in data.slowest],
            [s.median_ms for s in data.slowest],
            title="Slowest checks (median duration)",
            fmt=svg.millis,
            color=svg.PURPLE,
        ),
    }


def render_trend_report(
    store: ResultStore,
    environment: str,
    *,
    days: int = 7,
    now: datetime | None = None,
    tz: str = "UTC",
) -> str:
    """Trend over the `days` calendar days ending today (in `tz`), as one HTML page."""
    data = trend_data(store, environment, days=days, now=now, tz=tz)
    return render.render(
        "trend.html",
        title=f"Vigil trend report — {environment}, {data.window.first} to {data.window.last}",
        data=data,
        charts=charts(data),
        probes=probe_trends.section(store, environment, data.window),
        journeys=scenario_trends.trends(store, environment, data.window),
        journeys_empty=scenario_trends.EMPTY,
        max_step_charts=scenario_trends.MAX_CHARTS,
    )


def trend_report_path(out_dir: Path, environment: str, last_day: date) -> Path:
    """`<out_dir>/<environment>/trend/<last day>.html`."""
    env = render.safe_name(environment, "environment")
    return Path(out_dir) / env / "trend" / f"{last_day}.html"


def write_trend_report(
    store: ResultStore,
    environment: str,
    *,
    out_dir: Path,
    days: int = 7,
    now: datetime | None = None,
    tz: str = "UTC",
) -> Path:
    now = now or datetime.now(UTC)  # one instant for the content and the file name
    html = render_trend_report(store, environment, days=days, now=now, tz=tz)
    last_day = window(days, now, tz).last
    return render.write(html, trend_report_path(out_dir, environment, last_day))
