"""What a problem may show of a spec's text: never a credential.

Problems reach logs, the CLI and Airflow's import-error page. A problem's source line is
cut where the loader knows a credential sits (the value of the problem's own field when a
key along its path names a credential), and every line also goes through a net that hides
what looks like one wherever it is on the line: the value of a credential-named key, the
password or token in a URL, a credential query parameter, a well-known token.
"""

from __future__ import annotations

import re
from typing import Any

from vigil.spec.secret_shapes import KNOWN_TOKEN, is_secret_name, is_secret_query, token_shaped

HIDDEN = "***"
SECRET_FOUND = "(a literal value)"
Span = tuple[int, int]  # 0-based, end exclusive

# Each pattern starts only where a run of its characters starts: linear on any line.
_KEY = re.compile(
    r"""(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?<![\w.\-])(?P<plain>[\w.\-]+))\s*:(?=\s|$|")"""
)
_USERINFO = re.compile(r"://(?P<user>[^:@/\s]*)(?::(?P<password>[^@/\s]*))?@")
_QUERY = re.compile(r"[?&](?P<name>[\w.\-]+)=(?P<value>[^&\s#\"',}\]]*)")


def secret_spans(line: str) -> list[Span]:
    """Parts of one line of YAML that look like credentials."""
    spans = [m.span() for m in KNOWN_TOKEN.finditer(line)]
    for match in _KEY.finditer(line):
        name = match["dq"] if match["dq"] is not None else match["sq"] or match["plain"]
        if name and is_secret_name(name, header=True):
            spans.append(_value_after(line, match.end(), _in_flow(line, match.start())))
    for match in _USERINFO.finditer(line):
        if match["password"]:
            spans.append(match.span("password"))
        elif match["user"] and token_shaped(match["user"]):
            spans.append(match.span("user"))
    for match in _QUERY.finditer(line):
        if match["value"] and is_secret_query(match["name"], match["value"]):
            spans.append(match.span("value"))
    return [span for span in spans if span[1] > span[0]]


def _in_flow(line: str, position: int) -> bool:
    before = line[:position]
    return before.count("{") + before.count("[") > before.count("}") + before.count("]")


def _value_after(line: str, start: int, flow: bool) -> Span:
    """The value that follows a key's colon: to the end of the line (before a comment), or
    in a flow mapping to the ',' or '}' that ends it. Quoted text is skipped and brackets
    are matched, so a ',' inside quotes or a nested list or mapping does not end it."""
    while start < len(line) and line[start] == " ":
        start += 1
    end = _value_end(line, start, flow)
    while end > start and line[end - 1] in " \t":
        end -= 1
    return start, end


def _value_end(line: str, start: int, flow: bool) -> int:
    depth, index = 0, start
    while index < len(line):
        char = line[index]
        if char in "\"'" and (index == start or line[index - 1] in " \t[{,:"):
            index = _after_quoted(line, index)
            continue
        if char == "#" and index > start and line[index - 1] in " \t":
            return index
        if flow and depth == 0 and char in ",]}":
            return index
        depth += (char in "[{") - (char in "]}" and depth > 0)
        index += 1
    return len(line)


def _after_quoted(line: str, index: int) -> int:
    """Where the quoted scalar that opens at `index` ends (past its closing quote; the end
    of the line when it is not closed there)."""
    quote, index = line[index], index + 1
    while index < len(line):
        char = line[index]
        if quote == '"' and char == "\\":
            index += 2
            continue
        if char == quote:
            if quote == "'" and line[index + 1 : index + 2] == "'":
                index += 2
                continue
            return index + 1
        index += 1
    return len(line)


def redact(
    line: str, spans: list[Span], column: int, end: int | None
) -> tuple[str, int, int | None]:
    """The line with each span replaced by ***, and the caret's column and end moved along.
    Columns are 1-based; `end` is exclusive (None: no underline)."""
    merged: list[Span] = []
    for start, stop in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    pieces, last = [], 0
    for start, stop in merged:
        pieces += [line[last:start], HIDDEN]
        last = stop
    pieces.append(line[last:])
    new_column = _moved(column - 1, merged, 0) + 1
    new_end = None if end is None else max(_moved(end - 1, merged, len(HIDDEN)) + 1, new_column + 1)
    return "".join(pieces), new_column, new_end


def _moved(position: int, merged: list[Span], inside: int) -> int:
    """Where a 0-based position of the line lands once the spans are hidden (a position
    inside a span lands at its start, plus `inside`)."""
    shift = 0
    for start, stop in merged:
        if position >= stop:
            shift += stop - start - len(HIDDEN)
        elif position > start:
            return start - shift + inside
        else:
            break
    return position - shift


def scrub(message: str, value: Any) -> str:
    """A message without the text of a hidden value in it."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return message
    text = str(value)
    if len(text) < 3:
        return message
    return message.replace(repr(text), HIDDEN).replace(text, HIDDEN)
