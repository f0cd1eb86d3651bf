"""Validate one PostgreSQL table against one GX suite: one CheckResult per expectation.

Nothing escapes as an exception: a suite that cannot be used, a database that is down, a
table that does not exist, a row filter that is not SQL, a query the read-only session
refuses — each becomes `error` results that say which and why. An expectation about a
column the table does not have is not run: it *fails* (the data is not what the suite
expects, which retrying will not change) naming the column. An expectation GX's SQL engine
cannot run (`vigil.quality.runnable`) is not sent to GX either: it is an `error` saying
why and what to write instead. How the two passes keep clean data near the cost of one
SQL scan is written down in `vigil.quality.plan`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2

from vigil.context import ConnectionInfo
from vigil.quality import build, redact
from vigil.quality.connection import ConnLike, Database, database
from vigil.quality.gx_run import Batch, Outcome, clean_error
from vigil.quality.plan import CHEAP_FORMAT, EVIDENCE_FORMAT, Planned, Step, is_map, plan
from vigil.quality.preflight import TableInfo, first_line, missing_columns, preflight
from vigil.quality.suites import Suite, load_suite
from vigil.result import CheckResult, Status

Pair = tuple[Outcome, Outcome | None]  # (cheap pass, evidence pass) of one check


@dataclass
class Validation:
    """One suite validated against one table: its results, and what GX said (Data Docs).

    `outcomes[i]` belongs to `suite.checks[i]`; None where that check never reached GX
    (the database was down, or a column it names does not exist). `batch_meta` is GX's
    meta of the first pass (batch, time), empty when no pass ran.
    """

    results: list[CheckResult]
    suite: Suite | None = None
    schema: str = "public"
    table: str = ""
    outcomes: list[Pair | None] = field(default_factory=list)
    batch_meta: dict[str, Any] = field(default_factory=dict)


def validate_table(
    conn: ConnLike,
    suite_path: str | Path,
    table: str,
    *,
    schema: str = "public",
    row_filter: str | None = None,
    target: str | None = None,
    statement_timeout_s: float = 300.0,
    connect_timeout_s: float = 10.0,
    sensitive: redact.Sensitive | None = None,
) -> list[CheckResult]:
    """Run the suite at `suite_path` against `schema.table`, read-only.

    `conn`: a ConnectionInfo, a libpq DSN/URI, or psycopg2 keyword arguments.
    `row_filter`: an SQL condition restricting the rows validated, e.g.
    ``created_at >= now() - interval '1 day'``. `target`: the Vigil target named in every
    result (default: the connection id, else the database name). `sensitive`: whose
    sampled values are redacted (default: the default patterns), with the suite's own
    `meta.sensitive_columns` added.
    """
    return validate(
        conn,
        suite_path,
        table,
        schema=schema,
        row_filter=row_filter,
        target=target,
        statement_timeout_s=statement_timeout_s,
        connect_timeout_s=connect_timeout_s,
        sensitive=sensitive,
    ).results


def validate(
    conn: ConnLike,
    suite_path: str | Path,
    table: str,
    *,
    schema: str = "public",
    row_filter: str | None = None,
    target: str | None = None,
    statement_timeout_s: float = 300.0,
    connect_timeout_s: float = 10.0,
    sensitive: redact.Sensitive | None = None,
) -> Validation:
    """`validate_table`, keeping what GX said about each check (see `Validation`)."""
    started, t0 = datetime.now(UTC), time.perf_counter()
    db: Database | None = None
    try:
        db = database(
            conn, statement_timeout_s=statement_timeout_s, connect_timeout_s=connect_timeout_s
        )
        info = TableInfo()
    except psycopg2.Error as exc:  # a DSN libpq cannot parse
        info = TableInfo(f"invalid connection settings: {first_line(exc)}")
    target = target or _default_target(conn, db)
    try:
        suite = load_suite(suite_path)
    except Exception as exc:  # SuiteError, or GX itself failing to import
        return Validation([_suite_error(suite_path, target, started, str(exc))])
    found = Validation([], suite, schema, table, [None] * len(suite.checks))
    rules = (sensitive or redact.Sensitive()).plus(
        suite.sensitive_columns, suite.not_sensitive_columns
    )
    plans: dict[int, Planned] = {}
    if db is not None:
        info = preflight(db, schema, table, row_filter)
    if info.problem is None and db is not None:
        try:
            plans = _passes(db, suite, found, info, row_filter, rules)
        except Exception as exc:  # GX set-up or run failed as a whole
            info = TableInfo(db.mask(clean_error(f"{type(exc).__name__}: {exc}")))
    where = build.Where(
        target=target,
        suite=suite.name,
        schema=schema,
        table=table,
        row_filter=row_filter,
        started_at=started,
        duration_ms=round((time.perf_counter() - t0) * 1000 / max(1, len(suite.checks)), 3),
    )
    if info.problem is not None:
        found.outcomes = [None] * len(suite.checks)
        found.results = [build.error(check, where, info.problem) for check in suite.checks]
        return found
    for i, check in enumerate(suite.checks):
        pair = found.outcomes[i]
        if i in plans and pair is not None:
            found.results.append(build.from_outcomes(plans[i], where, *pair))
        elif check.cannot_run:
            found.results.append(build.error(check, where, check.cannot_run))
        else:
            missing = missing_columns(check, info.columns)
            found.results.append(build.missing_columns(check, where, missing))
    return found


def _passes(
    db: Database,
    suite: Suite,
    found: Validation,
    info: TableInfo,
    row_filter: str | None,
    sensitive: redact.Sensitive,
) -> dict[int, Planned]:
    """Run the cheap pass over every check whose columns exist, then the evidence pass
    over those that failed; fills `found.outcomes` and `found.batch_meta`. Values of
    sensitive columns are redacted in each outcome as GX hands it over."""
    checks = suite.checks
    runnable = [
        i for i, c in enumerate(checks) if not c.cannot_run and not missing_columns(c, info.columns)
    ]
    if not runnable:
        return {}
    plans = {i: plan(checks[i], is_map=is_map(checks[i].type)) for i in runnable}
    batch = Batch(db, found.schema, found.table, row_filter)
    outcomes = batch.run([plans[i].cheap for i in runnable], CHEAP_FORMAT)
    cheap = {
        i: _redacted(outcome, plans[i].cheap, sensitive, info)
        for i, outcome in zip(runnable, outcomes, strict=True)
    }
    again = [
        i
        for i in runnable
        if not cheap[i].success and cheap[i].error is None and plans[i].evidence is not None
    ]
    evidence: dict[int, Outcome] = {}
    if again:
        steps = [step for i in again if (step := plans[i].evidence) is not None]
        # Failing rows are named by their primary key too, so a NULL has an address.
        fmt = (
            {**EVIDENCE_FORMAT, "unexpected_index_column_names": info.key}
            if info.key
            else EVIDENCE_FORMAT
        )
        evidence = {
            i: _redacted(outcome, step, sensitive, info)
            for i, step, outcome in zip(again, steps, batch.run(steps, fmt), strict=True)
        }
    for i in runnable:
        found.outcomes[i] = (cheap[i], evidence.get(i))
    found.batch_meta = batch.meta
    return plans


def _redacted(
    outcome: Outcome, step: Step, sensitive: redact.Sensitive, info: TableInfo
) -> Outcome:
    return redact.outcome(outcome, step.type, step.kwargs, sensitive, info.columns)


def _default_target(conn: ConnLike, db: Database | None) -> str:
    if isinstance(conn, ConnectionInfo):
        return conn.conn_id
    return db.name if db is not None else "postgres"


def _suite_error(path: str | Path, target: str, started: datetime, reason: str) -> CheckResult:
    return CheckResult(
        check_id=f"{Path(path).stem}.suite",
        family=build.KIND,
        target=target,
        status=Status.ERROR,
        started_at=started,
        message=" ".join(f"suite {Path(path).name} cannot be used: {reason}".split()),
        details={"suite_path": str(path), "error": reason},
    )
