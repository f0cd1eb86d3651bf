"""Read-only queries the reports need beyond ResultStore's own, and their records.

Every query runs through the store's read path (schema ensured, read-only transaction,
errors naming the store). Windows are whole calendar days in a time zone, bounded by the
start of the runs they hold: a run is the unit a person reads, so its checks stay in the
day it started even when some of them finish after midnight.

Beyond the raw results retention keeps (vigil.results.retention), the per-day and
per-family counts come from the daily rollups (migration 0008): days before `raw_from`
from vigil.daily_rollups, the rest from raw results (runs started from `raw_from`'s UTC
midnight on). Rollup days are UTC days: in another time zone a day before `raw_from` is
the UTC day of that date, and a raw run whose local day is such a day is added to it, so
every run counts once, near the boundary in a day a few hours off. The reports say which
days came from rollups, and that they are UTC days when the report's zone is not UTC.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vigil.result import Status
from vigil.results import ResultStore, RunRef, RunSummary
from vigil.results import queries as store_queries

MAX_DAYS = 366
_DAY = timedelta(days=1)
# Time zones whose days are UTC days, by name: with any other, the reports say that days
# served from the daily rollups are UTC days.
UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Zulu"})

RUN_ROW = """
SELECT * FROM vigil.runs
WHERE run_id = %(run_id)s AND (%(dag_id)s::text IS NULL OR dag_id = %(dag_id)s)
ORDER BY started_at DESC, id DESC
LIMIT 20
"""

# runs_env_started_idx picks the window's runs, check_results_run_check_key their results.
# The lateral subquery with OFFSET 0 keeps it that way: flattened into a plain join, the
# planner hashes the window's few runs and scans every stored result (400 ms at 1M rows,
# against ~15 ms through the index).
_WINDOW = """
FROM vigil.runs r
CROSS JOIN LATERAL (SELECT * FROM vigil.check_results c0 WHERE c0.run = r.id OFFSET 0) c
WHERE r.environment = %(env)s AND r.started_at >= %(start)s AND r.started_at < %(end)s
"""

# Index: run_families_env_started_idx (environment, started_at): the window's runs, their
# results already counted per family (migration 0007), so no result row is read.
DAY_COUNTS = """
SELECT (f.started_at AT TIME ZONE %(tz)s)::date AS day,
       count(DISTINCT f.run) AS runs,
       sum(f.passed) AS passed, sum(f.failed) AS failed,
       sum(f.error) AS error, sum(f.skipped) AS skipped
FROM vigil.run_families f
WHERE f.environment = %(env)s AND f.started_at >= %(start)s AND f.started_at < %(end)s
GROUP BY 1 ORDER BY 1
"""

# The first UTC day whose raw results are all kept: the day after the newest day pruned
# (rolled up `final`: its rollup holds every run the day had, even while a crashed prune
# left some of them behind). NULL when nothing was pruned.
RAW_FROM = "SELECT max(day) + 1 AS day FROM vigil.rollup_days WHERE final"

# Index: daily_rollups_env_day_idx. `runs` adds up over an environment's rows of a day
# (migration 0008), and only so.
ROLLUP_DAY_COUNTS = """
SELECT day, sum(runs) AS runs, sum(passed) AS passed, sum(failed) AS failed,
       sum(error) AS error, sum(skipped) AS skipped
FROM vigil.daily_rollups
WHERE environment = %(env)s AND day >= %(first)s AND day < %(until)s
GROUP BY day ORDER BY day
"""

ROLLUP_FAMILY_COUNTS = """
SELECT family, sum(passed) AS passed, sum(failed) AS failed,
       sum(error) AS error, sum(skipped) AS skipped
FROM vigil.daily_rollups
WHERE environment = %(env)s AND day >= %(first)s AND day < %(until)s
GROUP BY family ORDER BY family
"""

SLOWEST = f"""
SELECT c.check_id, max(c.family) AS family, max(c.target) AS target, count(*) AS runs,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY c.duration_ms) AS median_ms,
       max(c.duration_ms) AS max_ms
{_WINDOW}
  AND c.status <> 'skipped'
