"""Records the results store hands back: runs, one check's history, failure rates."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vigil.result import Status


class StoreError(RuntimeError):
    """The results store could not do what was asked; the message names where and what."""


class RunState(enum.StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"


@dataclass(frozen=True)
class RunRef:
    """Identifies a run: Airflow names it by (dag_id, run_id); environment and cadence
    are what history queries filter and group on."""

    environment: str
    cadence: str
    dag_id: str
    run_id: str

    def __str__(self) -> str:
        return f"{self.dag_id}/{self.run_id}"


@dataclass(frozen=True)
class RunCounts:
    total: int = 0
    passed: int = 0
    failed: int = 0
    error: int = 0
    skipped: int = 0

    @property
    def problems(self) -> int:
        return self.failed + self.error


@dataclass(frozen=True)
class RunSummary:
    """One row of vigil.runs."""

    ref: RunRef
    state: RunState
    started_at: datetime
    ended_at: datetime | None
    counts: RunCounts
    critical_problems: int
    dry_run: bool
    params: dict[str, Any] = field(default_factory=dict, compare=False)

    # Shortcuts to the counts, for callers that log or return them.
    @property
    def total(self) -> int:
        return self.counts.total

    @property
    def passed(self) -> int:
        return self.counts.passed

    @property
    def problems(self) -> int:
        return self.counts.problems


@dataclass(frozen=True)
class HistoryEntry:
    """One result of one check, with the run it belongs to."""

    run_id: str
    cadence: str
    status: Status
    duration_ms: float
    started_at: datetime
    message: str


@dataclass(frozen=True)
class FailureRate:
    """Problems (failed + error) among the checks that ran, for one group.

    Skipped checks did not run (a dependency was down, or the run did not select them):
    they are counted apart and left out of `total`, so they do not dilute the rate.
    """

    key: dict[str, str]
    total: int
    problems: int
    skipped: int = 0

    @property
    def rate(self) -> float:
        return self.problems / self.total if self.total else 0.0
