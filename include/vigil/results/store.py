"""ResultStore: runs and their CheckResults in PostgreSQL (schema `vigil`).

Writes are transactional and idempotent per (run, check): a retried Airflow task that
records the same checks again replaces them, and run counts are recomputed from what is
stored. The schema is migrated lazily, once per process per database, on first use.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from psycopg2.extras import Json, execute_values

from vigil.context import ConnectionInfo
from vigil.result import CheckResult
from vigil.results import db, migrations, queries
from vigil.results.models import (
    FailureRate,
    HistoryEntry,
    RunRef,
    RunSummary,
    StoreError,
)

__all__ = ["FailureRate", "HistoryEntry", "ResultStore", "RunRef", "RunSummary", "StoreError"]


class ResultStore:
    """The results store at one PostgreSQL database; cheap to create, holds no connection."""

    # Databases this process has migrated: migrate once, not on every call.
    _migrated: ClassVar[set[tuple[tuple[str, str], ...]]] = set()
    _migrate_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        connect_kwargs: Mapping[str, Any] | str,
        *,
        migrations_dir: Path = migrations.MIGRATIONS_DIR,
    ) -> None:
        self._kwargs = db.normalize(connect_kwargs)
        self._migrations_dir = migrations_dir

    @classmethod
    def from_connection(cls, info: ConnectionInfo) -> ResultStore:
        return cls(info.postgres_kwargs())

    def __repr__(self) -> str:
        return f"ResultStore({db.describe(self._kwargs)})"

    # --- schema ---------------------------------------------------------------------

    def migrate(self, *, purpose: str = "") -> list[str]:
        """Apply pending migrations; returns the versions this call applied."""
        applied = migrations.apply(self._kwargs, self._migrations_dir, purpose=purpose)
        self._migrated.add(self._key)
        return applied

    @property
    def _key(self) -> tuple[tuple[str, str], ...]:
        return (*db.identity(self._kwargs), ("migrations", str(self._migrations_dir)))

    def _ensure_schema(self, action: str) -> None:
        """Migrate on this process's first use of the database; `action` is what the
        caller wanted, so a failure here still says what was being attempted."""
        if self._key in self._migrated:
            return
        with self._migrate_lock:
            if self._key not in self._migrated:
                self.migrate(purpose=f"before its first use here, to {action}")

    # --- writes ---------------------------------------------------------------------

    def start_run(
        self,
        run: RunRef,
        *,
        params: dict[str, Any] | None = None,
        dry_run: bool = False,
        started_at: datetime | None = None,
    ) -> None:
        """Create the run, or update its params/dry_run (and started_at when given)."""
        action = f"start run {run}"
        self._ensure_schema(action)
        with db.transaction(self._kwargs, action) as cur:
            cur.execute(
                queries.START_RUN,
                {
                    **_ref_params(run),
                    "started_at": started_at,
                    "dry_run": dry_run,
                    # default=str: run parameters may hold dates; keep them readable.
                    "params": Json(params, dumps=_dumps) if params is not None else None,
                },
            )
            _check_same_run(run, db.returned_row(cur, action))

    def record(
        self,
        run: RunRef,
        results: Sequence[CheckResult],
        *,
        replace: tuple[str, ...] | None = None,
    ) -> None:
        """Store `results` for `run` (creating the run if needed), in one transaction.

        A check recorded again for the same run replaces its earlier result; within one
        call, the last result of a check_id wins. With `replace=(family, target)`, this call's
        results are the whole truth for that task: earlier rows of that family and target
        whose ids are not among them go (a retry that succeeds after a whole-suite error
        must not leave the error behind). `(family, target, check)` narrows that to one
        spec check and its parts (a task per check: its siblings' rows stay).
        """
        latest = {r.check_id: r for r in results}  # last one wins, as a retry would
        first = min((r.started_at for r in latest.values()), default=None)
        action = f"record {len(latest)} result(s) for run {run}"
        self._ensure_schema(action)
        with db.transaction(self._kwargs, action) as cur:
            run_pk = self.ensure_run(cur, run, first)
            if replace is not None:
                cur.execute(
                    queries.DELETE_STALE,
                    {
                        "run": run_pk,
                        "family": replace[0],
                        "target": replace[1],
                        "check": replace[2] if len(replace) > 2 else None,
                        "keep": list(latest),
                    },
                )
            if latest:
                rows = [_result_values(run_pk, run.environment, r) for r in latest.values()]
                execute_values(cur, queries.UPSERT_RESULTS, rows, page_size=500)
            cur.execute(queries.REFRESH_RUN, {"run": run_pk, "finish": False, "ended_at": None})
            cur.execute(queries.REFRESH_RUN_FAMILIES, {"run": run_pk})

    def finish_run(self, run: RunRef, ended_at: datetime | None = None) -> RunSummary:
        """End the run: counts and state from its stored results (failed iff a critical
        check failed or errored), stored and returned. A run never started is created."""
        action = f"finish run {run}"
        self._ensure_schema(action)
        with db.transaction(self._kwargs, action) as cur:
            run_pk = self.ensure_run(cur, run, None)
            cur.execute(queries.REFRESH_RUN, {"run": run_pk, "finish": True, "ended_at": ended_at})
            return queries.to_summary(db.returned_row(cur, action))

    @staticmethod
    def ensure_run(cur: Any, run: RunRef, started_at: datetime | None) -> int:
        cur.execute(queries.ENSURE_RUN, {**_ref_params(run), "started_at": started_at})
        row = cur.fetchone()
        _check_same_run(run, row)
        return int(row["id"])

    # --- reads ----------------------------------------------------------------------

    def run_results(self, run: RunRef) -> list[CheckResult]:
        return self.results_of(run)

    def results_of(
        self, run: RunRef, *, family: str | None = None, targets: Iterable[str] | None = None
    ) -> list[CheckResult]:
        """The run's results, optionally of one family and some targets, by check_id."""
        params = {
            **_ref_params(run),
            "family": family,
            "targets": list(targets) if targets is not None else None,
        }
        rows = self._read(f"read the results of run {run}", queries.RUN_RESULTS, params)
        return [queries.to_result(row) for row in rows]

    def latest_results(self, environment: str) -> list[CheckResult]:
        """The newest result of every check ever recorded in `environment`, by check_id."""
        rows = self._read(
            f"read the latest results of {environment!r}",
            queries.LATEST_RESULTS,
            {"env": environment},
        )
        return [queries.to_result(row) for row in rows]

    def check_history(
        self,
        environment: str,
        check_id: str,
        *,
        last_runs: int | None = None,
        since: timedelta | None = None,
    ) -> list[HistoryEntry]:
        """One check's results, newest first: its last `last_runs` results (one per run)
        and/or those started within `since`; both None means all of them."""
        params = {
            "env": environment,
            "check_id": check_id,
            "limit": _positive("last_runs", last_runs),
            "cutoff": _cutoff(since),
        }
        action = f"read the history of check {check_id!r} in {environment!r}"
        return [
            queries.to_history(row) for row in self._read(action, queries.CHECK_HISTORY, params)
        ]

    def failure_rate(
        self,
        environment: str,
        *,
        last_runs: int | None = None,
        since: timedelta | None = None,
        by: Sequence[str] = ("family", "target"),
    ) -> list[FailureRate]:
        """Problems (failed + error) over checks that ran, per group, highest rate first.

        The window is the environment's `last_runs` newest runs and/or results started
        within `since`; both None means all history. Groups: any of queries.GROUPABLE.
        """
        by = tuple(by)
        sql = queries.failure_rate_sql(by, last_runs is not None)
        params = {
            "env": environment,
            "last_runs": _positive("last_runs", last_runs),
            "cutoff": _cutoff(since),
        }
        rows = self._read(f"compute failure rates of {environment!r}", sql, params)
        rates = [queries.to_failure_rate(row, by) for row in rows if row["total"] or row["skipped"]]
        return sorted(rates, key=lambda f: (-f.rate, -f.problems, [str(v) for v in f.key.values()]))

    def recent_runs(self, environment: str, limit: int = 20) -> list[RunSummary]:
        """The environment's newest runs, newest first."""
        params = {"env": environment, "limit": _positive("limit", limit)}
        rows = self._read(f"read the recent runs of {environment!r}", queries.RECENT_RUNS, params)
        return [queries.to_summary(row) for row in rows]

    # --- for the packages that share this schema (alerts, reports) ----------------------

    def connect_kwargs(self, action: str) -> Mapping[str, Any]:
        """psycopg2 settings of the store, with every migration applied first."""
        self._ensure_schema(action)
        return self._kwargs

    def read(self, action: str, sql: str, params: Mapping[str, Any]) -> list[Any]:
        """Rows of one read-only query against the `vigil` schema, errors as StoreError."""
        return self._read(action, sql, params)

    def _read(self, action: str, sql: str, params: Mapping[str, Any]) -> list[Any]:
        self._ensure_schema(action)
        with db.transaction(self._kwargs, action, readonly=True) as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())


