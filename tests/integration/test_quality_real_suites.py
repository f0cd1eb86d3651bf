"""Suites of the repo's real-world-shaped set (tests/fixtures/gx_suites) run against
PostgreSQL tables shaped to fit them (issue 13):

- what `vigil.quality.runnable` says the SQL engine cannot run, GX's SQL engine indeed
  refuses on a real table ("No provider found"), and what it says it can, GX runs;
- migrated 0.x suites run without an `error` (mixed-case columns, rewritten pandas
  conditions, renamed expectations);
- an unrunnable expectation left in a 1.x suite is an `error` naming it, the rest run;
- failure messages read as a person writes them (distinct values, column pairs, KL);
- Data Docs of such results render without GX logging tracebacks.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from tests.unit.test_quality_runnable import NOT_ON_SQL, ON_SQL
from vigil.quality.docs import SuiteRun, build_site
from vigil.quality.gx_run import Batch
from vigil.quality.migrate import migrate_file
from vigil.quality.plan import CHEAP_FORMAT, Step
from vigil.quality.runnable import sql_problems
from vigil.quality.runner import validate
from vigil.result import CheckResult, Status

pytestmark = pytest.mark.integration

SUITES = Path(__file__).parents[1] / "fixtures" / "gx_suites"

# Every column any expectation of NOT_ON_SQL / ON_SQL names, as text or numbers.
PROBE = """
CREATE TABLE probe (id int PRIMARY KEY, a int, b int, d text, j text, n int);
INSERT INTO probe SELECT g, g % 3, g % 5, '2024-01-0' || (g % 9 + 1), '{"k": 1}', g
FROM generate_series(1, 50) g;
"""
TITANIC = """
CREATE TABLE "Titanic" ("Unnamed: 0" int PRIMARY KEY, "Name" text, "PClass" text,
                        "Age" numeric, "Sex" text, "Survived" int, "SexCode" int);
INSERT INTO "Titanic"
SELECT g, 'Passenger ' || g, (ARRAY['1st','2nd','3rd'])[g % 3 + 1],
       CASE WHEN g % 4 = 0 THEN NULL ELSE 20 + g % 50 END,
       CASE WHEN g % 2 = 0 THEN 'female' ELSE 'male' END, g % 2, (g + 1) % 2
FROM generate_series(1, 1313) g;
"""
PRODUCTS = """
CREATE TABLE products (sku text PRIMARY KEY, category text, currency text, active bool,
                       price numeric, stock int);
INSERT INTO products SELECT 'S' || g, (ARRAY['book','toy','food','garden'])[g % 4 + 1],
       'EUR', g % 2 = 0, 10, 1 FROM generate_series(1, 40) g;
"""
INVOICES = """
CREATE TABLE invoices (id int PRIMARY KEY, total numeric(12,2), items_total numeric(12,2));
INSERT INTO invoices SELECT g, 100, 100 FROM generate_series(1, 20) g;
UPDATE invoices SET total = 849.00, items_total = 9999.00 WHERE id = 7;
"""


def sql(dsn: str, statements: str) -> None:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statements)
    finally:
        conn.close()


def by_id(results: list[CheckResult]) -> dict[str, CheckResult]:
    for result in results:
        json.dumps(result.to_row())
    return {r.check_id: r for r in results}


def write(tmp_path: Path, name: str, suite: dict[str, Any]) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(suite))
    return path


def test_the_lints_answer_is_what_gx_does_on_postgresql(fresh_db: str) -> None:
    """Each expectation the lint refuses errors in GX's SQL engine ("No provider found"),
    each it accepts runs; the lint asked GX's graph, this asks a real table."""
    sql(fresh_db, PROBE)
    from vigil.quality.connection import database

    batch = Batch(database(fresh_db), "public", "probe", None)
    cases = {**NOT_ON_SQL, **ON_SQL}
    steps = [Step(kind, kwargs) for kind, kwargs in cases.items()]
    pandas = {"column": "a", "row_condition": "a > 1", "condition_parser": "pandas"}
    steps.append(Step("expect_column_values_to_not_be_null", pandas))
    outcomes = batch.run(steps, CHEAP_FORMAT)
    for step, outcome in zip(steps, outcomes, strict=True):
        refused = bool(sql_problems(step.type, step.kwargs))
        if step.kwargs is pandas:
            assert outcome.error is not None and "condition_parser" in outcome.error, outcome
        elif refused:
            assert outcome.error is not None and "No provider found" in outcome.error, step
        else:
            assert outcome.error is None, (step, outcome.error)
        assert refused == (step.type in NOT_ON_SQL or step.kwargs is pandas)


