"""SQL fragments from a spec (row filters, custom expectation queries) are one statement:
a second one could end the read-only transaction and write to the watched database."""

from __future__ import annotations

import pytest

from vigil.quality.models import SuiteCheck
from vigil.spec.validators import check_single_sql

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "text",
    [
        "created_at >= now() - interval '1 day'",
        "note = 'semi;colon' AND x > 1",
        'name = "a;b"',
        "x > 1 -- comment; with a semicolon",
        "x > 1 /* a; b */",
        "x > 1;",  # a trailing one is harmless
    ],
)
def test_one_expression_is_accepted(text: str) -> None:
    assert check_single_sql(text, "row_filter") == text


@pytest.mark.parametrize(
    "text",
    [
        "true; COMMIT; BEGIN READ WRITE; DELETE FROM t WHERE id <= 3; COMMIT; SELECT 1 WHERE true",
        "x > 1; DROP TABLE t",
        "note = 'a' ; DELETE FROM t",
    ],
)
def test_a_second_statement_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="without ';'"):
        check_single_sql(text, "row_filter")
    with pytest.raises(ValueError, match="row_filter must be one SQL expression"):
        SuiteCheck(kind="suite", id="x", target="db", suite="a.json", table="t", row_filter=text)
