"""Body conditions: parsing (at load time) and evaluation (at run time, never crashing)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from vigil.spec.conditions import Condition, lookup

pytestmark = pytest.mark.unit

DOC: dict[str, Any] = {
    "status": "ok",
    "version": "2.14.1",
    "uptime_s": 3600,
    "ratio": 0.25,
    "ready": True,
    "nothing": None,
    "tags": ["blue", "prod"],
    "deps": {"db": {"status": "ok"}, "cache": {"status": "degraded"}},
    "items": [{"id": 1, "state": "done"}, {"id": 2, "state": "open"}],
}


@pytest.mark.parametrize(
    ("text", "holds"),
    [
        ('status == "ok"', True),
        ("status == ok", True),
        ("status == 'ok'", True),
        ('status == "down"', False),
        ('status != "down"', True),
        ("status != ok", False),
        ("uptime_s == 3600", True),
        ("uptime_s == 3600.0", True),
        ("ratio < 0.5", True),
        ("ratio < 0.25", False),
        ("ratio <= 0.25", True),
        ("uptime_s > 60", True),
        ("uptime_s > 3600", False),
        ("uptime_s >= 3600", True),
        ("uptime_s>=3600", True),
        ("ready == true", True),
        ("nothing == null", True),
        ("tags contains prod", True),
        ('tags contains "green"', False),
        ("version contains 14", False),  # a number is not in a string: false, no crash
        ('version contains "14"', True),
        ("deps contains db", True),
        ('version matches "^\\d+\\.\\d+"', True),
        ("version matches ^3", False),
        ("status matches 'o.'", True),
        ("deps.cache.status == degraded", True),
        ("$.deps.db.status == ok", True),
        ("items[1].state == open", True),
        ("items[0].id < 2", True),
        ("status exists", True),
        ("nothing exists", True),
        ("deps.queue exists", False),
    ],
)
def test_every_operator(text: str, holds: bool) -> None:
    outcome = Condition.parse(text).evaluate(DOC)
    assert outcome.ok is holds, outcome.text


@pytest.mark.parametrize(
    "text",
    [
        'missing == "ok"',
        "missing != ok",
        "missing < 3",
        "missing contains x",
        "missing matches .",
        "items[5].id == 1",
        "tags[9] == blue",
        "status.deeper == 1",
        "tags.first == blue",
        "items[0][0] == 1",
    ],
)
def test_missing_paths_are_false(text: str) -> None:
    outcome = Condition.parse(text).evaluate(DOC)
    assert outcome.ok is False
    assert outcome.actual is None
    assert outcome.text.endswith("(got missing)")


@pytest.mark.parametrize(
    "text",
    [
        "status > 3",  # a string compared with a number
        "ready > 0",  # a boolean is not a number
        "tags < 2",
        "deps >= 1",
        "ready == 1",  # true is not 1 in JSON
        "uptime_s == true",
        "uptime_s contains 3",
        "deps contains [1]",  # unhashable needle in a mapping
    ],
)
def test_type_mismatch_is_false_not_a_crash(text: str) -> None:
    assert Condition.parse(text).evaluate(DOC).ok is False


def test_evaluate_on_a_non_document() -> None:
    for document in (None, "plain text", 42, [1, 2]):
        assert Condition.parse("status == ok").evaluate(document).ok is False
    assert Condition.parse("$[1] == 2").evaluate([1, 2]).ok is True


def test_outcome_text_names_what_was_seen() -> None:
    outcome = Condition.parse('deps.cache.status == "ok"').evaluate(DOC)
    assert outcome.text == 'deps.cache.status == "ok" (got "degraded")'
    assert outcome.actual == "degraded"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("status = ok", "cannot parse condition"),
        ("status", "cannot parse condition"),
        ("== ok", "cannot parse condition"),
        ("status equals ok", "cannot parse condition"),
        ("statuscontains ok", "cannot parse condition"),
        ("status ==", "needs a value"),
        ("status exists 1", "'exists' takes no value"),
        ("uptime_s > soon", "compares numbers"),
        ("ready < true", "compares numbers"),
        ('version matches "[0-9"', "invalid regular expression"),
        ("version matches (", "invalid regular expression"),
        ("a..b == 1", "cannot read the path"),
        ("a[x] == 1", "cannot read the path"),
        ("a[1 == 1", "cannot read the path"),
    ],
)
def test_parse_errors(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(")):
        Condition.parse(text)


def test_str_round_trips() -> None:
    for text in ('status == "ok"', "uptime_s >= 60", "deps exists", 'tags contains "prod"'):
        condition = Condition.parse(text)
        assert str(condition) == text
        assert Condition.parse(str(condition)) == condition


def test_pydantic_accepts_strings_and_serialises_back() -> None:
    adapter = TypeAdapter(list[Condition])
    parsed = adapter.validate_python(["status == ok", Condition("a", "exists")])
    assert parsed == [Condition("status", "==", "ok"), Condition("a", "exists")]
    assert adapter.dump_python(parsed, mode="json") == ['status == "ok"', "a exists"]
    with pytest.raises(ValidationError, match="a condition is a string"):
        adapter.validate_python([42])


def test_lookup() -> None:
    assert lookup(DOC, "items[1].id") == 2
    assert lookup(DOC, "$.deps.db") == {"status": "ok"}
    assert lookup(DOC, "$") is DOC


# --- the whole document, and response headers ------------------------------------------


@pytest.mark.parametrize(
    ("text", "document", "holds"),
    [
        ("$ == true", True, True),
        ("$ == true", False, False),
        ("$ == true", 1, False),  # a number is not a boolean
        ('$ == "ok"', "ok", True),
        ("$ contains up", "all up", True),
        ("$ exists", None, True),  # a JSON null is a value
        ("$[0] == 1", [1, 2], True),
        ("$ == 3", 3, True),
    ],
)
def test_root_path_is_the_whole_document(text: str, document: Any, holds: bool) -> None:
    assert Condition.parse(text).evaluate(document).ok is holds


HEADERS = {"Content-Type": "application/json; charset=utf-8", "X-Count": "3", "X-Ok": "TRUE"}


@pytest.mark.parametrize(
    ("text", "holds"),
    [
        ("header:Content-Type contains json", True),
        ("header:content-type matches ^application/", True),
        ("header:X-Count == 3", True),  # a number when compared with one
        ('header:X-Count == "3"', True),
        ("header:X-Count >= 2", True),
        ("header:X-Count < 3", False),
        ("header:X-Ok == true", True),
        ("header:X-Count == true", False),
        ("header:Content-Type > 1", False),  # not a number: false, no crash
        ("header:X-Count exists", True),
        ("header:X-Missing exists", False),
        ("header:X-Missing != 1", False),
    ],
)
def test_header_conditions(text: str, holds: bool) -> None:
    condition = Condition.parse(text)
    assert condition.header == text.split(":", 1)[1].split()[0]
    assert condition.evaluate({"X-Count": 3}, HEADERS).ok is holds


def test_a_header_condition_without_headers_finds_it_missing() -> None:
    outcome = Condition.parse("header:X-Count exists").evaluate(DOC)
    assert outcome.ok is False and outcome.text == "header:X-Count exists (got missing)"
    assert Condition.parse("status exists").header is None


def test_header_and_root_conditions_round_trip() -> None:
    for text in ("$ == true", 'header:Content-Type contains "json"', "header:X-Id exists"):
        condition = Condition.parse(text)
        assert str(condition) == text
        assert Condition.parse(str(condition)) == condition


@pytest.mark.parametrize(
    "text", ["header: == 1", "header:X(1) == 1", "header:Content-Type", "$$ == 1", "$. == 1"]
)
def test_bad_header_and_root_conditions_fail_at_parse_time(text: str) -> None:
    with pytest.raises(ValueError, match=r"cannot (parse condition|read the path)"):
        Condition.parse(text)
