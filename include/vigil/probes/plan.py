"""What the planner would do with a query, and assertions about it.

A latency threshold says a query got slow; its plan says why, and catches it before it
does: "the order-history query uses orders_tenant_id_customer_id_idx" fails the day
someone drops the index, on a tiny staging table where the timing still looks fine.

`explain` asks for `EXPLAIN (FORMAT JSON)`, never ANALYZE: nothing the query would do
runs, so it is safe on any database. It runs in a read-only transaction all the same
(`BEGIN READ ONLY` ... `ROLLBACK` of its own, or the caller's made read-only), as the
load probe's executions do. Parameters are bound as they would be for the real query,
so the planner sees the same values.
`facts` walks the whole tree: every node's "Plans" (join sides, InitPlans, SubPlans,
CTEs, Append members) whatever its type. In JSON a parallel sequential scan is a "Seq
Scan" node with "Parallel Aware": true; it is counted (and shown) as "Parallel Seq Scan",
and is a sequential scan all the same.

`max_estimated_rows` bounds the largest row estimate of ANY node, not only the top one:
under a `LIMIT 20` the top node says 20 rows even when it stops a Seq Scan expected to
read a million. (A node on the inner side of a nested loop estimates rows per loop.)

Limitation, partitioned tables: scans name the partitions (`orders_2024`,
`orders_2025`), never the partitioned table, so `no_seq_scan_on: [orders]` holds even
when every partition of `orders` is read whole, and `uses_index` must name a partition's
own index. Name the partitions you mean; a name prefix is not a safe guess (`orders_`
also prefixes `orders_archive`, a table of its own).
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import psycopg2.extensions

from vigil.probes.pg_query import single_statement

DEFAULT_MAX_NODES = 40

__all__ = [
    "PlanFacts",
    "PlanVerdict",
    "access_paths",
    "check_plan",
    "describe",
    "explain",
    "facts",
    "node_label",
    "relation",
    "truncated_plan",
    "walk",
]


def explain(
    cur_or_conn: Any, query: str, params: Sequence[Any] | Mapping[str, Any] | None
) -> dict[str, Any]:
    """The top "Plan" node of `EXPLAIN (FORMAT JSON) query`, with `params` bound.

    Takes a psycopg2 cursor or connection, and explains in a read-only transaction:
    - an idle connection, or a cursor in autocommit: one of its own, `BEGIN READ ONLY`
      ... `ROLLBACK` (the connection is left as it was found);
    - a cursor outside autocommit, or a connection inside a transaction: the caller's
      transaction (opened if none is), which `SET TRANSACTION READ ONLY` makes read-only
      for the rest of it; the caller ends it.
    ValueError if `query` is not one statement."""
    sql = "EXPLAIN (FORMAT JSON) " + single_statement(query)
    if hasattr(cur_or_conn, "execute"):
        return _read_only(cur_or_conn, sql, params)
    conn = cur_or_conn
    if conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
        with conn.cursor() as cur:
            return _read_only(cur, sql, params)
    autocommit = conn.autocommit
    conn.autocommit = True  # so that the BEGIN READ ONLY is ours, not psycopg2's BEGIN
    try:
        with conn.cursor() as cur:
            return _read_only(cur, sql, params)
    finally:
        if not conn.closed:
            conn.autocommit = autocommit


def _read_only(
    cur: Any, sql: str, params: Sequence[Any] | Mapping[str, Any] | None
) -> dict[str, Any]:
    if not cur.connection.autocommit:
        cur.execute("SET TRANSACTION READ ONLY")  # psycopg2 has opened one if none was
        return _explain(cur, sql, params)
    cur.execute("BEGIN READ ONLY")
    try:
        return _explain(cur, sql, params)
    finally:
        # A broken session cannot roll back; the EXPLAIN's own error is the one to see.
        with contextlib.suppress(psycopg2.Error):
            cur.execute("ROLLBACK")


def _explain(
    cur: Any, sql: str, params: Sequence[Any] | Mapping[str, Any] | None
) -> dict[str, Any]:
    cur.execute(sql, params)
    row = cur.fetchone()
    document = json.loads(row[0]) if isinstance(row[0], str) else row[0]
    plan: dict[str, Any] = document[0]["Plan"]
    return plan


def walk(plan: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every node of the tree, depth first, parents before children."""
    stack = [plan]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.get("Plans") or []))


