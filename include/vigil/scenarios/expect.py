"""Judging what a step got back: statuses, conditions (whose values may be `{{templates}}`),
and the values it captures (RFC 9535 JSONPath into a document, or a response header).

Shared by every step kind that reads a document: an http response's JSON body, an sql
query's `{row_count, rows}`, a WebSocket message. Pure functions of what they are given,
so the engine's hot path (a parallel step's copies) pays only for the work itself:
JSONPath expressions are compiled once per process, a condition without a template is
used as the spec parsed it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonpath

from vigil.http_client import Response, charset
from vigil.scenarios import templating
from vigil.scenarios.models import Capture
from vigil.spec.conditions import Condition, Outcome, lookup

NO_DOCUMENT = object()  # the body was not read (not JSON, or not needed)
MISSING = lookup({}, "absent")  # what `lookup` returns for a path that leads nowhere


@dataclass
class Judgement:
    """Problems found, conditions judged, values captured."""

    problems: list[str] = field(default_factory=list)
    # Each condition judged, with what it read; its evidence is built only when shown
    # (`records`): a parallel step's passing copies never show theirs.
    judged: list[tuple[Condition, Any, Mapping[str, str] | None, Outcome | None]] = field(
        default_factory=list
    )
    captured: dict[str, Any] = field(default_factory=dict)
    # The first condition that did not hold, for a wait that gives up ("got 'paid'").
    first_unmet: Outcome | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def records(self) -> list[dict[str, Any]]:
        """The conditions' outcomes as evidence: {"condition", "ok", "actual"}."""
        shown = []
        for condition, document, headers, outcome in self.judged:
            if outcome is None:
                outcome = _outcome(condition, document, headers)
            shown.append({"condition": str(condition), "ok": outcome.ok, "actual": outcome.actual})
        return shown


# A JSONPath that only names members and indexes (`$.id`, `$.rows[0].total`): read with
# the conditions' `lookup`, a dictionary walk, rather than the JSONPath machinery (a
# tenth of the time, on every copy of a parallel step). Same single match, or none.
_SIMPLE_PATH = re.compile(r"^\$(\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*$")


class _Simple:
    def __init__(self, path: str) -> None:
        self.path = path

    def findall(self, document: Any) -> list[Any]:
        found = lookup(document, self.path)
        return [] if found is MISSING else [found]


@functools.lru_cache(maxsize=1024)
def compiled(path: str) -> jsonpath.JSONPath | jsonpath.CompoundJSONPath | _Simple:
    """A JSONPath, compiled once per process (the spec's were checked when it loaded)."""
    if _SIMPLE_PATH.match(path):
        return _Simple(path)
    return jsonpath.compile(path)


def status_problem(status: int, expected: list[int] | None) -> str | None:
    """Why `status` is not an expected one (None: any 2xx), or None when it is."""
    if expected is None:
        return None if 200 <= status <= 299 else f"answered {status}, expected 2xx"
    if status in expected:
        return None
    return f"answered {status}, expected {' or '.join(str(s) for s in expected)}"


def body_document(response: Response) -> Any:
    """The JSON body, or NO_DOCUMENT when it is empty, cut or not JSON."""
    if response.truncated or not response.body:
        return NO_DOCUMENT
    try:
        content_type = (header_value(response.headers, "content-type") or "").lower()
        at = content_type.find("charset=")
        if at < 0 or content_type[at + 8 :].strip(" \"'").startswith(("utf-8", "utf8")):
            return _utf8_json(response.body)
        return json.loads(response.body.decode(charset(response.headers)))
    except (ValueError, LookupError):
        return NO_DOCUMENT


def _utf8_json(body: bytes) -> Any:
    """JSON as HTTP sends it, UTF-8 (RFC 8259); else in the encoding its bytes show
    (UTF-16 or -32, which `json.loads` detects)."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return json.loads(body)
    return json.loads(text)


def needs_document(conditions: list[Condition], captures: Mapping[str, Capture]) -> bool:
    return any(c.header is None for c in conditions) or any(
        c.jsonpath is not None for c in captures.values()
    )


def rendered(condition: Condition, variables: Mapping[str, Any]) -> Condition:
    """`condition` with a `{{template}}` value filled in: a whole template keeps its value's
    type; text that reads as a JSON number becomes that number (a header captured as "42"
    compares with the body's 42). TemplateError when a variable has no value."""
    value = condition.value
    if not isinstance(value, str) or "{{" not in value:
        return condition
    filled = templating.render_text(value, variables)
    if isinstance(filled, str):
        filled = _number_or_text(filled)
    return Condition(condition.path, condition.op, filled)


def _number_or_text(text: str) -> Any:
    try:
        number = json.loads(text)
    except ValueError:
        return text
    is_number = isinstance(number, int | float) and not isinstance(number, bool)
    return number if is_number else text


def judge(
    conditions: list[Condition],
    document: Any,
    headers: Mapping[str, str] | None,
    variables: Mapping[str, Any],
    judgement: Judgement,
) -> None:
    """Evaluate `conditions` (templates filled) into `judgement`. A body condition on a
    body that is not JSON does not hold ("got missing")."""
    for condition in conditions:
        current = rendered(condition, variables)
        if current.header is None and document is NO_DOCUMENT:
            holds = False
        else:
            holds = current.holds(document, headers)
        if holds:
            judgement.judged.append((current, document, headers, None))
            continue
        outcome = _outcome(current, document, headers)
        judgement.judged.append((current, document, headers, outcome))
        judgement.problems.append(f"condition {outcome.text} does not hold")
        if judgement.first_unmet is None:
            judgement.first_unmet = outcome


def _outcome(condition: Condition, document: Any, headers: Mapping[str, str] | None) -> Outcome:
    if condition.header is None and document is NO_DOCUMENT:
        return Outcome(False, None, f"{condition} (the body is not JSON)")
    return condition.evaluate(document, headers)


def capture(
    captures: Mapping[str, Capture],
    document: Any,
    headers: Mapping[str, str] | None,
    judgement: Judgement,
    where: str = "the response",
) -> None:
    """Take each capture's value into `judgement.captured`; one that finds nothing is a
    problem naming the capture and its path."""
    for name, spec in captures.items():
        if spec.header is not None:
            value = header_value(headers or {}, spec.header)
            if value is None:
                judgement.problems.append(
                    f"capture '{name}': header {spec.header} is missing from {where}"
                )
                continue
            judgement.captured[name] = [value] if spec.all else value
            continue
        path = spec.jsonpath or "$"
        if document is NO_DOCUMENT:
            judgement.problems.append(f"capture '{name}': {path}: the body is not JSON")
            continue
        matches = compiled(path).findall(document)
        if not matches:
            judgement.problems.append(f"capture '{name}': {path} matched nothing in {where}")
            continue
        judgement.captured[name] = list(matches) if spec.all else matches[0]


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def secret_values(captured: Mapping[str, Any], captures: Mapping[str, Capture]) -> list[str]:
    """The text of every value captured as a secret: an object or a list as JSON, and each
    value inside it on its own (a part reappears alone: a session's handle, echoed)."""
    out: list[str] = []
    for name, value in captured.items():
        spec = captures.get(name)
        if spec is not None and spec.secret:
            _texts(value, out)
    return out


def _texts(value: Any, out: list[str]) -> None:
    if value is None or isinstance(value, bool):
        return  # "null", "true": masking them would hide every one of them, and no secret
    out.append(templating.as_text(value))
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            _texts(item, out)