GROUP BY c.check_id
ORDER BY median_ms DESC, max_ms DESC, c.check_id
LIMIT %(limit)s
"""

WINDOW_RUNS = """
SELECT * FROM vigil.runs
WHERE environment = %(env)s AND started_at >= %(start)s AND started_at < %(end)s
ORDER BY started_at, id
"""

# One row per check: its statuses over the window's runs, oldest first.
CHECK_STATUSES = f"""
SELECT c.check_id, max(c.family) AS family, max(c.target) AS target, max(c.parent) AS parent,
       array_agg(c.status ORDER BY r.started_at, r.id) AS statuses
{_WINDOW}
GROUP BY c.check_id
ORDER BY c.check_id
"""

FAMILY_COUNTS = f"""
SELECT c.family,
       count(*) FILTER (WHERE c.status = 'passed') AS passed,
       count(*) FILTER (WHERE c.status = 'failed') AS failed,
       count(*) FILTER (WHERE c.status = 'error') AS error,
       count(*) FILTER (WHERE c.status = 'skipped') AS skipped
{_WINDOW}
GROUP BY c.family ORDER BY c.family
"""

# A scenario journey's own results (not a suite's test cases, not a cleanup part) with
# the time each step took, oldest first; the step names in the order the journey ran them,
# from its trace, since jsonb keeps an object's keys (steps_ms) in an order of its own.
JOURNEY_STEPS = f"""
SELECT c.check_id, c.target, c.status, c.started_at, c.observed->'steps_ms' AS steps_ms,
       CASE WHEN jsonb_typeof(c.details->'trace') = 'array'
            THEN jsonb_path_query_array(c.details->'trace', '$[*].step') END AS step_order
{_WINDOW}
  AND c.family = 'scenarios' AND c.parent IS NULL
  AND jsonb_typeof(c.observed->'steps_ms') = 'object'
ORDER BY c.check_id, r.started_at, r.id
"""


class ReportError(ValueError):
    """A report cannot be made as asked; the message says which input and why."""


@dataclass(frozen=True)
class Window:
    """Whole calendar days `first`..`last` in `tz`, as [start, end) instants."""

    first: date
    last: date
    tz: str

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), ZoneInfo(self.tz))

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), ZoneInfo(self.tz))

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    @property
    def is_utc(self) -> bool:
        """Whether its days are UTC days, as the daily rollups' are."""
        return self.tz in UTC_NAMES

    def before(self) -> Window:
        """The window of the same length just before this one."""
        length = self.last - self.first + timedelta(days=1)
        return Window(self.first - length, self.first - timedelta(days=1), self.tz)


def window(days: int, now: datetime | None, tz: str = "UTC") -> Window:
    """The `days` calendar days ending with `now`'s day (today included, in `tz`)."""
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
        raise ReportError(f"days must be a whole number from 1 to {MAX_DAYS}, got {days!r}")
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportError(f"unknown time zone {tz!r}; use an IANA name such as 'UTC'") from None
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ReportError(f"now must be timezone-aware (e.g. datetime.now(UTC)), got {now!r}")
    today = now.astimezone(zone).date()
    return Window(today - timedelta(days=days - 1), today, tz)


@dataclass(frozen=True)
class Counts:
    passed: int = 0
    failed: int = 0
    error: int = 0
    skipped: int = 0

    @staticmethod
    def total(counts: Iterable[Counts]) -> Counts:
        """The sum of several counts (days of a window, families of a run)."""
        found = list(counts)
        return Counts(
            sum(c.passed for c in found),
            sum(c.failed for c in found),
            sum(c.error for c in found),
            sum(c.skipped for c in found),
        )

    @property
    def ran(self) -> int:
        return self.passed + self.failed + self.error

    @property
    def problems(self) -> int:
        return self.failed + self.error

    @property
    def pass_rate(self) -> float | None:
        """Passed among the checks that ran; skipped checks did not run and do not count."""
        return self.passed / self.ran if self.ran else None

    @property
    def failure_rate(self) -> float | None:
        return self.problems / self.ran if self.ran else None

    def __add__(self, other: Counts) -> Counts:
        return Counts.total((self, other))


