"""A plaintext password planted in a real PostgreSQL table's `hashed_password` column, in
rows that fail expectations: its value reaches none of the places evidence goes — the
CheckResults (message, observed, expected, details), the task log's table and log records,
the results store's rows, the rendered run report, the Data Docs files on disk — while
the redactions say which rows failed and that they hold the same value."""

from __future__ import annotations

import html
import json
import logging
import re
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from vigil.context import RunContext
from vigil.pipeline import Selection, run_target
from vigil.quality.paths import data_docs_dir
from vigil.quality.redact import redaction
from vigil.reports import write_run_report
from vigil.result import CheckResult, Status
from vigil.result_table import format_table
from vigil.results.store import ResultStore, RunRef
from vigil.spec.models import Spec
from vigil.stack.postgres import LocalPostgres

pytestmark = pytest.mark.integration

PLANTED = "Tr0ub4dor-3-plaintext"
NATIONAL_ID = "NID-776-55-0042"
PIN = "pin-8642-secret"
RUN = RunRef("qa", "daily", "qa_daily", "manual__2026-11-30T08:00:00+00:00")

SUITE = {
    "name": "users",
    "meta": {"sensitive_columns": ["pin"]},
    "expectations": [
        {
            "type": "expect_column_values_to_match_regex",
            "kwargs": {"column": "hashed_password", "regex": "^\\$2b\\$12\\$"},
            "meta": {"id": "password.bcrypt"},
        },
        {
            "type": "expect_column_most_common_value_to_be_in_set",
            "kwargs": {"column": "hashed_password", "value_set": ["$2b$12$none"]},
            "meta": {"id": "password.most_common"},
        },
        {
            "type": "expect_column_pair_values_to_be_equal",
            "kwargs": {"column_A": "email", "column_B": "hashed_password"},
            "meta": {"id": "password.pair"},
        },
        {
            "type": "unexpected_rows_expectation",
            "kwargs": {
                "unexpected_rows_query": "SELECT id, email, hashed_password AS pw FROM {batch} "
                "WHERE hashed_password NOT LIKE '$2b$%'"
            },
            "meta": {"id": "password.rows"},
        },
        {
            "type": "expect_column_values_to_match_regex",
            "kwargs": {"column": "national_id", "regex": "^[0-9]{9}$"},
            "meta": {"id": "national_id.format"},
        },
        {
            "type": "expect_column_value_lengths_to_equal",
            "kwargs": {"column": "pin", "value": 4},
            "meta": {"id": "pin.length"},
        },
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "token_count", "min_value": 0, "max_value": 100},
            "meta": {"id": "token_count.range"},
        },
    ],
}


def sql(dsn: str, statements: str) -> None:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statements)
    finally:
        conn.close()


