"""The trend report's "Scenario step durations" section: per journey, how long each of its
steps took run by run over the window (`observed.steps_ms` of the journey's own results,
vigil.reports.data.journey_runs), one small chart a step and a table of their figures.

One chart a step, not one line a step on a shared chart: a 30 s wait beside a 10 ms
request would flatten the request to nothing, and a journey has up to 200 steps.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from itertools import groupby

from markupsafe import Markup

from vigil.reports import svg
from vigil.reports.data import JourneyRun, Window, journey_runs
from vigil.result import Status
from vigil.results import ResultStore

EMPTY = "No scenario journey timed its steps in this window."
# Small multiples: two or three a row.
CHART_WIDTH = 370
CHART_HEIGHT = 170
MAX_CHARTS = 12  # a journey's first steps charted; the table has every one


@dataclass(frozen=True)
class StepTrend:
    name: str
    values: list[float | None]  # one per run of the journey, oldest first; None: it did not run

    @property
    def measured(self) -> list[float]:
        return [v for v in self.values if v is not None]

    @property
    def median(self) -> float | None:
        return statistics.median(self.measured) if self.measured else None

    @property
    def max(self) -> float | None:
        return max(self.measured, default=None)

    @property
    def latest(self) -> float | None:
        return self.values[-1] if self.values else None


@dataclass(frozen=True)
class JourneyTrend:
    check_id: str
    runs: list[JourneyRun]  # oldest first
    steps: list[StepTrend]  # in the order the journey runs them

    @property
    def target(self) -> str:
        return self.runs[-1].target

    @property
    def problems(self) -> int:
        return sum(r.status in (Status.FAILED, Status.ERROR) for r in self.runs)


def step_names(runs: list[JourneyRun]) -> list[str]:
    """Every step timed in `runs`, in the order of the newest run's trace (which names
    the steps it never reached too); a step only older runs had (renamed or removed
    since) after those, in their order."""
    timed = {name for run in runs for name in run.steps_ms}
    names: dict[str, None] = {}
    for run in reversed(runs):
        for name in [*run.order, *sorted(run.steps_ms)]:
            if name in timed:
                names.setdefault(name)
    return list(names)


def journey_trends(runs: list[JourneyRun]) -> list[JourneyTrend]:
    """`runs` (ordered by journey, then oldest first) as one trend per journey."""
    trends = []
    for check_id, group in groupby(runs, key=lambda r: r.check_id):
        of_journey = list(group)
        steps = [
            StepTrend(name, [r.steps_ms.get(name) for r in of_journey])
            for name in step_names(of_journey)
        ]
        trends.append(JourneyTrend(check_id, of_journey, steps))
    return trends


def charts(trend: JourneyTrend, win: Window) -> list[Markup]:
    """A small chart of each step's duration, run by run (the first MAX_CHARTS steps)."""
    zone = win.start.tzinfo
    labels = [r.started_at.astimezone(zone).strftime("%d %b %H:%M") for r in trend.runs]
    return [
        svg.line_chart(
            labels,
            [svg.Series("duration", step.values, svg.BLUE)],
            title=f"{number}. {step.name}",
            fmt=svg.millis,
            width=CHART_WIDTH,
            height=CHART_HEIGHT,
        )
        for number, step in enumerate(trend.steps[:MAX_CHARTS], start=1)
    ]


def trends(
    store: ResultStore, environment: str, win: Window
) -> list[tuple[JourneyTrend, list[Markup]]]:
    """The section's journeys, by id, each with its step charts."""
    return [(t, charts(t, win)) for t in journey_trends(journey_runs(store, environment, win))]
