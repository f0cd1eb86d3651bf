"""Conditions on a PromQL query's result, one line each: ``value == 1``, ``max < 0.5``.

``<subject> <comparison> <number>``, the subject one of:
- ``value``: every series of the result (``up{job="orders"}`` all 1: ``value == 1``);
- ``count``: how many series the result has (``count >= 3``);
- ``min``, ``max``, ``sum``, ``avg``: over the values of every series.

An empty result fails the check before any condition unless the check sets
`allow_empty`; then ``value``, ``min``, ``max`` and ``avg`` conditions hold (no series
breaks them) and ``count``/``sum`` read 0.

`query_problem` is the cheap look at a query when the spec loads: brackets that do not
pair up and strings left open (Prometheus judges the rest when the check runs).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from vigil.checks.metric_eval import compare
from vigil.checks.metric_expr import COMPARISONS, fmt
from vigil.spec.errors import did_you_mean

SUBJECTS = ("value", "count", "min", "max", "sum", "avg")
MAX_QUERY_CHARS = 4000
_SYNTAX = re.compile(
    r"^\s*(?P<subject>[A-Za-z_]+)\s*(?P<op><=|>=|==|!=|<|>)\s*"
    r"(?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*$"
)
_PAIRS = {")": "(", "]": "[", "}": "{"}


@dataclass(frozen=True)
class ResultCondition:
    subject: str
    op: str
    threshold: float

    @classmethod
    def parse(cls, text: str) -> ResultCondition:
        match = _SYNTAX.match(text)
        if match is None:
            raise ValueError(
                f"cannot parse result condition {text!r}; expected '<subject> <comparison> "
                f"<number>' with a subject among {', '.join(SUBJECTS)} and a comparison among "
                f"{' '.join(COMPARISONS)}, e.g. 'value == 1' (every series), 'count > 0', "
                "'max < 0.5'"
            )
        subject = match["subject"]
        if subject not in SUBJECTS:
            hint = did_you_mean(subject, SUBJECTS)
            raise ValueError(
                f"result condition {text!r}: unknown subject {subject!r}; one of "
                f"{', '.join(SUBJECTS)}" + (f" ({hint})" if hint else "")
            )
        return cls(subject, match["op"], float(match["number"]))

    def __str__(self) -> str:
        return f"{self.subject} {self.op} {fmt(self.threshold)}"

    def evaluate(self, series: list[tuple[str, float]]) -> tuple[bool, str]:
        """Whether it holds on the result's (name, value) series, and what it saw."""
        values = [value for _, value in series]
        if self.subject == "value":
            bad = [(n, v) for n, v in series if not compare(self.op, v, self.threshold)]
            if not bad:
                return True, f"{self} holds for {len(series)} series"
            named = ", ".join(f"{n} = {fmt(v)}" for n, v in bad[:5])
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            return False, (
                f"{self} does not hold for {len(bad)} of {len(series)} series: {named}{more}"
            )
        if self.subject in ("min", "max", "avg") and not values:
            return True, f"{self} holds: the result is empty"
        actual = _aggregate(self.subject, values)
        ok = compare(self.op, actual, self.threshold)
        return ok, f"{self} {'holds' if ok else 'does not hold'}: {self.subject} is {fmt(actual)}"

    # Let pydantic accept the one-line string form and keep the parsed condition.
    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_plain_validator_function(
            _validate, serialization=core_schema.to_string_ser_schema()
        )


def _aggregate(subject: str, values: list[float]) -> float:
    if subject == "count":
        return float(len(values))
    if subject == "sum":
        return math.fsum(values)
    if subject == "avg":
        return math.fsum(values) / len(values)
    # min/max: a NaN anywhere makes the answer NaN (Python's min would depend on order)
    if any(math.isnan(v) for v in values):
        return math.nan
    return min(values) if subject == "min" else max(values)


def _validate(value: Any) -> ResultCondition:
    if isinstance(value, ResultCondition):
        return value
    if not isinstance(value, str):
        raise ValueError(f"a result condition is a string such as 'value == 1', got {value!r}")
    return ResultCondition.parse(value)


def query_problem(query: str) -> str | None:
    """Why `query` cannot be PromQL, as far as brackets and quotes tell; None if it may be."""
    stack: list[tuple[str, int]] = []
    i = 0
    while i < len(query):
        char = query[i]
        if char in "\"'`":
            end = _string_end(query, i)
            if end is None:
                return f"the string opened at character {i + 1} is not closed"
            i = end
        elif char == "#":  # a comment, to the end of the line
            newline = query.find("\n", i)
            i = len(query) if newline < 0 else newline
        elif char in "([{":
            stack.append((char, i))
        elif char in ")]}":
            if not stack or stack[-1][0] != _PAIRS[char]:
                return f"{char!r} at character {i + 1} closes nothing that is open"
            stack.pop()
        i += 1
    if stack:
        char, at = stack[-1]
        return f"{char!r} at character {at + 1} is not closed"
    return None


def _string_end(query: str, start: int) -> int | None:
    quote = query[start]
    i = start + 1
    while i < len(query):
        if query[i] == "\\" and quote != "`":
            i += 2
            continue
        if query[i] == quote:
            return i
        i += 1
    return None
