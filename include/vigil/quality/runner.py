"""Validate one PostgreSQL table against one GX suite: one CheckResult per expectation.

Nothing escapes as an exception: a suite that cannot be used, a database that is down, a
table that does not exist, a row filter that is not SQL, a query the read-only session
refuses — each becomes `error` results that say which and why. How the two passes keep
clean data near the cost of one SQL scan is written down in `vigil.quality.plan`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg2

from vigil.context import ConnectionInfo
from vigil.quality import build
from vigil.quality.connection import ConnLike, Database, database
from vigil.quality.gx_run import Batch, Outcome, clean_error, quote
from vigil.quality.plan import CHEAP_FORMAT, EVIDENCE_FORMAT, Planned, is_map, plan
from vigil.quality.suites import Suite, load_suite
from vigil.result import CheckResult, Status


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
) -> list[CheckResult]:
    """Run the suite at `suite_path` against `schema.table`, read-only.

    `conn`: a ConnectionInfo, a libpq DSN/URI, or psycopg2 keyword arguments.
    `row_filter`: an SQL condition restricting the rows validated, e.g.
    ``created_at >= now() - interval '1 day'``. `target`: the Vigil target named in every
    result (default: the connection id, else the database name).
    """
    started, t0 = datetime.now(UTC), time.perf_counter()
    db: Database | None = None
    try:
        db = database(
            conn, statement_timeout_s=statement_timeout_s, connect_timeout_s=connect_timeout_s
        )
        problem = None
    except psycopg2.Error as exc:  # a DSN libpq cannot parse
        problem = f"invalid connection settings: {_first_line(exc)}"
    target = target or _default_target(conn, db)
    try:
        suite = load_suite(suite_path)
    except Exception as exc:  # SuiteError, or GX itself failing to import
        return [_suite_error(suite_path, target, started, str(exc))]
    if db is not None:
        problem = preflight(db, schema, table, row_filter)
    plans: list[Planned] = []
    outcomes: list[tuple[Outcome, Outcome | None]] = []
    if problem is None and db is not None:
        try:
            plans, outcomes = _validate(db, suite, schema, table, row_filter)
        except Exception as exc:  # GX set-up or run failed as a whole
            problem = db.hide(clean_error(f"{type(exc).__name__}: {exc}"))
    share = (time.perf_counter() - t0) * 1000 / max(1, len(suite.checks))
    where = build.Where(
        target=target,
        suite=suite.name,
        schema=schema,
        table=table,
        row_filter=row_filter,
        started_at=started,
        duration_ms=round(share, 3),
    )
    if problem is not None:
        return [build.error(check, where, problem) for check in suite.checks]
    return [
        build.from_outcomes(item, where, cheap, evidence)
        for item, (cheap, evidence) in zip(plans, outcomes, strict=True)
    ]


def _validate(
    db: Database,
    suite: Suite,
    schema: str,
    table: str,
    row_filter: str | None,
) -> tuple[list[Planned], list[tuple[Outcome, Outcome | None]]]:
    plans = [plan(check, is_map=is_map(check.type)) for check in suite.checks]
    batch = Batch(db, schema, table, row_filter)
    cheap = batch.run([p.cheap for p in plans], CHEAP_FORMAT)
    again = [
        i
        for i, (p, o) in enumerate(zip(plans, cheap, strict=True))
        if not o.success and o.error is None and p.evidence is not None
    ]
    evidence: dict[int, Outcome] = {}
    if again:
        steps = [p.evidence for i, p in enumerate(plans) if i in again and p.evidence]
        evidence = dict(zip(again, batch.run(steps, EVIDENCE_FORMAT), strict=True))
    return plans, [(cheap[i], evidence.get(i)) for i in range(len(plans))]


def preflight(db: Database, schema: str, table: str, row_filter: str | None) -> str | None:
    """Why validating cannot start (database down, no such table, bad filter), or None.

    Answered by one short psycopg2 session, so these common problems get a plain message
    instead of whatever GX wraps them in.
    """
    try:
        conn = db.connect()
    except psycopg2.Error as exc:
        return f"cannot connect to PostgreSQL at {db.describe()}: {db.hide(_first_line(exc))}"
    qualified = f"{quote(schema)}.{quote(table)}"
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s)", (qualified,))
            row = cur.fetchone()
            if row is None or row[0] is None:
                return (
                    f"table {schema}.{table} does not exist in database {db.name} ({db.describe()})"
                )
            if row_filter:
                try:
                    cur.execute(f"EXPLAIN SELECT 1 FROM {qualified} WHERE {row_filter}")
                except psycopg2.Error as exc:
                    return f"row filter {row_filter!r} is not valid SQL here: {_first_line(exc)}"
    except psycopg2.Error as exc:
        return f"PostgreSQL at {db.describe()}: {db.hide(_first_line(exc))}"
    finally:
        conn.close()
    return None


def _default_target(conn: ConnLike, db: Database | None) -> str:
    if isinstance(conn, ConnectionInfo):
        return conn.conn_id
    return db.name if db is not None else "postgres"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0].strip()


def _suite_error(path: str | Path, target: str, started: datetime, reason: str) -> CheckResult:
    return CheckResult(
        check_id=f"{Path(path).stem}.suite",
        kind=build.KIND,
        target=target,
        status=Status.ERROR,
        started_at=started,
        message=" ".join(f"suite {Path(path).name} cannot be used: {reason}".split()),
        details={"suite_path": str(path), "error": reason},
    )
