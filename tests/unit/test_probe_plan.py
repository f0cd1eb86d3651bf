"""The plan walker and its assertions on small hand-written EXPLAIN (FORMAT JSON) trees,
the evidence truncation, and the one-statement rule the probes put on query texts."""

from __future__ import annotations

from typing import Any

import pytest

from vigil.probes.pg_query import single_statement
from vigil.probes.plan import check_plan, facts, truncated_plan, walk

pytestmark = pytest.mark.unit


def node(kind: str, rows: float = 1.0, cost: float = 1.0, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"Node Type": kind, "Plan Rows": rows, "Total Cost": cost}
    out.update({key.replace("_", " "): value for key, value in extra.items()})
    return out


def scan(kind: str, table: str, rows: float = 1.0, **extra: Any) -> dict[str, Any]:
    return node(kind, rows, Relation_Name=table, Alias=table, **extra)


# SELECT ... FROM orders o JOIN customers c ... JOIN order_items i ... ORDER BY ... LIMIT:
# a Nested Loop over a Hash Join, an index-only scan inside, a bitmap scan below.
JOINS = node(
    "Limit",
    20,
    95.5,
    Plans=[
        node(
            "Nested Loop",
            40,
            95.0,
            Join_Type="Inner",
            Plans=[
                node(
                    "Hash Join",
                    10,
                    60.0,
                    Join_Type="Inner",
                    Plans=[
                        scan("Seq Scan", "customers", 3000),
                        node(
                            "Hash",
                            2,
                            12.0,
                            Plans=[
                                scan(
                                    "Bitmap Heap Scan",
                                    "orders",
                                    2,
                                    Plans=[
                                        node(
                                            "Bitmap Index Scan",
                                            2,
                                            Index_Name="orders_tenant_id_customer_id_idx",
                                        )
                                    ],
                                )
                            ],
                        ),
                    ],
                ),
                scan("Index Only Scan", "order_items", 4, Index_Name="order_items_order_id_idx"),
            ],
        )
    ],
)

# A partitioned table: Append over its partitions, one by index, the rest in parallel.
APPEND = node(
    "Gather",
    900,
    400.0,
    Plans=[
        node(
            "Append",
            900,
            300.0,
            Parallel_Aware=True,
            Plans=[
                scan("Seq Scan", "events_2024", 500, Parallel_Aware=True),
                scan("Seq Scan", "events_2025", 399, Parallel_Aware=True),
                scan("Index Scan", "events_2026", 1, Index_Name="events_2026_pkey"),
            ],
        )
    ],
)

# WITH recent AS MATERIALIZED (...) SELECT ... WHERE total > (SELECT avg(...)):
# the CTE and an InitPlan are children of the top node too.
CTE = node(
    "CTE Scan",
    50,
    220.0,
    CTE_Name="recent",
    Plans=[
        node(
            "Limit",
            100,
            120.0,
            Parent_Relationship="InitPlan",
            Subplan_Name="CTE recent",
            Plans=[
                scan("Index Scan Backward", "orders", 5000, Index_Name="orders_pkey"),
            ],
        ),
        node(
            "Aggregate",
            1,
            90.0,
            Parent_Relationship="InitPlan",
            Subplan_Name="InitPlan 2 (returns $1)",
            Plans=[scan("Seq Scan", "payments", 4800, Schema="billing")],
        ),
    ],
)


def test_walker_reaches_every_node_of_nested_joins() -> None:
    found = facts(JOINS)
    assert sum(1 for _ in walk(JOINS)) == 8
    assert found.relations == {"customers", "orders", "order_items"}
    assert found.indexes_used == {"orders_tenant_id_customer_id_idx", "order_items_order_id_idx"}
    assert found.seq_scans == {"customers"}
    assert found.parallel_seq_scans == set()
    assert found.estimated_rows == 20
    assert found.max_node_rows == 3000
    assert found.max_rows_node == "Seq Scan on customers"
    assert found.total_cost == 95.5
    assert found.node_types["Bitmap Index Scan"] == 1
    assert found.node_types["Hash Join"] == 1
    assert sum(found.node_types.values()) == 8


