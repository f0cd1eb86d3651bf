"""`vigil check-spec`'s deep look at the quality section: suite and snapshot files that are
missing, broken or out of step with the schema snapshot, each reported with its file,
line and reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vigil.cli import main
from vigil.quality.lint import lint_spec
from vigil.spec.errors import Problem
from vigil.spec.loader import load_spec

pytestmark = pytest.mark.unit

SPEC = """\
environment: qa
targets:
  db:
    kind: postgres
    conn_id: qa_db
checks:
  quality:
    - id: orders-data
      kind: suite
      target: db
      suite: qa/orders.json
      table: orders
{drift}"""
DRIFT = """\
    - id: schema
      kind: schema_drift
      target: db
      snapshot: qa/schema.yaml
"""
SNAPSHOT = {
    "format": 1,
    "database": "qa",
    "schemas": {
        "public": {
            "tables": {
                "orders": {
                    "kind": "table",
                    "columns": {
                        "id": {"type": "bigint", "nullable": False, "default": None},
                        "status": {"type": "text", "nullable": False, "default": None},
                    },
                    "indexes": {},
                    "constraints": {},
                }
            }
        }
    },
}


def expectation(kind: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs}


def setup(
    tmp_path: Path, suite: Any = None, drift: bool = False, snapshot: Any = SNAPSHOT
) -> tuple[Path, Path]:
    folder = tmp_path / "expectations"
    (folder / "qa").mkdir(parents=True)
    if suite is not None:
        text = suite if isinstance(suite, str) else json.dumps(suite, indent=2)
        (folder / "qa" / "orders.json").write_text(text)
    if snapshot is not None:
        (folder / "qa" / "schema.yaml").write_text(json.dumps(snapshot))
    spec = tmp_path / "qa.yaml"
    spec.write_text(SPEC.format(drift=DRIFT if drift else ""))
    return spec, folder


def lint(spec: Path, folder: Path) -> list[Problem]:
    return lint_spec(load_spec(spec), folder)


def good_suite(*more: dict[str, Any]) -> dict[str, Any]:
    first = expectation("expect_column_values_to_not_be_null", column="status")
    return {"name": "orders", "expectations": [first, *more]}


def test_a_good_suite_has_no_problem(tmp_path: Path) -> None:
    assert lint(*setup(tmp_path, good_suite(), drift=True)) == []


def test_missing_suite_points_at_the_spec_line(tmp_path: Path) -> None:
    spec, folder = setup(tmp_path)
    [problem] = lint(spec, folder)
    assert (problem.file, problem.line, problem.column) == (str(spec), 11, 14)
    assert problem.path == "checks.quality[0].suite"
    assert problem.message == f"suite file qa/orders.json not found in {folder}"
    assert problem.source_line == "      suite: qa/orders.json"


def test_invalid_json_has_its_line_and_column(tmp_path: Path) -> None:
    spec, folder = setup(tmp_path, '{"name": "orders",\n  "expectations": [}\n')
    [problem] = lint(spec, folder)
    assert problem.file == str(folder / "qa" / "orders.json")
    assert (problem.line, problem.column) == (2, 20)
    assert problem.message == "not valid JSON: Expecting value"
    assert problem.render().endswith('  2 |   "expectations": [}\n    |                    ^')


def test_unknown_type_suggests_the_closest_on_its_line(tmp_path: Path) -> None:
    typo = expectation("expect_column_values_to_be_uniqe", column="id")
    spec, folder = setup(tmp_path, good_suite(typo))
    [problem] = lint(spec, folder)
    assert problem.file == str(folder / "qa" / "orders.json")
    assert problem.path == "expectations[1] (expect_column_values_to_be_uniqe)"
    assert problem.message == (
        "unknown expectation type 'expect_column_values_to_be_uniqe'; "
        "did you mean 'expect_column_values_to_be_unique'?"
    )
    assert (
        problem.source_line is not None
        and "expect_column_values_to_be_uniqe" in problem.source_line
    )


def test_columns_the_snapshot_lacks_are_named_where_they_are(tmp_path: Path) -> None:
    suite = good_suite(
        expectation("expect_column_values_to_be_in_set", column="statsu", value_set=["a"]),
        expectation("expect_table_columns_to_match_set", column_set=["id", "status", "total"]),
    )
    spec, folder = setup(tmp_path, suite, drift=True)
    first, second = lint(spec, folder)
    assert first.message == (
        "column 'statsu' is not in table public.orders of schema snapshot qa/schema.yaml"
    )
    assert first.hint == "did you mean 'status'?"
    assert first.source_line is not None and '"column": "statsu"' in first.source_line
    assert second.path == "expectations[2] (expect_table_columns_to_match_set)"
    assert "column 'total' is not in table public.orders" in second.message
    # Without a schema_drift check for the target there is nothing to compare with.
    assert lint(*setup(tmp_path / "no-drift", suite)) == []


def test_table_missing_from_the_snapshot(tmp_path: Path) -> None:
    other = {**SNAPSHOT, "schemas": {"public": {"tables": {"ordres": {"columns": {}}}}}}
    spec, folder = setup(tmp_path, good_suite(), drift=True, snapshot=other)
    [problem] = lint(spec, folder)
    assert problem.message == "table public.orders is not in schema snapshot qa/schema.yaml"
    assert problem.hint == "did you mean 'ordres'?"


def test_missing_or_unreadable_snapshot(tmp_path: Path) -> None:
    spec, folder = setup(tmp_path, good_suite(), drift=True, snapshot=None)
    [problem] = lint(spec, folder)
    assert problem.path == "checks.quality[1].snapshot"
    assert problem.message == f"schema snapshot qa/schema.yaml not found in {folder}"
    assert problem.hint == "write it with `vigil snapshot-schema --target db`"
    spec, folder = setup(tmp_path / "b", good_suite(), drift=True, snapshot=["not", "one"])
    [problem] = lint(spec, folder)
    assert problem.file == str(folder / "qa" / "schema.yaml")
    assert "not a schema snapshot" in problem.message


def test_check_spec_prints_deep_problems_and_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = expectation("expect_column_values_to_be_uniqe", column="id")
    spec, folder = setup(tmp_path, good_suite(typo))
    monkeypatch.setenv("VIGIL_EXPECTATIONS_DIR", str(folder))
    assert main(["check-spec", str(spec)]) == 1
    out = capsys.readouterr().out
    assert f"{folder / 'qa' / 'orders.json'}:" in out
    assert "unknown expectation type 'expect_column_values_to_be_uniqe'" in out
    assert out.rstrip().splitlines()[-1] == "1 problem in 1 of 1 spec file"
    (folder / "qa" / "orders.json").write_text(json.dumps(good_suite()))
    assert main(["check-spec", str(spec)]) == 0


def test_specs_without_suites_never_import_gx(tmp_path: Path) -> None:
    # A quality section with only a schema_drift check: linted, without GX.
    spec, folder = setup(tmp_path)
    spec.write_text(SPEC.format(drift="").split("    - id: orders-data")[0] + DRIFT)
    code = (
        "import sys; from vigil.cli import main; "
        f"code = main(['check-spec', {str(spec)!r}]); "
        "assert 'great_expectations' not in sys.modules, 'GX imported'; sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "VIGIL_EXPECTATIONS_DIR": str(folder)},
    )
    assert (done.returncode, done.stdout) == (0, "ok: 1 spec, 1 checks\n"), done.stderr


def test_a_0x_suite_is_one_problem_with_the_command_that_converts_it(tmp_path: Path) -> None:
    old = {
        "expectation_suite_name": "orders",
        "data_asset_type": "Dataset",
        "expectations": [
            {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": c}}
            for c in ("id", "status", "total", "currency")
        ],
    }
    spec, folder = setup(tmp_path, old)
    [problem] = lint(spec, folder)
    assert problem.message.startswith(
        "this is a Great Expectations 0.x suite (it uses 'expectation_suite_name', "
        "'data_asset_type', 'expectation_type'); Vigil reads GX 1.x suites: convert it with "
        f"`vigil suites migrate {folder / 'qa' / 'orders.json'} --in-place`"
    )


def test_what_postgresql_cannot_run_is_refused_by_name_with_the_alternative(
    tmp_path: Path,
) -> None:
    suite = good_suite(
        expectation(
            "expect_column_values_to_match_strftime_format", column="d", strftime_format="%Y-%m-%d"
        ),
        expectation(
            "expect_column_values_to_not_be_null",
            column="d",
            row_condition='kind == "x"',
            condition_parser="pandas",
        ),
    )
    spec, folder = setup(tmp_path, suite)
    strftime, pandas = lint(spec, folder)
    assert strftime.path == "expectations[1] (expect_column_values_to_match_strftime_format)"
    assert strftime.line is not None
    assert strftime.message.startswith(
        "PostgreSQL cannot run it: GX computes it in pandas or Spark only"
    )
    assert "instead: expect_column_values_to_match_regex" in strftime.message
    assert pandas.message.startswith("condition_parser 'pandas' is read by pandas or Spark only")


def test_ids_that_depend_on_order_are_warnings_not_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    twice = good_suite(
        expectation("expect_column_value_lengths_to_be_between", column="status", min_value=1),
        expectation("expect_column_value_lengths_to_be_between", column="status", max_value=9),
    )
    spec, folder = setup(tmp_path, twice)
    warned: list[Problem] = []
    assert lint_spec(load_spec(spec), folder, warn=warned.append) == []
    assert [w.path for w in warned] == [
        "expectations[1] (expect_column_value_lengths_to_be_between)",
        "expectations[2] (expect_column_value_lengths_to_be_between)",
    ]
    monkeypatch.setenv("VIGIL_EXPECTATIONS_DIR", str(folder))
    assert main(["check-spec", str(spec)]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: ") == 2 and "set a meta.id, e.g." in err