@dataclass(frozen=True)
class DayStats:
    day: date
    runs: int
    counts: Counts
    from_rollups: bool = False  # the day's raw results were pruned: from its daily rollups


@dataclass(frozen=True)
class SlowCheck:
    check_id: str
    family: str
    target: str
    runs: int
    median_ms: float
    max_ms: float


@dataclass(frozen=True)
class CheckStatuses:
    check_id: str
    family: str
    target: str
    statuses: tuple[Status, ...]  # oldest first, one per run
    parent: str | None = None  # the spec check it is a part of, if any


@dataclass(frozen=True)
class JourneyRun:
    """One run of a scenario journey: how long each of its steps took."""

    check_id: str
    target: str
    status: Status
    started_at: datetime
    steps_ms: dict[str, float]  # the steps that ran
    order: tuple[str, ...]  # every step's name, in the order the journey ran them


def _read(store: ResultStore, action: str, sql: str, params: dict[str, Any]) -> list[Any]:
    # The store's read path: schema ensured, read-only transaction, errors naming the store.
    return store.read(action, sql, params)


def _window_params(environment: str, win: Window, **extra: Any) -> dict[str, Any]:
    return {"env": environment, "start": win.start, "end": win.end, "tz": win.tz, **extra}


def _counts(row: Any) -> Counts:
    return Counts(row["passed"], row["failed"], row["error"], row["skipped"])


def find_runs(store: ResultStore, run_id: str, dag_id: str | None = None) -> list[RunSummary]:
    """Stored runs named `run_id` (of `dag_id` when given), newest first."""
    rows = _read(store, f"find run {run_id!r}", RUN_ROW, {"run_id": run_id, "dag_id": dag_id})
    return [store_queries.to_summary(row) for row in rows]


def run_summary(store: ResultStore, run: RunRef) -> RunSummary:
    """The stored row of `run`; a clear error when it is missing or belongs elsewhere."""
    matches = find_runs(store, run.run_id, run.dag_id)
    if not matches:
        raise ReportError(f"run {run} is not in the results store {store!r}")
    summary = matches[0]
    if (summary.ref.environment, summary.ref.cadence) != (run.environment, run.cadence):
        raise ReportError(
            f"run {run} is stored for environment {summary.ref.environment!r}, cadence "
            f"{summary.ref.cadence!r}, not {run.environment!r}/{run.cadence!r}"
        )
    return summary


def raw_from(store: ResultStore) -> date | None:
    """The first UTC day whose raw results are all kept; None when none was pruned."""
    rows = _read(store, "find the first day of raw results", RAW_FROM, {})
    day: date | None = rows[0]["day"] if rows else None
    return day


def rollups_before(store: ResultStore, win: Window) -> date | None:
    """`raw_from` when days of `win` before it come from daily rollups, else None."""
    first_raw = raw_from(store)
    return first_raw if first_raw is not None and first_raw > win.first else None


