"""The monthly review: flaky, always-failing and never-run checks, pass rate against the
window before, and coverage of the spec's targets and HTTP endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from itertools import pairwise
from pathlib import Path

from markupsafe import Markup

from vigil.reports import render, svg
from vigil.reports.coverage import Coverage, Declared, coverage, declared_checks
from vigil.reports.data import (
    CheckStatuses,
    Counts,
    ReportError,
    Window,
    check_statuses,
    day_stats,
    family_counts,
    rollups_before,
    window,
)
from vigil.result import Status
from vigil.results import ResultStore
from vigil.spec.models import Spec

# A check is flaky when at least this share of its consecutive runs changed outcome...
FLAKY_FLIP_RATE = 0.2
# ...over enough runs for a rate to mean something, and more than once: one change is a
# check that broke (or was fixed), not one that cannot make up its mind.
FLAKY_MIN_RUNS = 3
FLAKY_MIN_FLIPS = 2
ALWAYS_FAILING_MIN_RUNS = 2


@dataclass(frozen=True)
class CheckRecord:
    """One check's outcomes over the window, skips left out (a skipped check did not run,
    so it can neither pass nor flip). The figures are computed once: a page reads them for
    every check, several times."""

    check_id: str
    family: str
    target: str
    statuses: tuple[Status, ...]
    parent: str | None = None  # the spec check it is a part of (a suite's expectation)

    @property
    def spec_check(self) -> str:
        return self.parent or self.check_id

    @cached_property
    def ran(self) -> tuple[Status, ...]:
        return tuple(s for s in self.statuses if s is not Status.SKIPPED)

    @cached_property
    def flips(self) -> int:
        """Changes between passing and not passing (failed or error) from run to run; a
        failure turning into an error is the same problem, not a flip."""
        outcomes = [s is Status.PASSED for s in self.ran]
        return sum(a != b for a, b in pairwise(outcomes))

    @cached_property
    def flip_rate(self) -> float:
        return self.flips / (len(self.ran) - 1) if len(self.ran) > 1 else 0.0

    @cached_property
    def problems(self) -> int:
        return sum(1 for s in self.ran if s is not Status.PASSED)

    @cached_property
    def flaky(self) -> bool:
        return (
            len(self.ran) >= FLAKY_MIN_RUNS
            and self.flips >= FLAKY_MIN_FLIPS
            and self.flip_rate >= FLAKY_FLIP_RATE
        )

    @cached_property
    def always_failing(self) -> bool:
        return len(self.ran) >= ALWAYS_FAILING_MIN_RUNS and self.problems == len(self.ran)


@dataclass(frozen=True)
class RateChange:
    label: str
    current: Counts
    previous: Counts

    @property
    def delta_points(self) -> float | None:
        if self.current.pass_rate is None or self.previous.pass_rate is None:
            return None
        return (self.current.pass_rate - self.previous.pass_rate) * 100


@dataclass(frozen=True)
class ReviewData:
    environment: str
    window: Window
    previous: Window
    records: list[CheckRecord]
    flaky: list[CheckRecord]
    always_failing: list[CheckRecord]
    never_ran: list[Declared] | None  # None: no spec to compare with
    only_skipped: list[Declared] | None
    rates: list[RateChange]  # overall first, then one per family
    coverage: Coverage | None
    last_messages: dict[str, str]  # latest message of each always-failing check
    # Days (of both windows) before it come from the daily rollups, their raw results
    # pruned: the pass rates and their chart count them; the per-check sections cannot
    # (a rollup keeps a day's counts, not the order of its outcomes) and start there.
    rollups_before: date | None = None


def _record(row: CheckStatuses) -> CheckRecord:
    return CheckRecord(row.check_id, row.family, row.target, row.statuses, row.parent)


def rate_changes(current: dict[str, Counts], previous: dict[str, Counts]) -> list[RateChange]:
    overall = RateChange(
        "all checks", Counts.total(current.values()), Counts.total(previous.values())
    )
    families = sorted(set(current) | set(previous))
    return [overall] + [
        RateChange(family, current.get(family, Counts()), previous.get(family, Counts()))
        for family in families
    ]


def review_data(
    store: ResultStore,
    environment: str,
    *,
    spec: Spec | None = None,
    days: int = 30,
    now: datetime | None = None,
    tz: str = "UTC",
) -> ReviewData:
    if spec is not None and spec.environment != environment:
        raise ReportError(
            f"spec is for environment {spec.environment!r}, the review for {environment!r}: "
            "pass the spec of the environment under review"
        )
    win = window(days, now, tz)
    before = win.before()
    records = [_record(row) for row in check_statuses(store, environment, win)]
    flaky = sorted((r for r in records if r.flaky), key=lambda r: (-r.flip_rate, r.check_id))
    failing = [r for r in records if r.always_failing]
    never_ran = only_skipped = None
    if spec is not None:
        declared = declared_checks(spec)
        ids = [d.check_id for d in declared]
        seen = {d: [r for r in records if r.spec_check == d] for d in ids}
        never_ran = [d for d in declared if not seen[d.check_id]]
        only_skipped = [
            d for d in declared if seen[d.check_id] and not any(r.ran for r in seen[d.check_id])
        ]
    return ReviewData(
        environment=environment,
        window=win,
        previous=before,
        records=records,
        flaky=flaky,
        always_failing=failing,
        never_ran=never_ran,
        only_skipped=only_skipped,
        rates=rate_changes(
            family_counts(store, environment, win), family_counts(store, environment, before)
        ),
        coverage=_coverage(spec, records),
        last_messages={r.check_id: _last_message(store, environment, r.check_id) for r in failing},
        rollups_before=rollups_before(store, Window(before.first, win.last, win.tz)),
    )


def _last_message(store: ResultStore, environment: str, check_id: str) -> str:
    history = store.check_history(environment, check_id, last_runs=1)
    return history[0].message if history else ""


def _coverage(spec: Spec | None, records: list[CheckRecord]) -> Coverage | None:
    if spec is None:
        return None
    ran = [r for r in records if r.ran]
    declared = [d.check_id for d in declared_checks(spec)]
    ran_ids = set(declared) & {r.spec_check for r in ran}
    return coverage(spec, ran_ids, {r.target for r in ran}, {r.target for r in records})


def pass_rate_chart(store: ResultStore, data: ReviewData) -> Markup:
    both = Window(data.previous.first, data.window.last, data.window.tz)
    stats = day_stats(store, data.environment, both)
    rates = [None if d.counts.pass_rate is None else d.counts.pass_rate * 100 for d in stats]
    split = len(data.previous.days)
    gap: list[float | None] = [None]
    return svg.line_chart(
        [d.day.strftime("%d %b") for d in stats],
        [
            svg.Series("previous window", rates[:split] + gap * (len(rates) - split), svg.GREY),
            svg.Series("this window", gap * split + rates[split:], svg.BLUE),
        ],
        title="Pass rate per day, this window against the one before",
        fmt=svg.percent,
        y_max=100,
        connect_gaps=True,
    )


def render_review_report(
    store: ResultStore,
    environment: str,
    *,
    spec: Spec | None = None,
    days: int = 30,
    now: datetime | None = None,
    tz: str = "UTC",
) -> str:
    """The review of the `days` calendar days ending today (in `tz`), as one HTML page."""
    data = review_data(store, environment, spec=spec, days=days, now=now, tz=tz)
    return render.render(
        "review.html",
        title=f"Vigil review — {environment}, {data.window.first} to {data.window.last}",
        data=data,
        chart=pass_rate_chart(store, data),
        flaky_flip_rate=FLAKY_FLIP_RATE,
        flaky_min_runs=FLAKY_MIN_RUNS,
    )


def review_report_path(out_dir: Path, environment: str, last_day: date) -> Path:
    """`<out_dir>/<environment>/review/<last day>.html`."""
    env = render.safe_name(environment, "environment")
    return Path(out_dir) / env / "review" / f"{last_day}.html"


def write_review_report(
    store: ResultStore,
    environment: str,
    *,
    out_dir: Path,
    spec: Spec | None = None,
    days: int = 30,
    now: datetime | None = None,
    tz: str = "UTC",
) -> Path:
    now = now or datetime.now(UTC)  # one instant for the content and the file name
    html = render_review_report(store, environment, spec=spec, days=days, now=now, tz=tz)
    return render.write(html, review_report_path(out_dir, environment, window(days, now, tz).last))