def test_parallel_seq_scans_are_seq_scans_and_named_so() -> None:
    found = facts(APPEND)
    assert found.seq_scans == {"events_2024", "events_2025"}
    assert found.parallel_seq_scans == {"events_2024", "events_2025"}
    assert found.indexes_used == {"events_2026_pkey"}
    assert found.node_types == {
        "Gather": 1,
        "Parallel Append": 1,
        "Parallel Seq Scan": 2,
        "Index Scan": 1,
    }
    [verdict] = check_plan(found, no_seq_scan_on=["events_2025"])
    assert not verdict.ok
    assert verdict.observed == (
        "Parallel Seq Scan on events_2024, Parallel Seq Scan on events_2025"
    )


def test_cte_and_init_plans_are_walked_and_schemas_kept() -> None:
    found = facts(CTE)
    assert found.relations == {"orders", "billing.payments"}
    assert found.seq_scans == {"billing.payments"}
    assert found.indexes_used == {"orders_pkey"}
    assert found.max_node_rows == 5000
    assert found.max_rows_node == "Index Scan Backward on orders"
    assert found.estimated_rows == 50


def test_verdicts_say_what_was_asserted_and_what_the_plan_shows() -> None:
    verdicts = check_plan(
        facts(JOINS),
        uses_index=["orders_tenant_id_customer_id_idx", "customers_tenant_id_idx"],
        no_seq_scan_on=["orders", "public.customers"],
        max_estimated_rows=10,
        max_total_cost=100,
    )
    assert [(v.ok, v.asserted) for v in verdicts] == [
        (True, "uses index orders_tenant_id_customer_id_idx"),
        (False, "uses index customers_tenant_id_idx"),
        (True, "no Seq Scan on orders"),
        (False, "no Seq Scan on public.customers"),
        (False, "largest row estimate <= 10"),
        (True, "total cost <= 100"),
    ]
    paths = "Seq Scan on customers; indexes used: order_items_order_id_idx, " + (
        "orders_tenant_id_customer_id_idx"
    )
    assert verdicts[1].observed == paths
    assert verdicts[2].observed == "no Seq Scan on orders"
    assert verdicts[3].observed == "Seq Scan on customers"
    assert verdicts[4].observed == "largest row estimate 3000 (Seq Scan on customers)"
    assert verdicts[5].observed == "total cost 95.5"


def test_the_row_bound_looks_past_a_limit_to_every_node() -> None:
    # LIMIT 20 over a Seq Scan expected to read a million rows: the top node says 20.
    plan = node("Limit", 20, 0.5, Plans=[scan("Seq Scan", "orders", 1_000_000)])
    found = facts(plan)
    assert found.estimated_rows == 20  # still a fact, for the evidence
    [verdict] = check_plan(found, max_estimated_rows=1000)
    assert not verdict.ok
    assert verdict.asserted == "largest row estimate <= 1000"
    assert verdict.observed == "largest row estimate 1000000 (Seq Scan on orders)"
    # On a tie the node nearest the top is named; a plain node is named by its type.
    [tied] = check_plan(
        facts(node("Sort", 7, Plans=[scan("Seq Scan", "t", 7)])), max_estimated_rows=7
    )
    assert tied.ok and tied.observed == "largest row estimate 7 (Sort)"


def test_partitions_are_named_not_their_parent() -> None:
    # The documented limitation: a Seq Scan on partitions does not name the parent.
    found = facts(APPEND)
    [verdict] = check_plan(found, no_seq_scan_on=["events"])
    assert verdict.ok and verdict.observed == "no Seq Scan on events"


def test_a_plan_without_indexes_says_none() -> None:
    plan = node("Sort", 2, 120.0, Plans=[scan("Seq Scan", "orders", 2)])
    [verdict] = check_plan(facts(plan), uses_index=["orders_tenant_id_customer_id_idx"])
    assert not verdict.ok
    assert verdict.observed == "Seq Scan on orders; indexes used: none"


def test_schema_qualified_names_match_by_schema_only_when_the_plan_has_one() -> None:
    found = facts(CTE)  # billing.payments (VERBOSE), orders (no schema)
    no_scan = check_plan(found, no_seq_scan_on=["payments", "billing.payments", "public.payments"])
    assert [v.ok for v in no_scan] == [False, False, True]
    uses = check_plan(found, uses_index=["public.orders_pkey", "orders_pkey_old"])
    assert [v.ok for v in uses] == [True, False]