def _split(
    store: ResultStore, environment: str, win: Window
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The parameters of the raw part of `win` (from the first raw day on), and of its
    rollup part (days `first`..`until`, excluded; None when no day of it is pruned)."""
    params = _window_params(environment, win)
    cutoff = rollups_before(store, win)
    if cutoff is None:
        return None, params
    raw_start = datetime.combine(cutoff, time(), UTC)
    rolled = {"env": environment, "first": win.first, "until": min(cutoff, win.last + _DAY)}
    return rolled, {**params, "start": max(win.start, raw_start)}


def day_stats(store: ResultStore, environment: str, win: Window) -> list[DayStats]:
    """Counts per day of the window; days without runs are present with zeros. Days whose
    raw results were pruned come from the daily rollups (module docstring)."""
    rolled, params = _split(store, environment, win)
    found: dict[date, DayStats] = {}
    if rolled is not None:
        for row in _read(
            store, f"count rolled-up results per day of {environment!r}", ROLLUP_DAY_COUNTS, rolled
        ):
            found[row["day"]] = DayStats(row["day"], row["runs"], _counts(row), True)
    if params["start"] < win.end:
        rows = _read(store, f"count results per day of {environment!r}", DAY_COUNTS, params)
        for row in rows:
            day, counts = row["day"], _counts(row)
            if day in found:  # another time zone's first raw hours, on a rolled-up day
                old = found[day]
                found[day] = DayStats(day, old.runs + row["runs"], old.counts + counts, True)
            else:
                found[day] = DayStats(day, row["runs"], counts)
    until = rolled["until"] if rolled is not None else win.first
    return [found.get(day, DayStats(day, 0, Counts(), day < until)) for day in win.days]


def slowest_checks(
    store: ResultStore, environment: str, win: Window, limit: int = 10
) -> list[SlowCheck]:
    rows = _read(
        store,
        f"find the slowest checks of {environment!r}",
        SLOWEST,
        _window_params(environment, win, limit=limit),
    )
    return [
        SlowCheck(r["check_id"], r["family"], r["target"], r["runs"], r["median_ms"], r["max_ms"])
        for r in rows
    ]


def window_runs(store: ResultStore, environment: str, win: Window) -> list[RunSummary]:
    """The window's runs, oldest first."""
    rows = _read(
        store, f"read the runs of {environment!r}", WINDOW_RUNS, _window_params(environment, win)
    )
    return [store_queries.to_summary(row) for row in rows]


def check_statuses(store: ResultStore, environment: str, win: Window) -> list[CheckStatuses]:
    rows = _read(
        store,
        f"read check outcomes of {environment!r}",
        CHECK_STATUSES,
        _window_params(environment, win),
    )
    return [
        CheckStatuses(
            r["check_id"],
            r["family"],
            r["target"],
            tuple(Status(s) for s in r["statuses"]),
            r["parent"],
        )
        for r in rows
    ]


def family_counts(store: ResultStore, environment: str, win: Window) -> dict[str, Counts]:
    """Counts per family over the window; pruned days from the daily rollups."""
    rolled, params = _split(store, environment, win)
    found: dict[str, Counts] = {}
    if rolled is not None:
        for row in _read(
            store,
            f"count rolled-up results per family of {environment!r}",
            ROLLUP_FAMILY_COUNTS,
            rolled,
        ):
            found[row["family"]] = _counts(row)
    if params["start"] < win.end:
        rows = _read(store, f"count results per family of {environment!r}", FAMILY_COUNTS, params)
        for row in rows:
            found[row["family"]] = found.get(row["family"], Counts()) + _counts(row)
    return dict(sorted(found.items()))


def journey_runs(store: ResultStore, environment: str, win: Window) -> list[JourneyRun]:
    """The window's journey results that timed their steps, by journey, oldest first."""
    rows = _read(
        store,
        f"read scenario step durations of {environment!r}",
        JOURNEY_STEPS,
        _window_params(environment, win),
    )
    return [
        JourneyRun(
            r["check_id"],
            r["target"],
            Status(r["status"]),
            r["started_at"],
            _durations(r["steps_ms"]),
            tuple(name for name in r["step_order"] or () if isinstance(name, str)),
        )
        for r in rows
    ]


def _durations(steps_ms: dict[str, Any]) -> dict[str, float]:
    """Step name to milliseconds; a value that is no number (an older row's) left out."""
    return {
        str(name): float(ms)
        for name, ms in steps_ms.items()
        if isinstance(ms, int | float) and not isinstance(ms, bool) and math.isfinite(ms)
    }