def node_label(node: Mapping[str, Any]) -> str:
    """The node type as EXPLAIN's text format prints it ("Parallel Seq Scan")."""
    kind = str(node.get("Node Type", "?"))
    return f"Parallel {kind}" if node.get("Parallel Aware") else kind


def describe(node: Mapping[str, Any]) -> str:
    """The node as EXPLAIN's text format heads it: "Seq Scan on orders", "Hash Join"."""
    table = relation(node)
    return node_label(node) if table is None else f"{node_label(node)} on {table}"


def relation(node: Mapping[str, Any]) -> str | None:
    """The scanned table, schema-qualified when the plan says the schema (VERBOSE)."""
    name = node.get("Relation Name")
    if not name:
        return None
    schema = node.get("Schema")
    return f"{schema}.{name}" if schema else str(name)


@dataclass
class PlanFacts:
    """What a plan does, for assertions and evidence."""

    indexes_used: set[str] = field(default_factory=set)
    # Tables read by a sequential scan, parallel or not; the parallel ones also here:
    seq_scans: set[str] = field(default_factory=set)
    parallel_seq_scans: set[str] = field(default_factory=set)
    # Every table the plan reads, however.
    relations: set[str] = field(default_factory=set)
    # The top node's row estimate (what the query returns), and the largest estimate of
    # any node with that node ("Seq Scan on orders"), which `max_estimated_rows` bounds.
    estimated_rows: float = 0.0
    max_node_rows: float = 0.0
    max_rows_node: str = ""
    total_cost: float = 0.0
    node_types: Counter[str] = field(default_factory=Counter)


def facts(plan: Mapping[str, Any]) -> PlanFacts:
    """The facts of the plan whose top node is `plan`."""
    out = PlanFacts(
        estimated_rows=float(plan.get("Plan Rows", 0.0)),
        total_cost=float(plan.get("Total Cost", 0.0)),
    )
    for node in walk(plan):
        _add(out, node)
    return out


def _add(out: PlanFacts, node: Mapping[str, Any]) -> None:
    label = node_label(node)
    out.node_types[label] += 1
    rows = float(node.get("Plan Rows", 0.0))
    if rows > out.max_node_rows or not out.max_rows_node:
        out.max_node_rows, out.max_rows_node = rows, describe(node)
    if index := node.get("Index Name"):
        out.indexes_used.add(str(index))
    table = relation(node)
    if table is None:
        return
    out.relations.add(table)
    if node.get("Node Type") == "Seq Scan":
        out.seq_scans.add(table)
        if label.startswith("Parallel "):
            out.parallel_seq_scans.add(table)


@dataclass(frozen=True)
class PlanVerdict:
    """One assertion about a plan: whether it held, what it said, what the plan shows."""

    ok: bool
    asserted: str
    observed: str


def check_plan(
    plan_facts: PlanFacts,
    *,
    uses_index: Sequence[str] = (),
    no_seq_scan_on: Sequence[str] = (),
    max_estimated_rows: float | None = None,
    max_total_cost: float | None = None,
) -> list[PlanVerdict]:
    """One verdict per assertion, in the order given. Names may be schema-qualified
    ("public.orders"); an unqualified name matches in any schema. `max_estimated_rows`
    bounds the largest row estimate of any node (see the module's notes, also on
    partitioned tables)."""
    verdicts = [_uses_index(plan_facts, name) for name in uses_index]
    verdicts += [_no_seq_scan(plan_facts, name) for name in no_seq_scan_on]
    if max_estimated_rows is not None:
        verdicts.append(_largest_row_estimate(plan_facts, max_estimated_rows))
    if max_total_cost is not None:
        verdicts.append(_at_most("total cost", plan_facts.total_cost, max_total_cost))
    return verdicts


