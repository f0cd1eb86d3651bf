"""From a location in the parsed data (a pydantic `loc`) back to the YAML node and its line.

`yaml.compose` keeps a start and end mark on every node; walking the node tree along the
loc finds where to point. Tags of discriminated unions (pydantic puts the `kind` value in
the loc) and other non-key elements are skipped; a key that is absent (a missing field)
leaves the walk at the mapping that should hold it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Loc = tuple[str | int, ...]
DICT_KEY = "[key]"  # pydantic's marker for an error in a dict key rather than its value


@dataclass(frozen=True)
class Spot:
    node: Node  # the value found, or the mapping missing the key
    key: Node | None  # the key node of the last mapping entry followed
    parts: Loc  # the loc without union tags: the field path to show
    found: bool  # False when the walk stopped at a mapping that lacks the key

    @property
    def line(self) -> int:
        return int(self.node.start_mark.line) + 1

    @property
    def column(self) -> int:
        return int(self.node.start_mark.column) + 1

    def end_column(self, node: Node | None = None) -> int | None:
        node = node or self.node
        start, end = node.start_mark, node.end_mark
        return int(end.column) + 1 if start.line == end.line else None


def _entry(mapping: MappingNode, elem: str | int) -> tuple[Node, Node] | None:
    for key, value in mapping.value:
        if isinstance(key, ScalarNode) and key.value == str(elem):
            return key, value
    return None


def _kind(mapping: MappingNode) -> str | None:
    entry = _entry(mapping, "kind")
    return entry[1].value if entry and isinstance(entry[1], ScalarNode) else None


def walk(root: Node, loc: Loc) -> Spot:
    node, key = root, None
    parts: list[str | int] = []
    for index, elem in enumerate(loc):
        if elem == DICT_KEY:
            return Spot(key or node, None, tuple(parts), True)
        if isinstance(node, MappingNode):
            entry = _entry(node, elem)
            if entry:
                key, node = entry
                parts.append(elem)
            elif isinstance(elem, str) and elem.isidentifier() and elem != _kind(node):
                rest = [e for e in loc[index:] if e != DICT_KEY]
                return Spot(node, key, (*parts, *rest), False)
        elif isinstance(node, SequenceNode) and isinstance(elem, int) and elem < len(node.value):
            node, key = node.value[elem], None
            parts.append(elem)
    return Spot(node, key, tuple(parts), True)


@dataclass(frozen=True)
class DuplicateKey:
    key: Node
    first: Node
    parts: Loc


def duplicate_keys(root: Node) -> Iterator[DuplicateKey]:
    """Keys written twice in one mapping: YAML keeps the last silently, Vigil reports it."""
    for node, parts in _mappings(root):
        seen: dict[str, Node] = {}
        for key, _ in node.value:
            if not isinstance(key, ScalarNode):
                continue
            if key.value in seen:
                yield DuplicateKey(key, seen[key.value], (*parts, key.value))
            else:
                seen[key.value] = key


def _mappings(root: Node) -> Iterator[tuple[MappingNode, Loc]]:
    """Every mapping node once, with its path; aliases to a node already seen are skipped."""
    stack: list[tuple[Node, Loc]] = [(root, ())]
    seen: set[int] = set()
    while stack:
        node, parts = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            yield node, parts
            stack.extend((v, (*parts, k.value)) for k, v in node.value if isinstance(k, ScalarNode))
        elif isinstance(node, SequenceNode):
            stack.extend((item, (*parts, i)) for i, item in enumerate(node.value))


def is_recursive(root: Node) -> Node | None:
    """A node that contains itself through aliases (`&a [*a]`), which no spec needs."""
    on_path: set[int] = set()
    done: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            on_path.discard(id(node))
            done.add(id(node))
            continue
        if id(node) in on_path:
            return node
        if id(node) in done:
            continue
        on_path.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))
    return None


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []
