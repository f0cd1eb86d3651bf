"""The demo's committed suites and snapshot: plain GX 1.x files that GX's own tools load
whole, every expectation with a severity, and a spec whose deep lint finds nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigil.quality._gx import gx
from vigil.quality.lint import lint_spec
from vigil.quality.schema_drift import load_snapshot
from vigil.quality.suites import load_suite
from vigil.spec.loader import load_spec

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "expectations" / "demo"
TABLES = ("tenants", "customers", "products", "inventory", "orders", "order_items", "payments")


@pytest.mark.parametrize("table", TABLES)
def test_gx_itself_loads_every_expectation(table: str) -> None:
    data = json.loads((DEMO / f"{table}.json").read_text())
    suite = gx().ExpectationSuite(**data)  # GX drops (and logs) what it cannot build
    assert len(suite.expectations) == len(data["expectations"])
    assert suite.name == table


@pytest.mark.parametrize("table", TABLES)
def test_every_expectation_has_an_id_and_a_severity(table: str) -> None:
    suite = load_suite(DEMO / f"{table}.json")
    for check in suite.checks:
        assert check.meta.get("id") == check.check_id, check
        assert check.meta.get("severity") in ("critical", "warning"), check.check_id
    ids = [c.check_id for c in suite.checks]
    assert "row_count" in ids and "columns" in ids
    row_count = suite.checks[ids.index("row_count")]
    assert row_count.row_count_change is not None


def test_suites_cover_each_kind_of_check() -> None:
    kinds = {c.type for t in TABLES for c in load_suite(DEMO / f"{t}.json").checks}
    assert {
        "expect_table_columns_to_match_set",
        "expect_table_columns_to_match_ordered_list",
        "expect_column_values_to_be_of_type",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_unique",
        "expect_compound_columns_to_be_unique",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_be_between",
        "expect_column_values_to_match_regex",
        "expect_column_value_lengths_to_be_between",
        "expect_table_row_count_to_be_between",
        "unexpected_rows_expectation",
    } <= kinds
    severities = {c.severity for t in TABLES for c in load_suite(DEMO / f"{t}.json").checks}
    assert severities == {"critical", "warning"}
    mostly = [
        c for t in TABLES for c in load_suite(DEMO / f"{t}.json").checks if "mostly" in c.kwargs
    ]
    assert len(mostly) >= 3


def test_demo_spec_lints_clean_against_the_committed_snapshot() -> None:
    spec = load_spec(REPO / "include" / "specs" / "demo.yaml")
    assert [p.headline() for p in lint_spec(spec)] == []
    tables = load_snapshot(DEMO / "schema.yaml")["schemas"]["public"]["tables"]
    assert sorted(tables) == sorted(TABLES)
