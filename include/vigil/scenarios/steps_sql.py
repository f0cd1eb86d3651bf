"""The `sql` step: one read-only query on a `postgres` target, its parameters bound by the
driver from variables; what its conditions and captures read is the document
`{"row_count": N, "rows": [{column: value}, ...]}` (at most `max_rows` rows, JSON-safe).

Nothing is written through a journey's query. The session is read-only
(`default_transaction_read_only`, `vigil.pg`), and each execution runs between
`BEGIN READ ONLY` and a ROLLBACK, as the query probes do: a COMMIT inside the statement (a
DO block, a procedure) fails instead of ending the transaction, and whatever the statement
did is rolled back. `statement_timeout` is the step's bound, set for that transaction.

Sessions are kept per thread and per connection, so a wait repeating its query or a
parallel step's copies do not connect for every execution; a session that broke is
dropped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from vigil import pg
from vigil.config_errors import ConfigError
from vigil.context import RunContext
from vigil.masking import Masker
from vigil.scenarios import templating, trace
from vigil.scenarios.expect import Judgement, capture, judge
from vigil.scenarios.models import SqlQuery, Step
from vigil.scenarios.trace import StepOutcome
from vigil.spec.models import PostgresTarget
from vigil.spec.secret_shapes import is_secret_name

APPLICATION_NAME = "vigil-scenario"
Connection = psycopg2.extensions.connection

_local = threading.local()


class SqlError(Exception):
    """The query could not run: no connection, a driver error, a timeout."""


@dataclass
class SqlPlan:
    target: str
    connect: dict[str, Any]  # psycopg2.connect keyword arguments (password masked in text)
    query: str
    params: dict[str, Any]  # `${ENV}` expanded; `{{templates}}` left to fill
    max_rows: int


def plan(query: SqlQuery, ctx: RunContext) -> SqlPlan:
    """Prepare `query`; ConfigError for a target that is not a postgres one, an undefined
    connection, or an unset `${VAR}` in a parameter."""
    target = ctx.spec.targets.get(query.target)
    if not isinstance(target, PostgresTarget):
        kind = getattr(target, "kind", None)
        what = f"a {kind!r} target" if kind else "not declared"
        raise ConfigError(f"target {query.target!r} is {what}; an sql step needs a 'postgres' one")
    params = {
        name: ctx.resolve(value, secret=is_secret_name(name)) if isinstance(value, str) else value
        for name, value in query.params.items()
    }
    return SqlPlan(
        target=query.target,
        connect=ctx.connection(target.conn_id).postgres_kwargs(),
        query=query.query,
        params=params,
        max_rows=query.max_rows,
    )


def execute(plan: SqlPlan, params: Mapping[str, Any], timeout_s: float) -> dict[str, Any]:
    """The query's document; SqlError when it cannot run (no connection, a driver error,
    its statement_timeout). A kept session the server has dropped since is replaced once:
    the query only reads, so running it again is harmless."""
    deadline = time.perf_counter() + timeout_s
    conn, reused = _session(plan, timeout_s)
    try:
        return _run(conn, plan, params, timeout_s)
    except _Lost as lost:
        _forget(plan)
        left = deadline - time.perf_counter()
        if not reused or left <= 0:
            raise SqlError(f"lost the connection: {lost}") from None
    conn, _ = _session(plan, left)
    try:
        return _run(conn, plan, params, left)
    except _Lost as lost:
        _forget(plan)
        raise SqlError(f"lost the connection: {lost}") from None


class _Lost(Exception):
    """The session broke (the server closed it, or it died mid-query)."""


def _run(
    conn: Connection, plan: SqlPlan, params: Mapping[str, Any], timeout_s: float
) -> dict[str, Any]:
    try:
        with conn.cursor() as cur:
            cur.execute("BEGIN READ ONLY")
            try:
                cur.execute("SET LOCAL statement_timeout = %s", (max(1, int(timeout_s * 1000)),))
                # No parameters: None, so a literal % (LIKE 'a%') is not a placeholder.
                cur.execute(plan.query, dict(params) or None)
                return _document(cur, plan.max_rows)
            finally:
                cur.execute("ROLLBACK")
    except psycopg2.errors.QueryCanceled as exc:
        raise SqlError(f"query cancelled after {timeout_s:.1f}s ({pg.first_line(exc)})") from None
    except psycopg2.Error as exc:
        if conn.closed:
            raise _Lost(pg.first_line(exc)) from None
        raise SqlError(f"query failed: {pg.first_line(exc)}") from None
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        # Raised by psycopg2 while binding: a %(name)s without its parameter, and such.
        raise SqlError(
            f"the parameters do not fit the query: {type(exc).__name__}: {exc}"
        ) from None


def _session(plan: SqlPlan, timeout_s: float) -> tuple[Connection, bool]:
    """This thread's open session for the plan's connection (reused: True), or a new one."""
    sessions: dict[str, Connection] | None = getattr(_local, "sessions", None)
    if sessions is None:
        sessions = _local.sessions = {}
    key = _key(plan)
    conn = sessions.get(key)
    if conn is not None and not conn.closed:
        return conn, True
    try:
        conn = pg.connect(
            plan.connect,
            application_name=APPLICATION_NAME,
            connect_timeout_s=max(1.0, timeout_s),
        )
    except psycopg2.Error as exc:
        raise SqlError(
            f"cannot connect to {pg.describe(plan.connect)}: {pg.first_line(exc)}"
        ) from None
    # BEGIN READ ONLY and ROLLBACK are sent explicitly: psycopg2 must not open its own.
    conn.autocommit = True
    sessions[key] = conn
    return conn, False


def _key(plan: SqlPlan) -> str:
    return repr(sorted((k, str(v)) for k, v in plan.connect.items()))


def _forget(plan: SqlPlan) -> None:
    sessions: dict[str, Connection] = getattr(_local, "sessions", {})
    conn = sessions.pop(_key(plan), None)
    if conn is not None:
        with contextlib.suppress(psycopg2.Error):
            conn.close()


def close_thread_sessions() -> None:
    """Close this thread's sessions (a worker about to end, a journey done)."""
    sessions: dict[str, Connection] = getattr(_local, "sessions", {})
    for conn in sessions.values():
        with contextlib.suppress(psycopg2.Error):
            conn.close()
    sessions.clear()


