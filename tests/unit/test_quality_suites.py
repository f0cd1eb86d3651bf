"""Loading GX suites from JSON: check ids, severities, and errors that say where and what.

These build real GX expectation objects (GX is imported once, lazily, by the loader)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vigil.quality.suites import SuiteError, load_suite
from vigil.result import Severity

pytestmark = pytest.mark.unit

FIXTURE = Path(__file__).parents[1] / "integration" / "quality_fixtures" / "orders.json"


def write(tmp_path: Path, expectations: list[Any], name: str | None = "s") -> Path:
    path = tmp_path / "suite.json"
    body: dict[str, Any] = {"expectations": expectations}
    if name is not None:
        body["name"] = name
    path.write_text(json.dumps(body, indent=1))
    return path


def errors_of(path: Path) -> str:
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    return str(info.value)


def test_fixture_suite_loads_with_ids_and_severities() -> None:
    suite = load_suite(FIXTURE)
    assert suite.name == "orders" and len(suite.checks) == 10
    by_id = {c.check_id: c for c in suite.checks}
    assert by_id["orders.row_count"].type == "expect_table_row_count_to_be_between"
    currency = by_id["orders.expect_column_values_to_be_in_set.currency"]
    assert currency.severity is Severity.WARNING and currency.column == "currency"
    orphans = by_id["orders.orphans"]
    assert orphans.severity is Severity.CRITICAL
    assert orphans.description == "orders whose customer does not exist"


def between(**kwargs: Any) -> dict[str, Any]:
    return {"type": "expect_column_values_to_be_between", "kwargs": kwargs}


def test_default_ids_name_what_is_checked_and_number_namesakes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            between(column="amount", min_value=0),
            between(column="amount", max_value=10),
            {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        ],
    )
    suite = load_suite(path)
    assert [c.check_id for c in suite.checks] == [
        "s.expect_column_values_to_be_between.amount",  # the first keeps its readable id
        "s.expect_column_values_to_be_between.amount.2",
        "s.expect_table_row_count_to_be_between",  # no hash of the bounds
    ]
    assert [c.check_id for c in load_suite(path).checks] == [c.check_id for c in suite.checks]


def test_ids_survive_a_threshold_change(tmp_path: Path) -> None:
    """Changing a bound, a set or `mostly` keeps every id: history and alerts go on."""
    before = [
        between(column="amount", min_value=0),
        between(column="amount", max_value=10),
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "s", "value_set": [1]}},
    ]
    after = [
        between(column="amount", min_value=5, mostly=0.9),
        between(column="amount", max_value=99),
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1000}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "s", "value_set": [2]}},
    ]
    ids = [c.check_id for c in load_suite(write(tmp_path, before)).checks]
    assert ids == [c.check_id for c in load_suite(write(tmp_path, after)).checks]


def test_ids_that_depend_on_order_are_warned_about(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            between(column="amount", min_value=0),
            between(column="amount", max_value=10),
            between(column="price", min_value=0),
            {**between(column="tax", min_value=0), "meta": {"id": "tax.min"}},
            {**between(column="tax", max_value=1), "meta": {"id": "tax.max"}},
        ],
    )
    warnings = load_suite(path).warnings
    assert len(warnings) == 2  # the two `amount` bounds; not price, not the named ones
    assert warnings[0].startswith("expectations[0] (expect_column_values_to_be_between): id ")
    assert warnings[0].endswith(
        "is told apart from expectations[1] (same default id) only by their order: "
        "reordering them swaps their histories; set a meta.id, e.g. 'amount.min'"
    )
    assert "'s.expect_column_values_to_be_between.amount.2'" in warnings[1]
    assert "from expectations[0] (same default id)" in warnings[1]
    assert warnings[1].endswith("e.g. 'amount.max'")


def test_an_expectation_repeated_exactly_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path, [between(column="a", min_value=0), between(column="a", min_value=0)])
    assert "the same expectation as expectations[0]: remove one" in errors_of(path)


def test_suite_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    path = write(tmp_path, [{"type": "expect_column_to_exist", "kwargs": {"column": "a"}}], None)
    assert load_suite(path).checks[0].check_id == "suite.expect_column_to_exist.a"


def test_gx_top_level_severity_is_read_when_meta_has_none(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            {"type": "expect_column_to_exist", "kwargs": {"column": "a"}, "severity": "info"},
            {
                "type": "expect_column_to_exist",
                "kwargs": {"column": "b"},
                "severity": "warning",
                "meta": {"severity": "critical"},
            },
        ],
    )
    assert [c.severity for c in load_suite(path).checks] == [Severity.WARNING, Severity.CRITICAL]


def test_invalid_json_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "name": "x",\n  "expectations": [1,,2]\n}\n')
    message = errors_of(path)
    assert message.startswith(f"{path}:3:22: not valid JSON")
    assert '"expectations": [1,,2]' in message and "^" in message


def test_unknown_type_suggests_the_closest(tmp_path: Path) -> None:
    path = write(tmp_path, [{"type": "expect_column_values_to_not_be_nul", "kwargs": {}}])
    message = errors_of(path)
    assert "expectations[0] (expect_column_values_to_not_be_nul): unknown expectation type" in (
        message
    )
    assert "did you mean 'expect_column_values_to_not_be_null'?" in message


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            {"type": "expect_column_values_to_be_between", "kwargs": {"min_value": 1}},
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"colum": "a", "value_set": []},
            },
            {
                "type": "expect_column_to_exist",
                "kwargs": {"column": "a"},
                "meta": {"severity": "high"},
            },
            {"type": "expect_column_to_exist", "kwargs": {"column": "b"}, "bogus": 1},
            {"type": "expect_column_to_exist", "kwargs": {"column": "c", "result_format": "BASIC"}},
            {
                "type": "unexpected_rows_expectation",
                "kwargs": {"unexpected_rows_query": "SELECT * FROM orders"},
            },
            "not an object",
        ],
    )
    message = errors_of(path)
    assert "8 problem(s)" in message  # the misspelt column is missing and unknown
    assert (
        "expectations[0] (expect_column_values_to_be_between): missing required kwargs: "
        "column" in message
    )
    assert "unknown kwarg 'colum'; did you mean 'column'?" in message
    assert "meta.severity 'high' is not one of: critical, warning" in message
    assert "expectations[3] (expect_column_to_exist): unknown key 'bogus'" in message
    assert "kwarg 'result_format' is set by Vigil at run time" in message
    assert "unexpected_rows_query must select from {batch}" in message
    assert "expectations[6]: an expectation is a JSON object, not str" in message


def test_duplicate_explicit_ids_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            {"type": "expect_column_to_exist", "kwargs": {"column": "a"}, "meta": {"id": "x"}},
            {"type": "expect_column_to_exist", "kwargs": {"column": "b"}, "meta": {"id": "x"}},
        ],
    )
    assert "expectations[1]: check id 'x' is already used by expectations[0]" in errors_of(path)


def test_shape_errors(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[]")
    assert "a suite is a JSON object" in errors_of(path)
    assert "'expectations' must be a non-empty list" in errors_of(write(tmp_path, []))
    assert "cannot read suite file" in errors_of(tmp_path / "missing.json")


def unexpected_rows(query: str) -> dict[str, Any]:
    return {"type": "unexpected_rows_expectation", "kwargs": {"unexpected_rows_query": query}}


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("SELECT id FROM {batch} WHERE x IS NULL", None),
        ("SELECT b.id FROM {batch} b LEFT JOIN p ON p.id = b.pid WHERE p.id IS NULL", None),
        ("SELECT b.id FROM {batch} AS b JOIN p ON true", None),
        ("SELECT id FROM {batch} WHERE note = 'JOIN'", None),  # a JOIN in a string is no JOIN
        ("SELECT c.id FROM {batch} c WHERE c.x > 1", "remove the alias 'c' after {batch}"),
        ("SELECT * FROM (SELECT max(x) FROM {batch}) a CROSS JOIN v", "give it an alias"),
        ("SELECT * FROM t LEFT JOIN {batch} ON true", "give it an alias"),
        # A second statement could end the read-only transaction and write: refused.
        (
            "SELECT * FROM {batch} WHERE v < 0) x; COMMIT; BEGIN READ WRITE; "
            "DELETE FROM t; COMMIT; SELECT * FROM (SELECT 1 AS one",
            "without ';'",
        ),
        ("SELECT id FROM {batch} WHERE note = 'a;b' -- c;d", None),  # quoted: data
    ],
)
def test_batch_alias_mistakes_are_caught_at_load(
    tmp_path: Path, query: str, problem: str | None
) -> None:
    path = write(tmp_path, [unexpected_rows(query)])
    if problem is None:
        assert load_suite(path).checks[0].type == "unexpected_rows_expectation"
    else:
        assert problem in errors_of(path)


def test_row_count_change_rule_and_explicit_severity_are_kept(tmp_path: Path) -> None:
    rule = {"max_pct": 25, "severity": "warning"}
    path = write(
        tmp_path,
        [
            {
                "type": "expect_table_row_count_to_be_between",
                "kwargs": {"min_value": 1},
                "meta": {"id": "rows", "row_count_change": rule},
            },
            {
                "type": "expect_column_to_exist",
                "kwargs": {"column": "a"},
                "meta": {"severity": "critical"},
            },
        ],
    )
    rows, exists = load_suite(path).checks
    assert rows.row_count_change is not None
    assert (rows.row_count_change.max_pct, rows.row_count_change.severity) == (25.0, "warning")
    assert not rows.severity_set and exists.severity_set
    assert exists.row_count_change is None


@pytest.mark.parametrize(
    ("kind", "rule", "problem"),
    [
        ("expect_column_to_exist", {"max_pct": 5}, "belongs on a row-count expectation"),
        ("expect_table_row_count_to_equal", {"max_pct": 0}, "max_pct must be a positive number"),
        ("expect_table_row_count_to_equal", {"max_pct": "5"}, "max_pct must be a positive number"),
        ("expect_table_row_count_to_equal", {"max_pct": 5, "severity": "x"}, "critical or warning"),
        ("expect_table_row_count_to_equal", {"max_pct": 5, "pct": 1}, "unknown key 'pct'"),
        ("expect_table_row_count_to_equal", 5, 'an object like {"max_pct": 25}'),
    ],
)
def test_bad_row_count_change_rules_are_refused(
    tmp_path: Path, kind: str, rule: Any, problem: str
) -> None:
    kwargs = {"column": "a"} if kind == "expect_column_to_exist" else {"value": 3}
    path = write(tmp_path, [{"type": kind, "kwargs": kwargs, "meta": {"row_count_change": rule}}])
    text = errors_of(path)
    assert problem in text and "meta.row_count_change" in text


def test_unknown_kwargs_are_matched_against_the_expectations_own_arguments(
    tmp_path: Path,
) -> None:
    """A 0.x argument is not "did you mean 'severity'?" (a field every GX expectation has)."""
    in_set = {"column": "a", "value_set": [1], "strictly": True}
    message = errors_of(
        write(tmp_path, [{"type": "expect_column_values_to_be_in_set", "kwargs": in_set}])
    )
    assert "severity" not in message
    assert (
        "unknown kwarg 'strictly' (expect_column_values_to_be_in_set takes: column, mostly, "
        "row_condition, condition_parser, value_set)"
    ) in message


def test_a_stray_0x_key_in_a_1x_suite_says_what_1x_calls_it(tmp_path: Path) -> None:
    item = {"type": "expect_column_to_exist", "kwargs": {"column": "a"}, "ge_cloud_id": None}
    assert "(a GX 0.x key: 1.x calls it 'id'; `vigil suites migrate` converts" in errors_of(
        write(tmp_path, [item])
    )


def test_unrunnable_expectations_load_for_the_runner_and_are_refused_for_the_lint(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path, [{"type": "expect_column_values_to_be_increasing", "kwargs": {"column": "n"}}]
    )
    (check,) = load_suite(path).checks
    assert check.cannot_run is not None and "PostgreSQL cannot run it" in check.cannot_run
    assert "expectations[0] (expect_column_values_to_be_increasing): " in errors_of_strict(path)


def errors_of_strict(path: Path) -> str:
    with pytest.raises(SuiteError) as info:
        load_suite(path, refuse_unrunnable=True)
    return str(info.value)