@pytest.fixture
def users_db(fresh_db: str) -> str:
    sql(
        fresh_db,
        """
        CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, hashed_password text,
                            national_id text, pin text, token_count int);
        INSERT INTO users
        SELECT g, 'user' || g || '@example.com', '$2b$12$' || md5(g::text),
               lpad(g::text, 9, '0'), '1234', g
        FROM generate_series(1, 200) g;
        """,
    )
    # The plaintext in two rows (equal redactions), a national id, a pin, a counter over.
    sql(fresh_db, f"UPDATE users SET hashed_password = '{PLANTED}' WHERE id IN (17, 42)")
    sql(fresh_db, f"UPDATE users SET national_id = '{NATIONAL_ID}', pin = '{PIN}' WHERE id = 99")
    sql(fresh_db, "UPDATE users SET token_count = 999 WHERE id = 5")
    return fresh_db


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "expectations" / "qa").mkdir(parents=True)
    (tmp_path / "expectations" / "qa" / "users.json").write_text(json.dumps(SUITE))
    monkeypatch.setenv("VIGIL_EXPECTATIONS_DIR", str(tmp_path / "expectations"))
    monkeypatch.setenv("VIGIL_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def spec() -> Spec:
    return Spec.model_validate(
        {
            "environment": "qa",
            "targets": {"users-db": {"kind": "postgres", "conn_id": "users_db"}},
            "checks": {
                "quality": [
                    {
                        "id": "users-data",
                        "kind": "suite",
                        "target": "users-db",
                        "suite": "qa/users.json",
                        "table": "users",
                        "sensitive_columns": ["national_id"],
                        "not_sensitive_columns": ["token_count"],
                    }
                ]
            },
        }
    )


def test_planted_plaintext_reaches_no_evidence(
    folders: Path, users_db: str, pg: LocalPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    results_db = "sens_" + Path(users_db).name
    pg.create_database(results_db)
    store = ResultStore(pg.dsn(results_db))
    the_spec = spec()
    environ = {"AIRFLOW_CONN_USERS_DB": users_db}
    ctx = RunContext(the_spec, environ=environ, run_id=RUN.run_id, dag_id=RUN.dag_id)
    selection = Selection(frozenset({"quality"}))
    with caplog.at_level(logging.DEBUG):
        outcome = run_target(ctx, "quality", "users-db", store, RUN, selection)
        task_log = format_table(outcome.results)  # what the task writes to its log
    store.finish_run(RUN)
    found = {r.check_id.removeprefix("users-data."): r for r in outcome.results}

    # Every expectation about a sensitive column failed, with redacted evidence.
    for check_id in ("password.bcrypt", "password.most_common", "password.pair", "password.rows"):
        assert found[check_id].status is Status.FAILED, found[check_id].message
    mark = redaction(PLANTED)
    bcrypt = found["password.bcrypt"]
    assert bcrypt.message == (
        f"users.hashed_password: 2 of 200 rows (1%) not matching /^\\$2b\\$12\\$/; "
        f"e.g. {mark}; rows id=17, 42"
    )
    assert bcrypt.details["unexpected_values"] == [mark, mark]  # equal values, equal marks
    assert found["password.most_common"].observed == {"observed_value": [mark]}
    assert re.search(r"hashed_password=«redacted [0-9a-f]{8}»", found["password.pair"].message)
    assert "user1@example.com" in found["password.pair"].message  # email is not sensitive
    rows = found["password.rows"].details["unexpected_rows"]
    assert rows == [
        {"id": 17, "email": "user17@example.com", "pw": mark},
        {"id": 42, "email": "user42@example.com", "pw": mark},
    ]
    # Declared in the spec (national_id) and in the suite (pin): redacted too.
    assert redaction(NATIONAL_ID) in found["national_id.format"].message
    assert "rows id=99" in found["pin.length"].message
    # Exempted from the default patterns: shown as it is.
    assert "e.g. 999" in found["token_count.range"].message

    everything = _places(outcome.results, task_log, caplog, store, pg.dsn(results_db), folders)
    for name, text in everything.items():
        for secret in (PLANTED, NATIONAL_ID, PIN):
            assert secret not in text, f"{secret!r} found in {name}"
    assert mark in everything["the run report"]
    assert mark[-9:-1] in everything["the Data Docs files"]  # the digest, however escaped


def _places(
    results: list[CheckResult],
    task_log: str,
    caplog: pytest.LogCaptureFixture,
    store: ResultStore,
    results_dsn: str,
    folders: Path,
) -> dict[str, str]:
    """The text of every place the run's evidence went."""
    report = write_run_report(store, RUN, out_dir=folders / "reports")
    conn = psycopg2.connect(results_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT row_to_json(c)::text FROM vigil.check_results c")
            stored = "\n".join(row[0] for row in cur.fetchall())
            cur.execute("SELECT row_to_json(r)::text FROM vigil.runs r")
            stored += "\n".join(row[0] for row in cur.fetchall())
    finally:
        conn.close()
    docs = data_docs_dir(RUN.environment, RUN.dag_id, RUN.run_id)
    files = [p for p in docs.rglob("*") if p.is_file()]
    assert (docs / "index.html") in files and len(files) > 3
    logged = "\n".join(r.getMessage() + str(r.exc_text or "") for r in caplog.records)
    return {
        "the CheckResults": "\n".join(r.model_dump_json() for r in results),
        "the task log": task_log + "\n" + logged,
        "the results store": stored,
        "the run report": html.unescape(report.read_text(encoding="utf-8")),
        "the Data Docs files": "\n".join(html.unescape(_read(p)) for p in files),
    }


def _read(path: Path) -> str:
    data: Any = path.read_bytes()
    return str(data.decode("utf-8", "replace"))


ERRORING = {
    "name": "users_errors",
    "expectations": [
        {
            # The cast fails on row 17 and PostgreSQL quotes the value it could not read.
            "type": "unexpected_rows_expectation",
            "kwargs": {
                "unexpected_rows_query": "SELECT id FROM (SELECT * FROM {batch} WHERE id = 17 "
                "OFFSET 0) t WHERE hashed_password::int > 0"
            },
            "meta": {"id": "password.cast"},
        },
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "token_count", "min_value": 0, "max_value": 1000},
            "meta": {"id": "token_count.range"},
        },
    ],
}


def test_an_errored_expectation_on_a_sensitive_column_quotes_no_value(
    folders: Path, users_db: str, pg: LocalPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    (folders / "expectations" / "qa" / "errors.json").write_text(json.dumps(ERRORING))
    results_db = "serr_" + Path(users_db).name
    pg.create_database(results_db)
    store = ResultStore(pg.dsn(results_db))
    data = spec().model_dump(mode="json", exclude_none=True)
    data["checks"]["quality"][0]["suite"] = "qa/errors.json"
    the_spec = Spec.model_validate(data)
    environ = {"AIRFLOW_CONN_USERS_DB": users_db}
    ctx = RunContext(the_spec, environ=environ, run_id=RUN.run_id, dag_id=RUN.dag_id)
    with caplog.at_level(logging.DEBUG):
        outcome = run_target(
            ctx, "quality", "users-db", store, RUN, Selection(frozenset({"quality"}))
        )
        task_log = format_table(outcome.results)
    store.finish_run(RUN)
    found = {r.check_id.removeprefix("users-data."): r for r in outcome.results}
    cast = found["password.cast"]
    assert cast.status is Status.ERROR, cast.message
    assert "invalid input syntax for type integer" in cast.message
    assert redaction(PLANTED) in cast.message  # the quoted value, as its redaction
    everything = _places(outcome.results, task_log, caplog, store, pg.dsn(results_db), folders)
    for name, text in everything.items():
        assert PLANTED not in text, f"{PLANTED!r} found in {name}"