def _document(cur: Any, max_rows: int) -> dict[str, Any]:
    if cur.description is None:  # a statement that returns no rows
        return {"row_count": max(0, cur.rowcount), "rows": []}
    names = [column.name for column in cur.description]
    rows = cur.fetchmany(max_rows)
    return {
        "row_count": cur.rowcount,
        "rows": [
            {name: json_safe(value) for name, value in zip(names, row, strict=True)} for row in rows
        ],
    }


def json_safe(value: Any) -> Any:
    """A database value as JSON has it: numbers, text, ISO timestamps, lists, objects."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, decimal.Decimal):
        return (
            int(value) if value == value.to_integral_value() and value.is_finite() else float(value)
        )
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview | bytearray):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_safe(v) for v in value]
    return str(value)


def bound_params(plan: SqlPlan, variables: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters with their templates filled (TemplateError when one is unset): a
    whole template keeps its value's type, so a list binds as an array (`= ANY(%(ids)s)`)."""
    return {name: templating.render(value, variables) for name, value in plan.params.items()}


def run(step: Step, plan: SqlPlan, variables: Mapping[str, Any], timeout_s: float) -> StepOutcome:
    """One sql step: bind, query, judge, capture."""
    start = time.perf_counter()
    try:
        params = bound_params(plan, variables)
    except templating.TemplateError as exc:
        return trace.unset(exc)
    try:
        document = execute(plan, params, timeout_s)
    except SqlError as exc:
        ms = (time.perf_counter() - start) * 1000
        return trace.error(
            f"{plan.target}: {exc}", ms=ms, evidence=evidence(plan, params, None, None)
        )
    judgement = Judgement()
    judge(step.expect.conditions, document, None, variables, judgement)
    capture(step.capture, document, None, judgement, where="the result")
    ms = (time.perf_counter() - start) * 1000
    shown = evidence(plan, params, document, judgement)
    if judgement.problems:
        return trace.failed(
            "; ".join(judgement.problems), ms=ms, captured=judgement.captured, evidence=shown
        )
    return trace.passed(ms=ms, captured=judgement.captured, evidence=shown)


def evidence(
    plan: SqlPlan,
    params: Mapping[str, Any],
    document: dict[str, Any] | None,
    judgement: Judgement | None,
) -> trace.Evidence:
    def shown(masker: Masker) -> dict[str, Any]:
        out: dict[str, Any] = {"request": request_shown(plan, params, masker)}
        if document is not None:
            out["response"] = document_shown(document, masker)
        if judgement is not None and judgement.judged:
            out["conditions"] = judgement.records()
        return out

    return shown


def request_shown(plan: SqlPlan, params: Mapping[str, Any], masker: Masker) -> dict[str, Any]:
    return {
        "target": plan.target,
        "query": trace.cut(masker.mask(plan.query)),
        "params": {
            name: "***" if is_secret_name(name) else masker.mask_value(value)
            for name, value in params.items()
        },
    }


def document_shown(document: Mapping[str, Any], masker: Masker) -> dict[str, Any]:
    rows = document.get("rows", [])
    return {
        "row_count": document.get("row_count"),
        "rows": masker.mask_value(rows[: trace.SHOWN_ROWS]),
    }