def test_migrated_0x_suites_run_without_errors(fresh_db: str, tmp_path: Path) -> None:
    sql(fresh_db, TITANIC)
    for name in ("titanic_profiled", "pandas_conditions"):
        migrated = migrate_file(SUITES / "v0" / f"{name}.json").suite
        found = validate(fresh_db, write(tmp_path, name, migrated), "Titanic")
        errors = [r.message for r in found.results if r.status is Status.ERROR]
        assert errors == [], errors
        assert len(found.results) == len(migrated["expectations"])
    # The rewritten pandas condition filters on the mixed-case columns exactly.
    passengers = migrate_file(SUITES / "v0" / "pandas_conditions.json").suite
    results = by_id(validate(fresh_db, write(tmp_path, "p", passengers), "Titanic").results)
    adults = results["passengers.expect_column_values_to_be_between.Age"]
    assert adults.status is Status.PASSED, adults.message
    assert adults.observed["element_count"] == 656  # SexCode == 1: the odd half of 1313 - 1


def test_an_unrunnable_expectation_is_an_error_and_the_rest_run(
    fresh_db: str, tmp_path: Path
) -> None:
    sql(fresh_db, PROBE)
    suite = json.loads((SUITES / "v1" / "events_json.json").read_text())
    for expectation in suite["expectations"]:
        expectation["kwargs"]["column"] = "j"
    results = by_id(validate(fresh_db, write(tmp_path, "events", suite), "probe").results)
    assert results["events.expect_column_values_to_not_be_null.j"].status is Status.PASSED
    parseable = results["events.expect_column_values_to_be_json_parseable.j"]
    assert parseable.status is Status.ERROR
    assert parseable.message.startswith(
        "probe.j: expect_column_values_to_be_json_parseable could not run: "
        "PostgreSQL cannot run it: GX computes it in pandas or Spark only"
    )
    assert "instead: a jsonb column" in parseable.message


def test_failure_messages_read_as_people_write_them(
    fresh_db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sql(fresh_db, PRODUCTS + INVOICES)
    distinct = json.loads((SUITES / "v1" / "distinct_sets.json").read_text())
    distinct["expectations"] = distinct["expectations"][:2]
    found = validate(fresh_db, write(tmp_path, "products", distinct), "products")
    category = by_id(found.results)["products.expect_column_distinct_values_to_be_in_set.category"]
    assert category.status is Status.FAILED
    assert category.message == (
        "products.category: 1 distinct value not in {'book', 'toy', 'food'}: 'garden'"
    )
    assert category.details["unexpected_values"] == ["garden"]

    pair = {
        "name": "invoices",
        "expectations": [
            {
                "type": "expect_column_pair_values_to_be_equal",
                "kwargs": {"column_A": "total", "column_B": "items_total"},
            },
            {
                "type": "expect_column_kl_divergence_to_be_less_than",
                "kwargs": {
                    "column": "total",
                    "partition_object": {"values": [100], "weights": [1.0]},
                    "threshold": 0.1,
                },
            },
        ],
    }
    checked = validate(fresh_db, write(tmp_path, "invoices", pair), "invoices")
    results = by_id(checked.results)
    equal = results["invoices.expect_column_pair_values_to_be_equal.total,items_total"]
    assert equal.message.endswith("e.g. (total=849.00, items_total=9999.00); rows id=7")
    kl = results["invoices.expect_column_kl_divergence_to_be_less_than.total"]
    assert kl.message.startswith("invoices.total: KL divergence from the expected partition is ")
    assert "threshold 0.1" in kl.message and "NULL" not in kl.message

    # Data Docs of these results: no GX traceback in the log, at most one warning line.
    runs = [
        SuiteRun("products-data", "db", found, found.results),
        SuiteRun("invoices-data", "db", checked, checked.results),
    ]
    with caplog.at_level(logging.INFO):
        index = build_site(runs, tmp_path / "docs", "r1")
    assert index.is_file()
    gx_errors = [r for r in caplog.records if r.name.startswith("great_expectations")]
    assert [r.getMessage()[:200] for r in gx_errors if r.levelno >= logging.ERROR] == []
    assert "unexpected_percent" not in caplog.text