def _largest_row_estimate(plan_facts: PlanFacts, limit: float) -> PlanVerdict:
    rows = plan_facts.max_node_rows
    return PlanVerdict(
        ok=rows <= limit,
        asserted=f"largest row estimate <= {_number(limit)}",
        observed=f"largest row estimate {_number(rows)} ({plan_facts.max_rows_node})",
    )


def _uses_index(plan_facts: PlanFacts, name: str) -> PlanVerdict:
    return PlanVerdict(
        ok=_matches(name, plan_facts.indexes_used),
        asserted=f"uses index {name}",
        observed=access_paths(plan_facts),
    )


def _no_seq_scan(plan_facts: PlanFacts, name: str) -> PlanVerdict:
    scanned = _matches(name, plan_facts.seq_scans)
    observed = _seq_scan_text(plan_facts) if scanned else f"no Seq Scan on {name}"
    return PlanVerdict(ok=not scanned, asserted=f"no Seq Scan on {name}", observed=observed)


def _at_most(what: str, value: float, limit: float) -> PlanVerdict:
    return PlanVerdict(
        ok=value <= limit,
        asserted=f"{what} <= {_number(limit)}",
        observed=f"{what} {_number(value)}",
    )


def _number(value: float) -> str:
    """1000000, 95.5, 0.01: plain digits (no exponent), at most two decimals."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def access_paths(plan_facts: PlanFacts) -> str:
    """How the plan reads its tables, in one line: "Seq Scan on orders; indexes used:
    none"."""
    indexes = ", ".join(sorted(plan_facts.indexes_used)) or "none"
    parts = [_seq_scan_text(plan_facts)] if plan_facts.seq_scans else []
    return "; ".join([*parts, f"indexes used: {indexes}"])


def _seq_scan_text(plan_facts: PlanFacts) -> str:
    names = [
        f"{'Parallel ' if table in plan_facts.parallel_seq_scans else ''}Seq Scan on {table}"
        for table in sorted(plan_facts.seq_scans)
    ]
    return ", ".join(names)


def _matches(wanted: str, observed: set[str]) -> bool:
    """`wanted` is among `observed`. Without VERBOSE the plan names no schema, so a
    qualified name also matches its bare name, and a bare name matches in any schema."""
    if wanted in observed:
        return True
    if "." in wanted:
        return wanted.rsplit(".", 1)[1] in observed
    return any(name.rsplit(".", 1)[-1] == wanted for name in observed)


def truncated_plan(plan: Mapping[str, Any], max_nodes: int = DEFAULT_MAX_NODES) -> dict[str, Any]:
    """The tree for evidence: per node its type, table, index, estimated rows and total
    cost, children nested; only the first `max_nodes` nodes (depth first), with a note
    saying how many were left out."""
    budget = [max(1, max_nodes)]
    out = _summary(plan, budget)
    total = sum(1 for _ in walk(plan))
    shown = max(1, max_nodes) - budget[0]
    if shown < total:
        out["note"] = f"plan cut: {shown} of {total} nodes shown (depth first)"
    return out


def _summary(node: Mapping[str, Any], budget: list[int]) -> dict[str, Any]:
    budget[0] -= 1
    out: dict[str, Any] = {"node": node_label(node)}
    details = {
        "relation": relation(node),
        "alias": node.get("Alias") if node.get("Alias") != node.get("Relation Name") else None,
        "index": node.get("Index Name"),
        "cte": node.get("CTE Name"),
        "subplan": node.get("Subplan Name"),
        "join": node.get("Join Type"),
        "rows": node.get("Plan Rows"),
        "cost": node.get("Total Cost"),
    }
    out.update({key: value for key, value in details.items() if value is not None})
    children = []
    for child in node.get("Plans") or []:
        if budget[0] <= 0:
            break
        children.append(_summary(child, budget))
    if children:
        out["children"] = children
    return out
