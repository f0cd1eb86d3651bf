"""The slice of the results store the rules read: the evaluated run and the runs before it.

One query loads the environment's newest runs up to and including the evaluated one (so a
re-evaluation of an older run sees exactly what it saw the first time), with their results;
a second one, by those runs' keys, the figures their performance probes measured. Every
rule then works on this in memory: the runs the rules reach, of tens of checks.
`load_older` extends a loaded history further back (the engine loads as far as the rules
reach first, and further only when a rule needs more: engine.load_rule_history).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from vigil.result import Severity, Status
from vigil.results import db
from vigil.results.models import RunRef, StoreError

# Runs read at most, whatever the windows ask for: every loop has a bound.
HARD_CAP = 5000

LOAD = """
WITH anchor AS (
    SELECT id, environment, cadence, started_at FROM vigil.runs
    WHERE dag_id = %(dag_id)s AND run_id = %(run_id)s
), newest AS (
    SELECT r.* FROM vigil.runs r JOIN anchor a ON r.environment = a.environment
    WHERE (r.started_at, r.id) <= (a.started_at, a.id)
    ORDER BY r.started_at DESC, r.id DESC
    LIMIT %(cap)s
), chosen AS (
    SELECT n.*, row_number() OVER (ORDER BY n.started_at DESC, n.id DESC) AS rn FROM newest n
)
SELECT ch.id AS run_pk, ch.environment, ch.cadence, ch.dag_id, ch.run_id, ch.state,
       ch.started_at AS run_started_at, ch.ended_at, ch.dry_run,
       c.check_id, c.family, c.parent, c.target, c.status, c.severity, c.started_at,
       c.duration_ms, c.message, c.details -> 'blocked_by' AS blocked_by,
       c.details ->> 'skipped_because' AS skipped_because
FROM chosen ch LEFT JOIN vigil.check_results c ON c.run = ch.id
WHERE (ch.rn <= %(runs)s
       OR ch.started_at >= (SELECT started_at FROM anchor) - %(since)s * interval '1 second')
  AND ch.rn > %(skip)s
ORDER BY ch.started_at DESC, ch.id DESC, c.check_id
"""

# The figures of the loaded runs' probes (probe_figures_run_check_key serves `run = ANY`).
LOAD_PROBES = """
SELECT run, check_id, target, profile, passed, figures
FROM vigil.probe_figures WHERE run = ANY(%(runs)s)
ORDER BY run, check_id
"""

# The pipeline's skip reason names each unhealthy dependency; `blocked_by` in details,
# when a runner records it, is preferred over reading the prose.
_BLOCKER = re.compile(r"(?:^|;\s*)([a-z][a-z0-9_-]*) (?:is unhealthy|has no health result)")


@dataclass(frozen=True)
class Row:
    """One check's result in one run, as the rules need it."""

    check_id: str
    family: str
    target: str
    status: Status
    severity: Severity
    started_at: datetime
    duration_ms: float
    message: str
    blocked_by: tuple[str, ...] = ()
    parent: str | None = None  # the spec check this result is a part of, if any

    @property
    def is_problem(self) -> bool:
        return self.status in (Status.FAILED, Status.ERROR)

    @property
    def ran(self) -> bool:
        return self.status is not Status.SKIPPED

    @property
    def ended_at(self) -> datetime:
        return self.started_at + timedelta(milliseconds=self.duration_ms)


@dataclass(frozen=True)
class ProbeFigures:
    """What one performance probe measured in one run (vigil.results.probe_figures)."""

    check_id: str
    target: str
    profile: str  # "default" or the load profile it ran under
    passed: bool  # every threshold of the probe held in that run
    figures: dict[str, float]  # p50..p99.9, max, mean (ms), rps, error_rate, counts


@dataclass
class RunRecord:
    pk: int
    ref: RunRef
    state: str
    started_at: datetime
    ended_at: datetime | None
    dry_run: bool
    results: dict[str, Row] = field(default_factory=dict)
    probes: dict[str, ProbeFigures] = field(default_factory=dict)  # by probe (check) id

    def rows(self) -> Iterator[Row]:
        return iter(self.results.values())


@dataclass
class History:
    runs: list[RunRecord]  # newest first; runs[0] is the evaluated run
    truncated: bool = False  # the cap cut a time window short

    @property
    def current(self) -> RunRecord:
        return self.runs[0]

    def window(self, last_runs: int | None, last: timedelta | None) -> list[RunRecord]:
        runs = self.runs[:last_runs] if last_runs is not None else self.runs
        if last is not None:
            cutoff = self.current.started_at - last
            runs = [r for r in runs if r.started_at >= cutoff]
        return runs

    def results_of(self, check_id: str) -> list[Row]:
        """One check's results that ran (skips left out), newest first."""
        found = (run.results.get(check_id) for run in self.runs)
        return [row for row in found if row is not None and row.ran]