# --- helpers ------------------------------------------------------------------------


def _ref_params(run: RunRef) -> dict[str, str]:
    return {
        "environment": run.environment,
        "cadence": run.cadence,
        "dag_id": run.dag_id,
        "run_id": run.run_id,
    }


def _check_same_run(run: RunRef, row: Mapping[str, Any]) -> None:
    """A (dag_id, run_id) belongs to one environment and cadence; a mismatch is a bug in
    the caller, and writing on would mix two environments' histories."""
    if (row["environment"], row["cadence"]) != (run.environment, run.cadence):
        raise StoreError(
            f"run {run} is already stored for environment {row['environment']!r}, cadence "
            f"{row['cadence']!r}; refusing to record it as {run.environment!r}/{run.cadence!r}"
        )


def _result_values(run_pk: int, environment: str, result: CheckResult) -> tuple[Any, ...]:
    row = result.to_row()
    json_columns = ("observed", "expected", "details")
    values = [
        Json(row[col]) if col in json_columns and row[col] is not None else row[col]
        for col in queries.RESULT_COLUMNS
    ]
    return (run_pk, environment, *values)


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


def _positive(name: str, value: int | None) -> int | None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _cutoff(since: timedelta | None) -> datetime | None:
    if since is None:
        return None
    if not isinstance(since, timedelta) or since <= timedelta(0):
        raise ValueError(f"since must be a positive timedelta, got {since!r}")
    return datetime.now(UTC) - since
