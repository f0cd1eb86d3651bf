"""One spec file on its way to a `Spec`: its text, node tree, data and located problems.

Every problem of a file is built here, so every one is masked the same way: when a key along
its path names a credential, neither its source line nor what it found nor its message shows
the value; and every source line goes through `masking.secret_spans` whatever the problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yaml.nodes import Node

from vigil.spec.errors import Problem, format_path
from vigil.spec.locate import Spot, walk
from vigil.spec.masking import SECRET_FOUND, Span, redact, scrub, secret_spans
from vigil.spec.reading import MERGE, lines_of
from vigil.spec.secrets import is_secret_loc

if TYPE_CHECKING:
    from vigil.spec.models import Spec

Loc = tuple[str | int, ...]
_NO_VALUE = object()


@dataclass
class Parsed:
    path: Path
    text: str = ""
    root: Node | None = None
    data: Any = None
    problems: list[Problem] = field(default_factory=list)
    spec: Spec | None = None  # once every pass found nothing wrong
    _lines: list[str] | None = None

    def source(self, line: int) -> str | None:
        if self._lines is None:
            self._lines = lines_of(self.text)
        return self._lines[line - 1] if 0 < line <= len(self._lines) else None

    def add(
        self,
        spot: Spot | None,
        message: str,
        *,
        mask: bool = False,
        hide: Node | None = None,
        value: Any = _NO_VALUE,
        **extra: Any,
    ) -> None:
        """A problem at `spot`. `mask`: the value there is a secret (also when a key on the
        path names a credential); `hide`: the node whose text is the secret (default: the
        spot's); `value`: the raw value, kept out of the message when it is a secret."""
        if spot is None:
            path = extra.pop("path", "")
            self.problems.append(Problem(str(self.path), None, None, path, message, **extra))
            return
        secret = mask or is_secret_loc(spot.parts)
        if secret:
            if extra.get("found") is not None:
                extra["found"] = SECRET_FOUND
            if value is not _NO_VALUE:
                message = scrub(message, value)
        line, column, end = spot.line, spot.column, spot.end_column()
        source, shown_column = self.source(line), None
        if source is not None:
            spans = secret_spans(source)
            span = _span_on(hide or spot.node, line, source) if secret else None
            source, shown_column, end = redact(source, [*spans, *filter(None, [span])], column, end)
        self.problems.append(
            Problem(
                file=str(self.path),
                line=line,
                column=column,
                path=extra.pop("path", format_path(spot.parts)),
                message=message,
                source_line=source,
                end_column=end,
                source_column=shown_column if shown_column != column else None,
                **extra,
            )
        )

    def add_at(self, loc: Loc, message: str, *, at_key: bool = False, **extra: Any) -> None:
        """A problem at a data location (a pydantic `loc`), found on the node tree."""
        if self.root is None:
            self.add(None, message, path=format_path(loc), **extra)
            return
        spot = walk(self.root, loc)
        if at_key and spot.key is not None and spot.found:
            extra.setdefault("hide", spot.node)  # a key's value is what a secret would be
            spot = Spot(spot.key, None, spot.parts, True)
        self.add(spot, message, **extra)

    def add_mark(self, line: int, column: int, message: str, **extra: Any) -> None:
        """A problem at a place that is no node (a syntax error, a nesting too deep)."""
        source = self.source(line)
        shown = None
        if source is not None:
            source, shown, _ = redact(source, secret_spans(source), column, None)
        self.problems.append(
            Problem(
                str(self.path),
                line,
                column,
                extra.pop("path", ""),
                message,
                source_line=source,
                source_column=shown if shown != column else None,
                **extra,
            )
        )


def _span_on(node: Node, line: int, source: str) -> Span | None:
    """The part of the line that `node` covers (to the line's end when it goes on)."""
    start, end = node.start_mark, node.end_mark
    if node.tag == MERGE or int(start.line) + 1 != line:
        return None
    stop = int(end.column) if end.line == start.line else len(source)
    return int(start.column), max(stop, int(start.column))
