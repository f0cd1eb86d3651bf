"""GX 0.x suites: one clear message instead of a problem per key, and `vigil suites migrate`
that rewrites them as 1.x and says what it could not carry over (issue 13, §2). Run on the
0.x suites of tests/fixtures/gx_suites/v0 (modelled on GX's own 0.x fixtures and docs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vigil.cli import main
from vigil.quality.migrate import NOT_MIGRATED, migrate, migrate_file
from vigil.quality.suites import SuiteError, load_suite

pytestmark = pytest.mark.unit

V0 = Path(__file__).parents[1] / "fixtures" / "gx_suites" / "v0"
OLD = sorted(V0.glob("*.json"))


def old_suite(*expectations: tuple[str, dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "expectation_suite_name": "old",
        "data_asset_type": "Dataset",
        "meta": {"great_expectations_version": "0.15.50"},
        "expectations": [{"expectation_type": t, "kwargs": k, "meta": {}} for t, k in expectations],
        **extra,
    }


@pytest.mark.parametrize("path", OLD, ids=[p.stem for p in OLD])
def test_a_0x_suite_gets_one_problem_naming_the_format_and_the_fix(path: Path) -> None:
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    (problem,) = info.value.problems
    assert problem.startswith("this is a Great Expectations 0.x suite (it uses ")
    assert f"`vigil suites migrate {path} --in-place`" in problem


@pytest.mark.parametrize("path", OLD, ids=[p.stem for p in OLD])
def test_every_0x_fixture_migrates_to_a_suite_check_spec_accepts(
    path: Path, tmp_path: Path
) -> None:
    found = migrate_file(path)
    assert not found.already_1x and found.carried >= 1
    out = tmp_path / path.name
    out.write_text(json.dumps(found.suite))
    suite = load_suite(out, refuse_unrunnable=True)
    assert len(suite.checks) == found.carried
    left = found.suite["meta"].get(NOT_MIGRATED, [])
    assert len(left) == len(found.left_out)  # nothing lost: kept in meta, with the reason
    original = json.loads(path.read_text())
    assert found.carried + len(left) == len(original["expectations"])


def test_keys_renamed_and_run_time_kwargs_dropped() -> None:
    found = migrate(
        old_suite(
            ("expect_column_values_to_not_be_null", {"column": "a", "result_format": "SUMMARY"}),
            (
                "expect_column_values_to_be_between",
                {"column": "b", "min_value": 0, "catch_exceptions": True, "max_value": None},
            ),
        ),
        "fallback",
    )
    assert found.suite == {
        "name": "old",
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}, "meta": {}},
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "b", "min_value": 0},
                "meta": {},
            },
        ],
        "meta": {"great_expectations_version": "0.15.50"},
    }
    assert found.dropped["kwargs.result_format"] == 1
    assert found.dropped["kwargs.catch_exceptions"] == 1
    assert found.dropped["data_asset_type"] == 1
    assert found.renamed["expectation_type -> type"] == 2


def test_renamed_removed_and_unrunnable_expectations() -> None:
    found = migrate(
        old_suite(
            ("expect_multicolumn_values_to_be_unique", {"column_list": ["a", "b"]}),
            (
                "expect_column_pair_values_A_to_be_greater_than_B",
                {"column_A": "a", "column_B": "b", "parse_strings_as_datetimes": True},
            ),
            ("expect_column_chisquare_test_p_value_to_be_greater_than", {"column": "a"}),
            ("expect_column_values_to_be_json_parseable", {"column": "j"}),
        ),
        "x",
    )
    kinds = [e["type"] for e in found.suite["expectations"]]
    assert kinds == [
        "expect_select_column_values_to_be_unique_within_record",
        "expect_column_pair_values_a_to_be_greater_than_b",
    ]
    assert found.changed == [
        "expectations[1] (expect_column_pair_values_a_to_be_greater_than_b): dropped "
        "parse_strings_as_datetimes=true: 1.x compares values as the database stores them: "
        "a date or timestamp column compares as dates, a text column as text"
    ]
    assert found.left_out[0].startswith(
        "expectations[2] (expect_column_chisquare_test_p_value_to_be_greater_than): "
        "GX 1.0 removed its statistical tests"
    )
    unrunnable = "(expect_column_values_to_be_json_parseable): PostgreSQL cannot run it"
    assert unrunnable in found.left_out[1]
    kept = found.suite["meta"][NOT_MIGRATED]
    assert [k["expectation_type"] for k in kept] == [
        "expect_column_chisquare_test_p_value_to_be_greater_than",
        "expect_column_values_to_be_json_parseable",
    ]


def test_evaluation_parameters_inlined_when_defined_else_left_out() -> None:
    found = migrate(
        old_suite(
            ("expect_table_row_count_to_be_between", {"min_value": {"$PARAMETER": "low"}}),
            ("expect_table_row_count_to_equal", {"value": {"$PARAMETER": "urn:gx:x"}}),
            evaluation_parameters={"low": 10},
        ),
        "x",
    )
    assert found.suite["expectations"][0]["kwargs"] == {"min_value": 10}
    assert "(was $low)" in found.changed[0]
    assert "evaluation parameter 'urn:gx:x', which Vigil cannot supply" in found.left_out[0]


def test_pandas_conditions_rewritten_in_gx_form_or_left_out() -> None:
    found = migrate(
        old_suite(
            (
                "expect_column_values_to_not_be_null",
                {"column": "a", "row_condition": 'kind=="x"', "condition_parser": "pandas"},
            ),
            (
                "expect_column_values_to_not_be_null",
                {
                    "column": "b",
                    "row_condition": "kind.str.len() > 2",
                    "condition_parser": "pandas",
                },
            ),
        ),
        "x",
    )
    (kept,) = found.suite["expectations"]
    assert kept["kwargs"] == {
        "column": "a",
        "row_condition": {
            "type": "comparison",
            "column": {"name": "kind"},
            "operator": "==",
            "parameter": "x",
        },
    }
    assert "is pandas syntax, which PostgreSQL cannot run" in found.left_out[0]


def test_cli_prints_the_suite_and_reports_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["suites", "migrate", str(V0 / "runtime_kwargs.json")]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["name"] == "sensors.warning"
    assert "GX 0.x -> 1.x, 6 expectation(s) carried over" in err
    assert "dropped: data_asset_type, kwargs.result_format (3), kwargs.catch_exceptions (2)" in err


def test_cli_in_place_keeps_the_original_and_leaves_1x_files_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "titanic.json"
    old.write_text((V0 / "titanic_profiled.json").read_text())
    assert main(["suites", "migrate", "--in-place", str(old)]) == 0
    assert load_suite(old).name == "Titanic.profiled"
    assert (tmp_path / "titanic.json.gx0.bak").read_text() == (
        V0 / "titanic_profiled.json"
    ).read_text()
    capsys.readouterr()
    assert main(["suites", "migrate", "--in-place", str(old)]) == 0
    assert "already a GX 1.x suite: nothing to do" in capsys.readouterr().err


def test_cli_several_files_need_a_destination(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    two = [str(OLD[0]), str(OLD[1])]
    assert main(["suites", "migrate", *two]) == 1
    assert "several files: pass --in-place or --out DIR" in capsys.readouterr().err
    assert main(["suites", "migrate", "-o", str(tmp_path / "new"), *two]) == 0
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == sorted(Path(p).name for p in two)
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert main(["suites", "migrate", str(bad)]) == 1
    assert "bad.json: not valid JSON" in capsys.readouterr().err


def test_cli_refuses_two_inputs_that_would_write_the_same_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "a" / "x.json", tmp_path / "b" / "x.json"
    for path, source in ((first, OLD[0]), (second, OLD[1])):
        path.parent.mkdir()
        path.write_text(Path(source).read_text())
    out = tmp_path / "new"
    assert main(["suites", "migrate", "--out", str(out), str(first), str(second)]) == 2
    err = capsys.readouterr().err
    assert str(first) in err and str(second) in err and "x.json" in err
    assert not out.exists()  # nothing written, nothing overwritten
    assert main(["suites", "migrate", "--in-place", str(first), str(first)]) == 2
    assert not (tmp_path / "a" / "x.json.gx0.bak").exists()
