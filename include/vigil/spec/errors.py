"""Spec problems, located and rendered the way a compiler reports them.

    specs/demo.yaml:14:5: checks.health[2].timout_s: unknown key 'timout_s' — did you mean ...
       14 |     timout_s: 3
          |     ^~~~~~~~

One `SpecError` carries every problem of one file, so a person fixes them in one pass.
Nothing in a problem is long: texts are clipped, and a long source line is shown cut around
the caret (a 100,000-character value is not printed).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # shown as '?', one column each
MAX_UNDERLINE = 60
MAX_EXCERPT = 120  # characters of a source line shown around the caret
_BEFORE_CARET = 40
_LIMITS = {"message": 400, "path": 200, "hint": 300, "found": 120, "expected": 200}


def clip(text: str, limit: int) -> str:
    """`text` cut in the middle to at most `limit` characters: a long value quoted inside
    a message goes, what the message says after it stays."""
    if len(text) <= limit:
        return text
    tail = limit // 3
    return text[: limit - tail - 5] + " ... " + text[-tail:]


def did_you_mean(word: object, choices: Collection[str]) -> str | None:
    """A hint naming the closest choice, if one is close enough to be a likely typo."""
    if not isinstance(word, str):
        return None
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def format_path(loc: Iterable[str | int]) -> str:
    """`("checks", "health", 2, "timeout_s")` -> `checks.health[2].timeout_s`."""
    text = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(str(part)):
            text += f".{part}" if text else str(part)
        else:
            text += f"[{str(part)!r}]"
    return text


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a spec file, and where."""

    file: str
    line: int | None  # 1-based; None when the problem has no place (unreadable file)
    column: int | None  # 1-based
    path: str  # field path, e.g. checks.health[2].expect_status; "" for the whole file
    message: str
    found: str | None = None  # a short rendering of what the file holds there
    expected: str | None = None
    hint: str | None = None  # e.g. "did you mean 'timeout_s'?"
    source_line: str | None = None  # the line as written (secrets masked)
    end_column: int | None = None  # 1-based, exclusive, in source_line; for underlining
    source_column: int | None = None  # the caret's column in source_line, when not `column`

    def __post_init__(self) -> None:
        for name, limit in _LIMITS.items():
            text = getattr(self, name)
            if isinstance(text, str) and len(text) > limit:
                object.__setattr__(self, name, clip(text, limit))

    def headline(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        text = f"{where}: "
        if self.path:
            text += f"{self.path}: "
        text += self.message
        if self.hint:
            text += f" — {self.hint}"
        return text

    def excerpt(self) -> tuple[str, int, int]:
        """The source line as shown (cut around the caret when long), the caret's column in
        it and the underline's width."""
        line = _CONTROL.sub("?", (self.source_line or "").rstrip())
        column = max(self.source_column or self.column or 1, 1)
        width = 1
        if self.end_column and self.end_column > column:
            width = min(self.end_column - column, MAX_UNDERLINE)
        if len(line) > MAX_EXCERPT:
            start = max(0, min(column - 1 - _BEFORE_CARET, len(line) - MAX_EXCERPT))
            head = "..." if start else ""
            tail = "..." if start + MAX_EXCERPT < len(line) else ""
            line = head + line[start : start + MAX_EXCERPT] + tail
            column += len(head) - start
            width = max(1, min(width, MAX_EXCERPT + len(head) - column + 1))
        return line, column, width

    def render(self) -> str:
        """The headline, then the source line and a caret under the column."""
        lines = [self.headline()]
        if self.line is not None and self.source_line is not None:
            number = str(self.line)
            gutter = " " * (len(number) + 2)
            line, column, width = self.excerpt()
            lines.append(f"  {number} | {line}")
            lines.append(f"{gutter} | {' ' * (column - 1)}^{'~' * (width - 1)}")
        return "\n".join(lines)


def format_problems(problems: Iterable[Problem]) -> str:
    return "\n".join(problem.render() for problem in problems)


class SpecError(Exception):
    """A spec file that cannot be used; `problems` lists everything wrong with it."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(format_problems(self.problems))

    def __str__(self) -> str:
        return format_problems(self.problems)

    def __reduce__(self) -> tuple[type[SpecError], tuple[list[Problem]]]:
        # Keep the problems through pickling (multiprocessing, Airflow's DAG processor).
        return (SpecError, (self.problems,))
