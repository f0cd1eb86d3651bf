"""Conditions on a JSON document, written as one line in the spec: ``status == "ok"``.

A path reads keys and list indexes (``items[0].status``); ``$`` alone is the whole
document (a health endpoint answering a bare ``true``: ``$ == true``). A path
``header:<Name>`` reads a response header instead (``header:Content-Type contains json``),
case-insensitively, its value a string (a number when compared with one).

They are parsed when the spec loads (a typo fails the spec, not the 6 a.m. run) and
evaluated by the checks at run time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from vigil.spec.secret_shapes import is_secret_name, redact_secret_shapes, token_shaped
from vigil.spec.secrets import TEMPLATE_REF

OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "contains", "matches", "exists")
_MISSING = object()
MASK = "***"
# Symbol operators need no spaces around them ("code>=200"); word operators do.
_SYNTAX = re.compile(
    r"^\s*(?P<path>header:[\w\-.]+|[A-Za-z0-9_$][\w.\-\[\]$]*?)"
    r"(?:\s*(?P<sym>==|!=|<=|>=|<|>)|\s+(?P<word>contains|matches|exists)(?=\s|$))"
    r"(?:\s*(?P<value>.+?))?\s*$"
)
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_PATH = re.compile(r"^\$$|^(\$\.?)?([\w\-]+|\[\d+\])(\.[\w\-]+|\[\d+\])*$")
HEADER = "header:"


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
                f"with an operator among {', '.join(OPERATORS)}, e.g. 'status == \"ok\"', "
                "'$ == true' (the whole document), 'header:Content-Type contains json'"
            )
        op, raw = match["sym"] or match["word"], match["value"]
        _check_path(text, match["path"])
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
                raise ValueError(f"condition {text!r}: invalid regular expression: {exc}") from None
        # A scenario's `{{variable}}` is a number only at run time (vigil.scenarios).
        templated = isinstance(value, str) and TEMPLATE_REF.fullmatch(value) is not None
        if op in ("<", "<=", ">", ">=") and not _is_number(value) and not templated:
            raise ValueError(f"condition {text!r}: {op!r} compares numbers, got {raw!r}")
        return cls(match["path"], op, value)

    @property
    def header(self) -> str | None:
        """The response header this condition reads, or None when it reads the body."""
        return self.path[len(HEADER) :] if self.path.startswith(HEADER) else None

    def __str__(self) -> str:
        if self.op == "exists":
            return f"{self.path} exists"
        return f"{self.path} {self.op} {json.dumps(self.value)}"

    def evaluate(self, document: Any, headers: Mapping[str, str] | None = None) -> Outcome:
        """Whether it holds on `document` (a parsed JSON body) or, for a `header:`
        condition, on `headers` (a response's; none given: the header is missing)."""
        if self.header is not None:
            actual = _header_value(headers or {}, self.header, self.value)
        else:
            actual = lookup(document, self.path)
        ok = self._holds(actual)
        # What is kept as evidence passes redaction: a token the endpoint answered with
        # (`access_token exists`) is a secret Vigil never saw, so no masker knows it.
        kept = None if actual is _MISSING else self._evidence(actual)
        shown = "missing" if actual is _MISSING else json.dumps(kept, default=str)[:200]
        return Outcome(ok, kept, f"{self} (got {shown})")

    def holds(self, document: Any, headers: Mapping[str, str] | None = None) -> bool:
        """`evaluate(...).ok` without the evidence it builds: for hot paths (a journey's
        parallel copies) that need the evidence only when a condition does not hold."""
        if self.header is not None:
            return self._holds(_header_value(headers or {}, self.header, self.value))
        return self._holds(lookup(document, self.path))

    def _evidence(self, actual: Any) -> Any:
        """`actual` as evidence: whole under a credential's name (`access_token`,
        `header:X-Auth-Token`) or when token-shaped, else with secret shapes redacted."""
        last = _SEGMENT.findall(self.header or self.path)
        name = last[-1][0] if last else ""
        if name and is_secret_name(name, header=True):
            return MASK
        if isinstance(actual, str):
            return MASK if token_shaped(actual) else redact_secret_shapes(actual, MASK)
        if isinstance(actual, dict | list):
            text = redact_secret_shapes(json.dumps(actual, default=str), MASK)
            try:
                return json.loads(text)
            except ValueError:
                return text
        return actual

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


def _check_path(text: str, path: str) -> None:
    if not path.startswith(HEADER) and not _PATH.match(path):
        raise ValueError(
            f"condition {text!r}: cannot read the path {path!r}; write keys separated by "
            "dots and list indexes in brackets, e.g. 'items[0].status' ('$' alone: the "
            "whole document; 'header:<Name>': a response header)"
        )


def _header_value(headers: Mapping[str, str], name: str, expected: Any) -> Any:
    """The header's value (names compare case-insensitively), as a number when `expected`
    is one and it reads as one, as a boolean when `expected` is one; else the string."""
    wanted = name.lower()
    raw = next((v for k, v in headers.items() if k.lower() == wanted), None)
    if raw is None:
        return _MISSING
    if isinstance(expected, bool):
        return {"true": True, "false": False}.get(raw.strip().lower(), raw)
    if _is_number(expected):
        try:
            number = float(raw)
        except ValueError:
            return raw
        return int(number) if number.is_integer() and "." not in raw else number
    return raw


def _validate(value: Any) -> Condition:
    if isinstance(value, Condition):
        return value
    if not isinstance(value, str):
        raise ValueError(f"a condition is a string such as 'status == \"ok\"', got {value!r}")
    return Condition.parse(value)


def _parse_value(raw: str) -> Any:
    """JSON when it is JSON (numbers, quoted strings, true/false/null), else a bare word.

    A quoted string that is not valid JSON (a regex such as "^\\d+", or 'single quotes')
    keeps its content without the quotes.
    """
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
            return raw[1:-1]
        return raw


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(actual: Any, expected: Any) -> bool:
    # true == 1 in Python; in a JSON document a boolean and a number are different things.
    if isinstance(actual, bool) != isinstance(expected, bool):
        return False
    return bool(actual == expected)


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "==":
        return _equal(actual, expected)
    if op == "!=":
        return not _equal(actual, expected)
    if op == "contains":
        return expected in actual if isinstance(actual, list | str | dict) else False
    if op == "matches":
        return re.search(str(expected), str(actual)) is not None
    if not _is_number(actual):
        return False
    return bool(
        {
            "<": actual < expected,
            "<=": actual <= expected,
            ">": actual > expected,
            ">=": actual >= expected,
        }[op]
    )


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
