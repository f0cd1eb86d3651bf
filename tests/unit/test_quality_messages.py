"""The one-line messages of data-quality results: counts, bounds, sample values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from vigil.quality import messages

pytestmark = pytest.mark.unit

BETWEEN = "expect_column_values_to_be_between"


def test_failed_rows_message_names_place_count_share_bounds_and_samples() -> None:
    result = {
        "element_count": 4000,
        "unexpected_count": 3,
        "partial_unexpected_list": [Decimal("-5.00"), Decimal("250000.00"), Decimal("-1.00")],
    }
    kwargs = {"column": "total_amount", "min_value": 0, "max_value": 100000}
    assert messages.rows_failed("orders.total_amount", BETWEEN, kwargs, result) == (
        "orders.total_amount: 3 of 4,000 rows (0.075%) outside [0, 100000]; "
        "e.g. -5.00, 250000.00, -1.00"
    )


def test_samples_are_distinct_skip_null_and_are_capped() -> None:
    values = [4, 4, None, 1004, 1004, 7, 8, 9, 10, 11]
    assert messages.samples(values) == "4, 1004, 7, 8, 9"
    assert messages.samples([None, None]) == ""


def test_null_check_message_has_no_pointless_null_samples() -> None:
    result = {"element_count": 10, "unexpected_count": 2, "partial_unexpected_list": [None, None]}
    text = messages.rows_failed("t.c", "expect_column_values_to_not_be_null", {}, result)
    assert text == "t.c: 2 of 10 rows (20%) NULL"


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [(3, 4000, "0.075%"), (1, 3, "33.3%"), (0, 10, "0%"), (5, 10, "50%"), (1, 0, "n/a")],
)
def test_percent(part: int, whole: int, expected: str) -> None:
    assert messages.percent(part, whole) == expected


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"min_value": 0, "max_value": 10}, "[0, 10]"),
        ({"min_value": 0, "max_value": 10, "strict_min": True}, "(0, 10]"),
        ({"min_value": 1}, ">= 1"),
        ({"max_value": 9, "strict_max": True}, "< 9"),
    ],
)
def test_bounds(kwargs: dict[str, object], expected: str) -> None:
    assert messages.bounds(kwargs) == expected


def test_values_read_naturally() -> None:
    assert messages.value("refunded") == "'refunded'"
    assert messages.value(None) == "NULL"
    assert messages.value(True) == "true"
    assert messages.value(dt.date(2026, 1, 2)) == "2026-01-02"
    assert messages.a_set(list(range(10))) == "{0, 1, 2, 3, 4, 5, 6, 7, … 2 more}"


def test_passed_rows_message_with_and_without_counts() -> None:
    kwargs = {"column": "status", "value_set": ["new", "paid"]}
    kind = "expect_column_values_to_be_in_set"
    passed = messages.rows_passed(
        "orders.status", kind, kwargs, {"unexpected_count": 0, "element_count": 1234}
    )
    assert passed == "orders.status: all 1,234 rows in {'new', 'paid'}"
    assert messages.rows_passed("orders.status", kind, kwargs, {"unexpected_count": 0}) == (
        "orders.status: in {'new', 'paid'}"
    )
    tolerated = messages.rows_passed(
        "orders.status",
        kind,
        {**kwargs, "mostly": 0.9},
        {"unexpected_count": 2, "element_count": 100},
    )
    assert (
        tolerated == "orders.status: 2 of 100 rows (2%) not in {'new', 'paid'}, within mostly=0.9"
    )


def test_unexpected_rows_message_shows_a_few_rows() -> None:
    rows = [{"id": 40, "customer_id": 999999}, {"id": 41, "customer_id": 999999}]
    text = messages.unexpected_rows("orders", 2, rows, "orders whose customer does not exist")
    assert text == (
        "orders: 2 unexpected rows (orders whose customer does not exist); "
        "e.g. (id=40, customer_id=999999); (id=41, customer_id=999999)"
    )


def test_observed_message_for_aggregates_and_column_sets() -> None:
    kind = "expect_table_row_count_to_be_between"
    assert messages.observed("orders", kind, {"min_value": 1}, {"observed_value": 0}, False) == (
        "orders: observed 0, expected row count >= 1"
    )
    mismatch = {"observed_value": ["a"], "details": {"mismatched": {"missing": ["b"]}}}
    kind = "expect_table_columns_to_match_set"
    assert messages.observed("orders", kind, {"column_set": ["a", "b"]}, mismatch, False) == (
        "orders: columns differ: missing {'b'}"
    )


def test_unknown_expectation_types_still_read() -> None:
    assert messages.expectation("expect_column_values_to_be_valid_isbn", {}) == (
        "column values to be valid isbn"
    )
    assert messages.violation("expect_something_new", {}) == "failing expect_something_new"


def test_failing_rows_are_named_by_their_primary_key() -> None:
    result = {
        "unexpected_count": 7,
        "element_count": 3000,
        "partial_unexpected_list": [None] * 7,
        "unexpected_index_column_names": ["id"],
        "partial_unexpected_index_list": [{"id": i, "country": None} for i in range(1, 8)],
    }
    text = messages.rows_failed(
        "customers.country", "expect_column_values_to_not_be_null", {}, result
    )
    assert text == "customers.country: 7 of 3,000 rows (0.23%) NULL; rows id=1, 2, 3, 4, 5, …"
    two: dict[str, Any] = {
        "unexpected_index_column_names": ["tenant_id", "id"],
        "partial_unexpected_index_list": [{"tenant_id": 1, "id": 5, "x": 0}],
    }
    assert messages.row_keys(two["partial_unexpected_index_list"], two) == "(tenant_id=1, id=5)"
    assert messages.row_keys([{"other": 1}], {"unexpected_index_column_names": ["id"]}) == ""


def test_ordered_columns_mismatch_reads_as_positions() -> None:
    result = {
        "observed_value": ["id", "name"],
        "details": {
            "mismatched": [
                {"Expected Column Position": 2, "Expected": "tier", "Found": None},
                {"Expected Column Position": 0, "Expected": "id", "Found": "uid"},
            ]
        },
    }
    text = messages.observed(
        "customers", "expect_table_columns_to_match_ordered_list", {}, result, passed=False
    )
    assert text == (
        "customers: columns differ from the list: column 3 should be 'tier', found none; "
        "column 1 should be 'id', found 'uid'"
    )


def test_distinct_values_outside_the_set_are_shown() -> None:
    """Not "1 of None rows (n/a)": GX counts distinct values here, and lists them."""
    kind = "expect_column_distinct_values_to_be_in_set"
    kwargs = {"value_set": ["book", "toy"]}
    result = {
        "observed_value": None,
        "unexpected_count": 2,
        "partial_unexpected_list": ["garden", "music"],
    }
    assert messages.distinct_values("products.category", kind, kwargs, result) == (
        "products.category: 2 distinct values not in {'book', 'toy'}: 'garden', 'music'"
    )
    equal = {
        "observed_value": None,
        "unexpected_count": 0,
        "missing_count": 1,
        "partial_missing_list": ["toy"],
    }
    assert (
        messages.distinct_values("p.c", "expect_column_distinct_values_to_equal_set", kwargs, equal)
        == "p.c: 1 value of {'book', 'toy'} never appears: 'toy'"
    )


def test_multi_column_values_read_as_a_person_writes_them() -> None:
    pair = (Decimal("849.00"), Decimal("9999.00"))
    kwargs = {"column_A": "total", "column_B": "items_total"}
    result = {"unexpected_count": 1, "element_count": 10, "partial_unexpected_list": [pair]}
    text = messages.rows_failed(
        "orders.total,items_total", "expect_column_pair_values_to_be_equal", kwargs, result
    )
    assert text.endswith("different in the two columns; e.g. (total=849.00, items_total=9999.00)")
    assert "Decimal" not in text
    assert messages.value({"a": 1, "b": None}) == "(a=1, b=NULL)"
    assert messages.value([1, "x"]) == "(1, 'x')"


def test_kl_divergence_says_what_was_measured_and_the_bound() -> None:
    kind = "expect_column_kl_divergence_to_be_less_than"
    kwargs = {"threshold": 0.1}
    assert messages.observed("r.q", kind, kwargs, {"observed_value": 0.4217}, False) == (
        "r.q: KL divergence from the expected partition is 0.4217, above the threshold 0.1"
    )
    assert messages.observed("r.q", kind, kwargs, {"observed_value": None}, False) == (
        "r.q: KL divergence from the expected partition is infinite (the column has a value "
        "the expected partition gives no weight), above the threshold 0.1"
    )
    mean = messages.observed(
        "t.x",
        "expect_column_mean_to_be_between",
        {"min_value": 1},
        {"observed_value": None},
        False,
    )
    assert mean == "t.x: observed nothing (no non-NULL value to measure), expected mean >= 1"
