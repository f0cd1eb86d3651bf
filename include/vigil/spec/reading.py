"""A spec's YAML, read so that no file can crash, hang or mislead the loader.

The steps, each guarding the next:
1. size: a file over MAX_BYTES is not read;
2. nesting and count: libyaml's composer recurses once per level (100,000 levels crash
   the process) and composes about 150,000 values a second, so `refusal` bounds both on
   the flat event stream first (skipped when the text is too small to reach either);
3. compose: the node tree, with line marks (then `bounds` measures it: aliases);
4. construct: the data. Merge keys (`<<: *base`) are applied to a copy of each mapping's
   entries, never by rewriting the node tree, so the duplicate-key pass and the locator see
   the keys as written; a value the constructor cannot build (`2024-02-30`, an int of
   5,000 digits) is a located YAML error, not an exception.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import BaseConstructor, ConstructorError, SafeConstructor
from yaml.events import CollectionEndEvent, CollectionStartEvent, NodeEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

MAX_BYTES = 1 << 20  # 1 MiB; a spec is a few KB
MAX_DEPTH = 64  # levels of nesting; a spec needs about 8, a request body a few more
MAX_NODES = 50_000  # values, aliases expanded; the demo spec has 700
MERGE = "tag:yaml.org,2002:merge"
_VALUE = "tag:yaml.org,2002:value"
_STR = "tag:yaml.org,2002:str"
_BREAK = re.compile(r"\r\n|[\n\r\x85\u2028\u2029]")  # what YAML counts as a line break


class TooLarge(ValueError):
    """A spec file over MAX_BYTES."""


def read_text(path: Path) -> str:
    """The file's text (UTF-8, a byte-order mark dropped); TooLarge past MAX_BYTES."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise TooLarge(f"the spec file is {size:,} bytes; a spec is at most {MAX_BYTES:,}")
    with path.open("rb") as handle:
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:  # grew since stat
        raise TooLarge(f"the spec file is over {MAX_BYTES:,} bytes; a spec is at most that")
    return data.decode("utf-8-sig")


def lines_of(text: str) -> list[str]:
    """The text's lines as YAML numbers them (CRLF, CR, NEL and LS/PS all end a line)."""
    return _BREAK.split(text)


def _nesting_bound(text: str) -> int:
    """A cheap upper bound of the nesting: every flow bracket, two block levels per column
    of indentation, and every indicator of the busiest line (`- - - x`)."""
    lines = lines_of(text)
    indent = max((len(line) - len(line.lstrip(" ")) for line in lines), default=0)
    busiest = max(
        (line.count("-") + line.count("?") + line.count(":") for line in lines), default=0
    )
    # `${` never opens a flow mapping (in flow context it is a syntax error, in block
    # context plain text), and references are most of a spec's braces.
    brackets = text.count("[") + text.count("{") - text.count("${")
    return brackets + 2 * (indent + 1) + busiest


def refusal(text: str, loader_class: Any) -> tuple[int, int, str] | None:
    """(line, column, why), 1-based, of the first value nested deeper than MAX_DEPTH or
    past the MAX_NODES-th, if any. A value takes at least one character, so a short text
    is not counted."""
    if _nesting_bound(text) <= MAX_DEPTH and len(text) <= MAX_NODES:
        return None
    loader = loader_class(text)
    depth = count = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, NodeEvent):
                count += 1
            if isinstance(event, CollectionStartEvent):
                depth += 1
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
            why = _past_bounds(depth, count)
            if why is not None and event.start_mark is not None:
                return int(event.start_mark.line) + 1, int(event.start_mark.column) + 1, why
    except yaml.YAMLError:
        return None  # composing reports it, at its place
    finally:
        loader.dispose()
    return None


def _past_bounds(depth: int, count: int) -> str | None:
    if depth > MAX_DEPTH:
        return f"nesting deeper than {MAX_DEPTH} levels; a spec nests about 8"
    if count > MAX_NODES:
        return f"more than {MAX_NODES:,} values; a spec holds far fewer"
    return None


class SpecConstructor(SafeConstructor):
    """The safe constructor, with merges that leave the node tree as written and with every
    failure located at its node."""

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            reason = _short(exc)
            if "integer string conversion" in reason:  # Python's 4300-digit guard
                reason = "a number this long is not one Vigil can use"
            raise ConstructorError(
                None, None, f"cannot read this value: {reason}", node.start_mark
            ) from exc

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if any(k.tag in (MERGE, _VALUE) for k, _ in node.value):
            pairs = merged_pairs(node)
            node = MappingNode(node.tag, pairs, node.start_mark, node.end_mark, node.flow_style)
        mapping: dict[Any, Any] = BaseConstructor.construct_mapping(self, node, deep=deep)
        return mapping


def merged_pairs(node: MappingNode) -> list[tuple[Node, Node]]:
    """The mapping's entries with its merges applied, as PyYAML applies them (merged entries
    first, so the mapping's own keys override them; earlier merge sources win)."""
    merged: list[tuple[Node, Node]] = []
    own: list[tuple[Node, Node]] = []
    for key, value in node.value:
        if key.tag == MERGE:
            sources = value.value if isinstance(value, SequenceNode) else [value]
            for source in reversed(sources):
                if not isinstance(source, MappingNode):
                    raise ConstructorError(
                        None,
                        None,
                        "'<<' merges a mapping ('<<: *base') or a list of mappings "
                        f"('<<: [*a, *b]'), not a {source.id}",
                        key.start_mark,
                    )
                merged.extend(merged_pairs(source))
        elif key.tag == _VALUE:  # the `=` key: PyYAML reads it as the string "="
            own.append((ScalarNode(_STR, key.value, key.start_mark, key.end_mark), value))
        else:
            own.append((key, value))
    return merged + own


class SafeLoader(Reader, Scanner, Parser, Composer, SpecConstructor, Resolver):
    """The pure-Python parser: it explains syntax errors better (it names the character)."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        SpecConstructor.__init__(self)
        Resolver.__init__(self)


FAST_LOADER: type[Any] = SafeLoader
if hasattr(yaml, "CSafeLoader"):  # libyaml: about 9x faster; DAG files load specs every parse
    from yaml.cyaml import CParser  # type: ignore[attr-defined]

    class FastLoader(CParser, SpecConstructor, Resolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            SpecConstructor.__init__(self)
            Resolver.__init__(self)

    FAST_LOADER = FastLoader


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 120 else text[:117] + "..."
