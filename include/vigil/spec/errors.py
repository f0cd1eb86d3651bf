"""Spec problems, located and rendered the way a compiler reports them.

    specs/demo.yaml:14:5: checks.health[2].timout_s: unknown key 'timout_s' — did you mean ...
       14 |     timout_s: 3
          |     ^~~~~~~~

One `SpecError` carries every problem of one file, so a person fixes them in one pass.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]+")
MAX_UNDERLINE = 60


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
    end_column: int | None = None  # 1-based, exclusive; for underlining a one-line token

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

    def render(self) -> str:
        """The headline, then the source line and a caret under the column."""
        lines = [self.headline()]
        if self.line is not None and self.source_line is not None:
            number = str(self.line)
            gutter = " " * (len(number) + 2)
            column = max(self.column or 1, 1)
            width = 1
            if self.end_column and self.end_column > column:
                width = min(self.end_column - column, MAX_UNDERLINE)
            lines.append(f"  {number} | {self.source_line.rstrip()}")
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
