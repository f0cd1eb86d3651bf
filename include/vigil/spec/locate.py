"""From a location in the parsed data (a pydantic `loc`) back to the YAML node and its line.

`yaml.compose` keeps a start and end mark on every node; walking the node tree along the
loc finds where to point. Tags of discriminated unions (pydantic puts the `kind` value in
the loc) and other non-key elements are skipped; a key that is absent (a missing field)
leaves the walk at the mapping that should hold it. A key that a mapping has through a merge
(`<<: *base`) points at that `<<:` line, the place that made it part of this mapping. Paths
name keys as written (`~`, not `None`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from yaml import YAMLError
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vigil.spec.reading import MERGE, merged_pairs

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


def _matches(key: Node, elem: Any) -> bool:
    if not isinstance(key, ScalarNode):
        return False
    if key.value == str(elem):
        return True
    if key.tag == "tag:yaml.org,2002:str":
        return False
    try:  # `~: x` is the key None (pydantic's loc says 'None'), `1: x` the key 1
        value = SafeConstructor().construct_object(key)
    except (YAMLError, ValueError, OverflowError):
        return False
    return bool(value == elem and type(value) is type(elem)) or str(value) == elem


def _pairs(mapping: MappingNode) -> list[tuple[Node, Node]]:
    """Entries as written (and first), then those merged in, by precedence."""
    own = [(k, v) for k, v in mapping.value if k.tag != MERGE]
    if len(own) == len(mapping.value):
        return own
    try:
        merged = merged_pairs(mapping)
    except YAMLError:
        return own
    return own + merged[::-1]  # later merged entries win


def _merge_key(mapping: MappingNode) -> Node | None:
    return next((k for k, _ in mapping.value if k.tag == MERGE), None)


def _entry(mapping: MappingNode, elem: Any) -> tuple[Node, Node, bool] | None:
    """The key and value for `elem`, and whether they come through a merge."""
    own = len([k for k, _ in mapping.value if k.tag != MERGE])
    for index, (key, value) in enumerate(_pairs(mapping)):
        if _matches(key, elem):
            return key, value, index >= own
    return None


def _kind(mapping: MappingNode) -> str | None:
    entry = _entry(mapping, "kind")
    return entry[1].value if entry and isinstance(entry[1], ScalarNode) else None


def _written(key: Node, elem: str | int) -> str | int:
    return key.value if isinstance(key, ScalarNode) and isinstance(key.value, str) else elem


def walk(root: Node, loc: Loc) -> Spot:
    node, key = root, None
    merge: Node | None = None  # the first `<<:` the walk went through
    parts: list[str | int] = []
    for index, elem in enumerate(loc):
        if elem == DICT_KEY:
            return Spot(merge or key or node, None, tuple(parts), True)
        if isinstance(node, MappingNode):
            entry = _entry(node, elem)
            if entry:
                if entry[2] and merge is None:
                    merge = _merge_key(node)
                key, node = entry[0], entry[1]
                parts.append(_written(key, elem))
            elif isinstance(elem, str) and elem.isidentifier() and elem != _kind(node):
                rest = [e for e in loc[index:] if e != DICT_KEY]
                return Spot(merge or node, merge or key, (*parts, *rest), False)
        elif isinstance(node, SequenceNode) and isinstance(elem, int) and elem < len(node.value):
            node, key = node.value[elem], None
            parts.append(elem)
    if merge is not None:
        return Spot(merge, merge, tuple(parts), True)
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
