"""PostgreSQL health check: reachable, answering, the expected databases and schemas
exist, and there is connection headroom.

Everything runs in one read-only session with a statement timeout (`vigil.pg`), then
rolls back: validation never writes to the systems it watches.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import psycopg2.errors

from vigil import pg
from vigil.checks._common import Timer, build, error, fmt_ms, guarded, target_of
from vigil.checks.models import PostgresCheck
from vigil.context import ConnectionInfo, RunContext
from vigil.result import CheckResult, Status
from vigil.spec.models import PostgresTarget

CHECK_TYPE = "postgres"
APPLICATION_NAME = "vigil-health-check"

_FACTS = """
SELECT current_setting('server_version'),
       current_setting('max_connections')::int,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
       current_database(),
       current_setting('transaction_read_only')
"""


@dataclass
class Facts:
    connect_ms: float = 0.0
    query_ms: float = 0.0
    server_version: str = ""
    max_connections: int = 0
    used_connections: int = 0
    database: str = ""
    read_only: bool = False
    missing_databases: list[str] = field(default_factory=list)
    missing_schemas: list[str] = field(default_factory=list)

    @property
    def latency_ms(self) -> float:
        """What a client opening a fresh connection waits: connect plus one round trip."""
        return round(self.connect_ms + self.query_ms, 3)

    @property
    def usage(self) -> float:
        return self.used_connections / self.max_connections if self.max_connections else 0.0


def run(check: PostgresCheck, ctx: RunContext) -> list[CheckResult]:
    return guarded(check, ctx, CHECK_TYPE, _probe)


def _probe(check: PostgresCheck, ctx: RunContext, timer: Timer) -> CheckResult:
    target = target_of(check, ctx, PostgresTarget)
    info = ctx.connection(target.conn_id)  # remembers its password in ctx.masker
    where = describe_server(info)
    label = f"PostgreSQL {target.conn_id} ({where})"
    details: dict[str, Any] = {"conn_id": target.conn_id, "server": where}
    try:
        facts = inspect(info, check)
    except psycopg2.errors.QueryCanceled:
        return error(
            check,
            ctx,
            CHECK_TYPE,
            timer,
            f"{label}: query timed out after {check.timeout_s:g}s",
            details,
        )
    except psycopg2.Error as exc:
        # `build` masks the run's secrets, this connection's password among them.
        return error(check, ctx, CHECK_TYPE, timer, f"{label}: {_reason(exc)}", details)
    details["read_only_transaction"] = facts.read_only
    problems = judge(check, facts)
    if problems:
        status, message = Status.FAILED, f"{label}: " + "; ".join(problems)
    else:
        status = Status.PASSED
        message = (
            f"{label} answered in {fmt_ms(facts.latency_ms)} (PostgreSQL "
            f"{facts.server_version}, {facts.used_connections}/{facts.max_connections} "
            "connections in use)"
        )
    return build(
        check,
        ctx,
        CHECK_TYPE,
        timer,
        status,
        message,
        observed=_observed(facts),
        expected=_expected(check),
        details=details,
    )


def _reason(exc: psycopg2.Error) -> str:
    """The driver's whole message: its later lines say which host failed. Masked as it is
    (a secret with a newline in it must still match), made one line by the result."""
    return str(exc).strip() or type(exc).__name__


def describe_server(info: ConnectionInfo) -> str:
    return pg.address(info.postgres_kwargs())


def inspect(info: ConnectionInfo, check: PostgresCheck) -> Facts:
    start = time.perf_counter()
    conn = pg.connect(
        info.postgres_kwargs(),
        application_name=APPLICATION_NAME,
        statement_timeout_s=check.timeout_s,  # exact; libpq's connect timeout is whole seconds
        connect_timeout_s=check.timeout_s,
    )
    facts = Facts(connect_ms=_since(start))
    try:
        with conn.cursor() as cur:
            start = time.perf_counter()
            cur.execute("SELECT 1")
            cur.fetchone()
            facts.query_ms = _since(start)
            cur.execute(_FACTS)
            row = cur.fetchone()
            assert row is not None  # a SELECT without FROM always returns one row
            facts.server_version, facts.max_connections, facts.used_connections = row[:3]
            facts.database, facts.read_only = row[3], row[4] == "on"
            facts.missing_databases = _missing(
                cur, "pg_database", "datname", check.expect_databases
            )
            facts.missing_schemas = _missing(cur, "pg_namespace", "nspname", check.expect_schemas)
        conn.rollback()
    finally:
        conn.close()
    return facts


def _missing(cur: Any, catalog: str, column: str, wanted: list[str]) -> list[str]:
    if not wanted:
        return []
    # catalog and column are constants of this module, never spec input.
    cur.execute(f"SELECT {column} FROM {catalog} WHERE {column} = ANY(%s)", (wanted,))
    present = {name for (name,) in cur.fetchall()}
    return [name for name in wanted if name not in present]


def _since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def judge(check: PostgresCheck, facts: Facts) -> list[str]:
    problems = []
    if facts.missing_databases:
        problems.append("missing databases: " + ", ".join(facts.missing_databases))
    if facts.missing_schemas:
        problems.append(f"missing schemas in {facts.database}: " + ", ".join(facts.missing_schemas))
    limit = check.max_connection_usage
    if limit is not None and facts.usage > limit:
        problems.append(
            f"{facts.used_connections} of {facts.max_connections} connections in use "
            f"({facts.usage:.0%}), over the {limit:.0%} limit"
        )
    budget = check.latency_budget_ms
    if budget is not None and facts.latency_ms > budget:
        problems.append(
            f"answered in {fmt_ms(facts.latency_ms)}, over the {fmt_ms(budget)} latency budget"
        )
    return problems


def _observed(facts: Facts) -> dict[str, Any]:
    return {
        "latency_ms": facts.latency_ms,
        "connect_ms": facts.connect_ms,
        "query_ms": facts.query_ms,
        "server_version": facts.server_version,
        "database": facts.database,
        "connections": {
            "used": facts.used_connections,
            "max": facts.max_connections,
            "usage": round(facts.usage, 4),
        },
        "missing_databases": facts.missing_databases,
        "missing_schemas": facts.missing_schemas,
    }


def _expected(check: PostgresCheck) -> dict[str, Any]:
    expected: dict[str, Any] = {"answers": "SELECT 1"}
    if check.expect_databases:
        expected["databases"] = list(check.expect_databases)
    if check.expect_schemas:
        expected["schemas"] = list(check.expect_schemas)
    if check.max_connection_usage is not None:
        expected["max_connection_usage"] = check.max_connection_usage
    if check.latency_budget_ms is not None:
        expected["latency_budget_ms"] = check.latency_budget_ms
    return expected
