"""Conditions on a JSON document, written as one line in the spec: ``status == "ok"``.

They are parsed when the spec loads (a typo fails the spec, not the 6 a.m. run) and
evaluated by the checks at run time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "contains", "matches", "exists")
_MISSING = object()
_SYNTAX = re.compile(
    r"^\s*(?P<path>[A-Za-z0-9_$][\w.\-\[\]$]*)\s+(?P<op>==|!=|<=|>=|<|>|contains|matches|exists)"
    r"(?:\s+(?P<value>.+?))?\s*$"
)
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class Outcome:
    ok: bool
    actual: Any
    text: str  # "status == 'ok' (got 'degraded')", for messages


@dataclass(frozen=True)
class Condition:
    path: str
    op: str
    value: Any = None

    @classmethod
    def parse(cls, text: str) -> Condition:
        match = _SYNTAX.match(text)
        if not match:
            raise ValueError(
                f"cannot parse condition {text!r}; expected '<path> <operator> <value>' "
                f"with an operator among {', '.join(OPERATORS)}, e.g. 'status == \"ok\"'"
            )
        op, raw = match["op"], match["value"]
        if op == "exists":
            if raw is not None:
                raise ValueError(f"condition {text!r}: 'exists' takes no value")
            return cls(match["path"], op)
        if raw is None:
            raise ValueError(f"condition {text!r}: operator {op!r} needs a value")
        value = _parse_value(raw)
        if op == "matches":
            try:
                re.compile(str(value))
            except re.error as exc:
                raise ValueError(f"condition {text!r}: invalid regular expression: {exc}")
        if op in ("<", "<=", ">", ">=") and not isinstance(value, int | float):
            raise ValueError(f"condition {text!r}: {op!r} compares numbers, got {raw!r}")
        return cls(match["path"], op, value)

    def __str__(self) -> str:
        if self.op == "exists":
            return f"{self.path} exists"
        return f"{self.path} {self.op} {json.dumps(self.value)}"

    def evaluate(self, document: Any) -> Outcome:
        actual = lookup(document, self.path)
        shown = "missing" if actual is _MISSING else json.dumps(actual, default=str)[:200]
        ok = self._holds(actual)
        return Outcome(ok, None if actual is _MISSING else actual, f"{self} (got {shown})")

    def _holds(self, actual: Any) -> bool:
        if self.op == "exists":
            return actual is not _MISSING
        if actual is _MISSING:
            return False
        try:
            return _compare(self.op, actual, self.value)
        except TypeError:
            return False

    # Let pydantic accept the one-line string form and keep the parsed Condition.
    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_plain_validator_function(
            _validate, serialization=core_schema.to_string_ser_schema()
        )


def _validate(value: Any) -> Condition:
    if isinstance(value, Condition):
        return value
    if not isinstance(value, str):
        raise ValueError(f"a condition is a string such as 'status == \"ok\"', got {value!r}")
    return Condition.parse(value)


def _parse_value(raw: str) -> Any:
    """JSON when it is JSON (numbers, quoted strings, true/false/null), else a bare word."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "==":
        return bool(actual == expected)
    if op == "!=":
        return bool(actual != expected)
    if op == "contains":
        return expected in actual if isinstance(actual, list | str | dict) else False
    if op == "matches":
        return re.search(str(expected), str(actual)) is not None
    if isinstance(actual, bool) or not isinstance(actual, int | float):
        return False
    return {"<": actual < expected, "<=": actual <= expected, ">": actual > expected,
            ">=": actual >= expected}[op]


def lookup(document: Any, path: str) -> Any:
    """Follow ``a.b[0].c`` (a leading ``$.`` is allowed) through dicts and lists."""
    current = document
    for name, index in _SEGMENT.findall(path.removeprefix("$.").removeprefix("$")):
        if index:
            if not isinstance(current, list) or int(index) >= len(current):
                return _MISSING
            current = current[int(index)]
        elif isinstance(current, dict) and name in current:
            current = current[name]
        else:
            return _MISSING
    return current
