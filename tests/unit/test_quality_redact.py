"""Redacting sampled values of sensitive columns: which columns, which parts of GX's
result dicts, the redaction's form and key, and where the rules are declared."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from vigil.quality import messages, redact
from vigil.quality.models import SuiteCheck
from vigil.quality.redact import Redacted, Sensitive, redaction
from vigil.quality.suites import SuiteError, load_suite

pytestmark = pytest.mark.unit

SECRET = "hunter2-plain"
REGEX = "expect_column_values_to_match_regex"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VIGIL_STATE_DIR", str(tmp_path / "state"))


def test_default_patterns_declared_columns_and_exemptions() -> None:
    default = Sensitive()
    assert all(map(default, ["hashed_password", "API_TOKEN", "client_secret", "apikey"]))
    assert not any(map(default, ["email", "id", "total"]))
    rules = Sensitive(columns=("national_id", "*_pin"), exempt=("token_count",))
    assert rules("National_ID") and rules("card_pin") and rules("refresh_token")
    assert not rules("token_count")  # a default match, exempted
    # ["*"] switches the default patterns off; a declared column stays sensitive.
    off = Sensitive(columns=("password_hint",), exempt=("*",))
    assert off("password_hint") and not off("hashed_password")
    merged = off.plus(["ssn"], ["x"])
    assert merged("ssn") and merged.exempt == ("*", "x")


def test_redaction_is_stable_keyed_and_reveals_only_equality(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = redaction(SECRET)
    assert isinstance(first, Redacted) and first == redaction(SECRET)
    assert first.startswith("«redacted ") and first.endswith("»") and len(first) == 19
    assert SECRET not in first and redaction("other") != first
    assert redaction(None) is None and redaction(first) is first
    assert redaction(42) == redaction("42")
    key_file = tmp_path / "state" / redact.KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # The key, not the value alone, decides the digest: another installation's differs.
    monkeypatch.setenv("VIGIL_STATE_DIR", str(tmp_path / "elsewhere"))
    assert redaction(SECRET) != first
    assert redaction(SECRET) == redaction(SECRET)


def test_an_unwritable_state_folder_still_redacts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the state folder should be")
    monkeypatch.setenv("VIGIL_STATE_DIR", str(blocker))
    assert redaction(SECRET).startswith("«redacted ")


def test_samples_counts_index_and_observed_of_a_sensitive_column() -> None:
    found: dict[str, Any] = {
        "element_count": 52,
        "unexpected_count": 3,
        "partial_unexpected_list": [SECRET, "dup", "dup", None],
        "partial_unexpected_counts": [{"value": "dup", "count": 2}, {"value": SECRET, "count": 1}],
        "partial_unexpected_index_list": [
            {"id": 7, "hashed_password": SECRET},
            {"id": 51, "hashed_password": "dup"},
        ],
        "unexpected_index_column_names": ["id"],
    }
    kwargs = {"column": "hashed_password", "regex": "^x"}
    out = redact.result(REGEX, kwargs, found, Sensitive())
    assert SECRET not in json.dumps(out)
    samples = out["partial_unexpected_list"]
    assert samples[1] == samples[2] == redaction("dup") and samples[3] is None  # NULL: no secret
    assert [r["id"] for r in out["partial_unexpected_index_list"]] == [7, 51]
    assert out["element_count"] == 52 and out["unexpected_count"] == 3
    assert found["partial_unexpected_list"][0] == SECRET  # the input is left as it was
    text = messages.rows_failed("users.hashed_password", REGEX, kwargs, out)
    assert SECRET not in text and f"e.g. {redaction(SECRET)}, {redaction('dup')}" in text
    assert "rows id=7, 51" in text


def test_other_columns_stay_readable() -> None:
    found = {"partial_unexpected_list": ["bob@example"], "observed_value": "zzz"}
    out = redact.result(REGEX, {"column": "email"}, found, Sensitive())
    assert out == found


def test_a_pair_redacts_only_its_sensitive_side() -> None:
    found = {"partial_unexpected_list": [["u1@x.io", SECRET]]}
    kwargs = {"column_A": "email", "column_B": "hashed_password"}
    out = redact.result("expect_column_pair_values_to_be_equal", kwargs, found, Sensitive())
    assert out["partial_unexpected_list"] == [["u1@x.io", redaction(SECRET)]]


@pytest.mark.parametrize(
    ("kind", "observed", "kept"),
    [
        ("expect_column_max_to_be_between", SECRET, False),
        ("expect_column_most_common_value_to_be_in_set", [SECRET], False),
        ("expect_column_distinct_values_to_be_in_set", [SECRET, "x"], False),
        ("expect_column_median_to_be_between", 1234, False),
        ("expect_column_unique_value_count_to_be_between", 40, True),
        ("expect_column_values_to_be_of_type", "TEXT", True),
    ],
)
def test_observed_values_that_are_data_are_redacted(kind: str, observed: Any, kept: bool) -> None:
    found = {"observed_value": observed, "details": {"value_counts": [{"value": SECRET}]}}
    out = redact.result(kind, {"column": "api_token"}, found, Sensitive())
    assert (out["observed_value"] == observed) is kept
    assert SECRET not in json.dumps(out["details"])


def test_unexpected_rows_by_column_name_and_through_an_alias() -> None:
    columns = ["id", "hashed_password", "user_token", "note"]

    def run(query: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        found = {"observed_value": 1, "details": {"unexpected_rows": rows}}
        kwargs = {"unexpected_rows_query": query}
        out = redact.result("unexpected_rows_expectation", kwargs, found, Sensitive(), columns)
        return list(out["details"]["unexpected_rows"])

    # No sensitive column in the query: only names that are sensitive themselves.
    plain = run("SELECT id, upper(note) AS shout FROM {batch}", [{"id": 7, "shout": "FINE"}])
    assert plain == [{"id": 7, "shout": "FINE"}]
    by_name = run("SELECT id, user_token FROM {batch}", [{"id": 7, "user_token": "t0k"}])
    assert by_name == [{"id": 7, "user_token": redaction("t0k")}]
    # The query reads hashed_password: a returned name that is not a column is redacted.
    aliased = run(
        "SELECT id, hashed_password AS pw, note FROM {batch}",
        [{"id": 7, "pw": SECRET, "note": "fine"}],
    )
    assert aliased == [{"id": 7, "pw": redaction(SECRET), "note": "fine"}]


def test_outcome_redacts_gx_own_result_too() -> None:
    from vigil.quality.gx_run import Outcome

    class Raw:
        result: dict[str, Any] = {}

    raw = Raw()
    raw.result = {"partial_unexpected_list": [SECRET]}
    found = Outcome(False, dict(raw.result), raw=raw)
    out = redact.outcome(found, REGEX, {"column": "password"}, Sensitive())
    assert out.result["partial_unexpected_list"] == [redaction(SECRET)]
    assert raw.result["partial_unexpected_list"] == [redaction(SECRET)]  # Data Docs reads it


def test_suite_meta_and_spec_check_declare_sensitive_columns(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    body: dict[str, Any] = {
        "name": "s",
        "meta": {"sensitive_columns": ["ssn"], "not_sensitive_columns": ["token_count"]},
        "expectations": [{"type": "expect_column_to_exist", "kwargs": {"column": "ssn"}}],
    }
    path.write_text(json.dumps(body))
    suite = load_suite(path)
    assert suite.sensitive_columns == ("ssn",)
    assert suite.not_sensitive_columns == ("token_count",)
    body["meta"] = {"sensitive_columns": "ssn"}
    path.write_text(json.dumps(body))
    with pytest.raises(SuiteError, match=r"meta.sensitive_columns must be a list of column"):
        load_suite(path)
    check = SuiteCheck.model_validate(
        {
            "id": "users",
            "kind": "suite",
            "target": "db",
            "suite": "x/users.json",
            "table": "users",
            "sensitive_columns": ["national_id"],
            "not_sensitive_columns": ["*"],
        }
    )
    assert check.sensitive_columns == ["national_id"] and check.not_sensitive_columns == ["*"]
    with pytest.raises(ValidationError):
        SuiteCheck.model_validate({**check.model_dump(by_alias=True), "sensitive_columns": [""]})


def test_key_file_is_created_once_and_shared(tmp_path: Path) -> None:
    first = redaction(SECRET)
    key_file = tmp_path / "state" / redact.KEY_FILE
    stored = key_file.read_bytes()
    redact._keys.clear()  # a new process: reads the same file
    assert redaction(SECRET) == first and key_file.read_bytes() == stored
    assert not [p for p in os.listdir(key_file.parent) if p.startswith(".")]  # no drafts left