def test_no_assertions_no_verdicts() -> None:
    assert check_plan(facts(JOINS)) == []


def test_truncated_plan_keeps_the_shape_and_the_useful_fields() -> None:
    tree = truncated_plan(JOINS)
    assert "note" not in tree
    assert tree["node"] == "Limit" and tree["rows"] == 20 and tree["cost"] == 95.5
    [loop] = tree["children"]
    assert loop["join"] == "Inner"
    hash_join, items = loop["children"]
    assert items == {
        "node": "Index Only Scan",
        "relation": "order_items",
        "index": "order_items_order_id_idx",
        "rows": 4,
        "cost": 1.0,
    }
    bitmap_heap = hash_join["children"][1]["children"][0]
    assert bitmap_heap["relation"] == "orders"
    assert bitmap_heap["children"][0]["index"] == "orders_tenant_id_customer_id_idx"
    assert truncated_plan(CTE)["children"][0]["subplan"] == "CTE recent"
    assert truncated_plan(CTE)["cte"] == "recent"


def test_truncated_plan_cuts_depth_first_with_a_note() -> None:
    tree = truncated_plan(JOINS, max_nodes=4)
    assert tree["note"] == "plan cut: 4 of 8 nodes shown (depth first)"
    [loop] = tree["children"]
    [hash_join] = loop["children"]  # the Index Only Scan (8th) is cut
    assert hash_join["node"] == "Hash Join"
    [seq_scan] = hash_join["children"]  # the Hash (5th) is cut
    assert seq_scan == {
        "node": "Seq Scan",
        "relation": "customers",
        "rows": 3000,
        "cost": 1.0,
    }


def test_truncated_plan_of_a_long_chain_stops_at_the_limit() -> None:
    chain: dict[str, Any] = scan("Seq Scan", "t")
    for _ in range(99):
        chain = node("Materialize", Plans=[chain])
    tree = truncated_plan(chain)
    depth = 0
    while "children" in tree:
        tree = tree["children"][0]
        depth += 1
    assert depth == 39  # 40 nodes shown
    assert truncated_plan(chain)["note"] == "plan cut: 40 of 100 nodes shown (depth first)"
    assert truncated_plan(scan("Seq Scan", "t"), max_nodes=0) == {
        "node": "Seq Scan",
        "relation": "t",
        "rows": 1.0,
        "cost": 1.0,
    }


@pytest.mark.parametrize(
    ("text", "statement"),
    [
        ("SELECT 1", "SELECT 1"),
        ("SELECT 1;", "SELECT 1"),
        ("SELECT 1 ;  -- done\n", "SELECT 1"),
        ("SELECT 1; /* trailing */ ", "SELECT 1"),
        ("SELECT ';' AS s", "SELECT ';' AS s"),
        ("SELECT 'it''s; fine'", "SELECT 'it''s; fine'"),
        ("SELECT E'\\'; still a string'", "SELECT E'\\'; still a string'"),
        ('SELECT 1 AS "a;b"', 'SELECT 1 AS "a;b"'),
        ("SELECT $$;$$, $tag$ ; $$ ; $tag$", "SELECT $$;$$, $tag$ ; $$ ; $tag$"),
        ("SELECT 1 -- ; not a separator\n", "SELECT 1 -- ; not a separator"),
        ("SELECT /* /* ; */ ; */ 1", "SELECT /* /* ; */ ; */ 1"),
        ("SELECT $1 + 1; ", "SELECT $1 + 1"),
    ],
)
def test_one_statement_texts_pass(text: str, statement: str) -> None:
    assert single_statement(text) == statement


@pytest.mark.parametrize(
    "text",
    [
        "SELECT 1; SELECT 2",
        "COMMIT; BEGIN READ WRITE; DELETE FROM orders",
        "SELECT 'a'; SET default_transaction_read_only = off",
        "SELECT 'x'';' ; DROP TABLE t",
        "SELECT e'\\''; DROP TABLE t; --'",
        "SELECT $q$ $q$; DROP TABLE t",
        "SELECT 1 /* c */; /* c */ DROP TABLE t",
    ],
)
def test_a_second_statement_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="one SQL statement"):
        single_statement(text)


@pytest.mark.parametrize("text", ["", "  ", ";", "-- nothing\n", "/* nothing */ ;"])
def test_an_empty_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        single_statement(text)
