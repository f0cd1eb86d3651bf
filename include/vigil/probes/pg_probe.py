"""`pg_query` and `pg_connections` probes: the target's connection, its parameters
resolved, the measurement, and the figures and evidence each adds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vigil import pg
from vigil.context import RunContext
from vigil.probes.measure import Measurement
from vigil.probes.models import (
    ConnectionLoad,
    PgConnectionsProbe,
    PgPlanProbe,
    PgQueryProbe,
    QueryLoad,
)
from vigil.spec.models import PostgresTarget

APPLICATION = "vigil-probe"


def _connect_kwargs(probe: Any, ctx: RunContext) -> dict[str, Any]:
    target = ctx.spec.targets[probe.target]
    assert isinstance(target, PostgresTarget)  # the spec's references pass guarantees it
    return dict(ctx.connection(target.conn_id).postgres_kwargs())


def _params(probe: PgQueryProbe | PgPlanProbe, ctx: RunContext) -> Any:
    """Parameters with their `${VAR}` references resolved; bound by the driver."""

    def one(value: Any) -> Any:
        return ctx.resolve(value) if isinstance(value, str) else value

    if probe.params is None:
        return None
    if isinstance(probe.params, dict):
        return {k: one(v) for k, v in probe.params.items()}
    return [one(v) for v in probe.params]


def measure_query(
    probe: PgQueryProbe,
    load: QueryLoad,
    ctx: RunContext,
    abort: Callable[[Measurement, float], str | None] | None,
) -> tuple[Measurement, dict[str, float], dict[str, Any]]:
    from vigil.probes.pg_query import run_query_load

    kwargs = _connect_kwargs(probe, ctx)
    measured = run_query_load(
        kwargs,
        probe.query,
        _params(probe, ctx),
        concurrency=load.concurrency,
        iterations=load.iterations,
        duration_s=load.duration_s,
        warmup=load.warmup,
        timeout_s=probe.timeout_s,
        abort=abort,
    )
    evidence: dict[str, Any] = {"query": probe.query}
    if probe.statement_stats:
        evidence["slowest_statements"] = _statement_stats(kwargs)
    return measured, {}, evidence


def _statement_stats(kwargs: dict[str, Any]) -> Any:
    from vigil.probes.pg_stat import slowest_statements

    try:
        conn = pg.connect(kwargs, application_name=APPLICATION, statement_timeout_s=10)
    except Exception as exc:
        return {"unavailable": pg.first_line(exc)}
    try:
        with conn.cursor() as cur:
            return slowest_statements(cur) or {
                "unavailable": "pg_stat_statements is not installed in this database"
            }
    except Exception as exc:  # evidence only: never lose the measurement over it
        return {"unavailable": pg.first_line(exc)}
    finally:
        conn.close()


def measure_connections(
    probe: PgConnectionsProbe, load: ConnectionLoad, ctx: RunContext
) -> tuple[Measurement, dict[str, float], dict[str, Any]]:
    from vigil.probes.pg_connections import run_connection_probe

    found = run_connection_probe(
        _connect_kwargs(probe, ctx),
        connections=load.connections,
        hold_s=load.hold_s,
        timeout_s=probe.timeout_s,
    )
    figures = found.figures()
    extra = {k: v for k, v in figures.items() if k not in found.measurement.figures()}
    evidence: dict[str, Any] = {
        "max_connections": found.max_connections,
        "reserved_connections": found.reserved,
        "in_use_at_peak": found.in_use_at_peak,
    }
    if found.capacity_error:
        evidence["capacity_error"] = found.capacity_error
    return found.measurement, extra, evidence
