"""A `pg_plan` probe: EXPLAIN (never ANALYZE: nothing runs) and one result per assertion,
the plan (truncated) as evidence. A result's id is `<probe id>.<assertion>`:
`.uses_index.<index>`, `.no_seq_scan.<table>`, `.estimated_rows`, `.total_cost`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vigil import pg
from vigil.context import RunContext
from vigil.probes.judge import FAMILY
from vigil.probes.models import PgPlanProbe
from vigil.probes.pg_probe import APPLICATION, _connect_kwargs, _params
from vigil.result import CheckResult, Status


def plan_results(probe: PgPlanProbe, ctx: RunContext, started_at: datetime) -> list[CheckResult]:
    from vigil.probes.plan import check_plan, explain, facts, truncated_plan

    conn = pg.connect(
        _connect_kwargs(probe, ctx),
        application_name=APPLICATION,
        statement_timeout_s=probe.timeout_s,
        connect_timeout_s=probe.timeout_s,
    )
    try:
        plan = explain(conn, probe.query, _params(probe, ctx))
    finally:
        conn.close()
    found = facts(plan)
    verdicts = check_plan(
        found,
        uses_index=list(probe.uses_index),
        no_seq_scan_on=list(probe.no_seq_scan_on),
        max_estimated_rows=probe.max_estimated_rows,
        max_total_cost=probe.max_total_cost,
    )
    observed = {
        "indexes_used": sorted(found.indexes_used),
        "seq_scans": sorted(found.seq_scans),
        "estimated_rows": found.estimated_rows,
        "total_cost": found.total_cost,
    }
    details: dict[str, Any] = {"query": probe.query, "plan": truncated_plan(plan)}
    keys = _keys(probe)
    return [
        CheckResult.of(
            probe,
            FAMILY,
            Status.PASSED if v.ok else Status.FAILED,
            f"{v.asserted}: " + ("holds" if v.ok else f"FAILED: {v.observed}"),
            check_id=f"{probe.id}.{key}",
            parent=probe.id,
            started_at=started_at,
            observed=observed,
            expected=v.asserted,
            details=details,
        )
        for key, v in zip(keys, verdicts, strict=True)
    ]


def _keys(probe: PgPlanProbe) -> list[str]:
    """Result-id suffixes in check_plan's order: stable across runs, one per assertion."""
    keys = [f"uses_index.{name}" for name in probe.uses_index]
    keys += [f"no_seq_scan.{table}" for table in probe.no_seq_scan_on]
    if probe.max_estimated_rows is not None:
        keys.append("estimated_rows")
    if probe.max_total_cost is not None:
        keys.append("total_cost")
    return keys