def load_history(
    kwargs: Mapping[str, Any], run: RunRef, *, runs: int, since: timedelta | None
) -> History:
    """The evaluated run and the runs before it, `runs` in all (more when `since` reaches
    further back, up to HARD_CAP)."""
    params = {
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        "cap": HARD_CAP,
        "runs": runs,
        "since": since.total_seconds() if since is not None else -1,
        "skip": 0,
    }
    with db.transaction(kwargs, f"read the history before run {run}", readonly=True) as cur:
        rows = _fetch(cur, LOAD, params)
        if not rows:
            raise StoreError(
                f"run {run} is not in the results store at {db.describe(kwargs)}; "
                "its results must be recorded before alerts are evaluated"
            )
        history = History(_group(rows))
        # By the keys of the runs just read: a re-evaluation sees the same runs' figures.
        cur.execute(LOAD_PROBES, {"runs": [r.pk for r in history.runs]})
        _attach_probes(history.runs, cur.fetchall())
    history.truncated = len(history.runs) >= HARD_CAP
    _check_ref(run, history.current.ref)
    return history


def load_older(kwargs: Mapping[str, Any], history: History, *, runs: int) -> History:
    """`history` extended back to `runs` runs in all: the same as load_history(runs=runs)
    would give, reading only the runs `history` does not hold yet. The loaded runs are a
    prefix of the newest ones (a time window only lengthens it), so the older ones are those
    ranked after it."""
    run = history.current.ref
    params = {
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        "cap": HARD_CAP,
        "runs": runs,
        "since": -1,  # every run within `since` is in `history` already
        "skip": len(history.runs),
    }
    with db.transaction(kwargs, f"read older history before run {run}", readonly=True) as cur:
        older = _group(_fetch(cur, LOAD, params))
        if older:
            cur.execute(LOAD_PROBES, {"runs": [r.pk for r in older]})
            _attach_probes(older, cur.fetchall())
    wider = History(history.runs + older)
    wider.truncated = len(wider.runs) >= HARD_CAP
    return wider


def _fetch(cur: Any, query: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of `query` as dicts, read through a plain cursor of the same transaction:
    RealDictCursor builds each row key by key in Python, most of the time a history load
    took (25,000 rows: 1.9 of 3.8 s profiled on a busy machine)."""
    with cur.connection.cursor() as plain:
        plain.execute(query, params)
        names = [column[0] for column in plain.description]
        return [dict(zip(names, row, strict=True)) for row in plain.fetchall()]


def _group(rows: Sequence[Mapping[str, Any]]) -> list[RunRecord]:
    runs: dict[int, RunRecord] = {}
    for row in rows:
        record = runs.get(row["run_pk"])
        if record is None:
            record = runs[row["run_pk"]] = _run_record(row)
        if row["check_id"] is not None:
            record.results[row["check_id"]] = _row(row)
    return list(runs.values())  # dicts keep the query's newest-first order


def _attach_probes(runs: Sequence[RunRecord], rows: Sequence[Mapping[str, Any]]) -> None:
    by_pk = {r.pk: r for r in runs}
    for row in rows:
        figures = {
            str(k): float(v)
            for k, v in dict(row["figures"] or {}).items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        by_pk[int(row["run"])].probes[row["check_id"]] = ProbeFigures(
            row["check_id"], row["target"], row["profile"], bool(row["passed"]), figures
        )


def _run_record(row: Mapping[str, Any]) -> RunRecord:
    return RunRecord(
        pk=int(row["run_pk"]),
        ref=RunRef(row["environment"], row["cadence"], row["dag_id"], row["run_id"]),
        state=row["state"],
        started_at=row["run_started_at"],
        ended_at=row["ended_at"],
        dry_run=bool(row["dry_run"]),
    )


def _row(row: Mapping[str, Any]) -> Row:
    return Row(
        check_id=row["check_id"],
        family=row["family"],
        target=row["target"],
        status=Status(row["status"]),
        severity=Severity(row["severity"]),
        started_at=row["started_at"],
        duration_ms=float(row["duration_ms"]),
        message=row["message"] or "",
        blocked_by=_blockers(row["blocked_by"], row["skipped_because"]),
        parent=row["parent"],
    )


def _blockers(blocked_by: Any, reason: str | None) -> tuple[str, ...]:
    if isinstance(blocked_by, list):
        return tuple(str(t) for t in blocked_by)
    return tuple(_BLOCKER.findall(reason or ""))


def _check_ref(asked: RunRef, stored: RunRef) -> None:
    if (asked.environment, asked.cadence) != (stored.environment, stored.cadence):
        raise StoreError(
            f"run {asked} is stored for environment {stored.environment!r}, cadence "
            f"{stored.cadence!r}, not {asked.environment!r}/{asked.cadence!r}"
        )
