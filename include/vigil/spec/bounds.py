"""How big a composed YAML document really is once its aliases are expanded.

`&a [*b, *b, ...]` nine times over is a few lines and a billion values ("billion laughs");
aliases can also stack nesting that no single line shows, or loop (`&a [*a]`). Every later
pass (the secret scan, validation) walks the data expanded, so the document is measured
first on its node tree, where a node shared through aliases is one object: each node once,
its expanded size and depth from its children's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vigil.spec.reading import MAX_DEPTH, MAX_NODES

Loc = tuple[str | int, ...]
CYCLE = "recursive YAML alias; a spec holds no cycles"


@dataclass(frozen=True)
class Excess:
    """Where a document loops or grows past a bound: the value to point at and why."""

    node: Node
    parts: Loc
    message: str


@dataclass
class _Measure:
    size: dict[int, int]  # of collections; a scalar is 1
    depth: dict[int, int]  # collections nested, as `reading.refusal` counts; a scalar is 0
    parents: Counter[int]
    loop: Node | None = None


def plain_size(root: Node) -> int | None:
    """The number of nodes when no node is shared (no alias: a plain tree, whose size and
    nesting `reading.refusal` already bounded); None when some node is (call `excess`)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            return None
        seen.add(id(node))
        if isinstance(node, MappingNode):
            for key, value in node.value:
                stack += (key, value)
        elif isinstance(node, SequenceNode):
            stack += node.value
    return len(seen)


def excess(root: Node) -> Excess | None:
    """A cycle, or the place where the expanded document grows past MAX_NODES or
    MAX_DEPTH, if any."""
    measure = _measure(root)
    if measure.loop is not None:
        return Excess(measure.loop, (), CYCLE)
    total = measure.size.get(id(root), 1)
    if total > MAX_NODES:
        node, parts = _descend(root, measure, measure.size, MAX_NODES)
        size = measure.size[id(node)]
        how = "once its aliases are expanded" if measure.parents else "in all"
        return Excess(
            node,
            parts,
            f"this value stands for {size:,} values {how}; a spec holds at most "
            f"{MAX_NODES:,} (an alias repeated inside an alias multiplies: is it an alias "
            "bomb?)",
        )
    if measure.depth.get(id(root), 0) > MAX_DEPTH:
        node, parts = _descend(root, measure, measure.depth, 0)
        depth = measure.depth[id(node)]
        return Excess(
            node,
            parts,
            f"through its aliases this value nests {depth:,} levels deep; a spec nests at "
            f"most {MAX_DEPTH} levels",
        )
    return None


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _measure(root: Node) -> _Measure:
    """Expanded size and depth of every collection and how many parents share it, depth
    first without recursion: a collection is finished once its children are; one reached
    again while still open is a cycle."""
    measure = _Measure({}, {}, Counter())
    size, depth, parents = measure.size, measure.depth, measure.parents
    opened: set[int] = set()
    stack = [root]
    while stack:
        node = stack[-1]
        if id(node) in size or isinstance(node, ScalarNode):
            stack.pop()
            continue
        children = _children(node)
        waiting = [c for c in children if id(c) not in size and not isinstance(c, ScalarNode)]
        if waiting and id(node) not in opened:
            opened.add(id(node))
            loop = next((c for c in waiting if id(c) in opened), None)
            if loop is not None:
                measure.loop = loop
                return measure
            stack += waiting
            continue
        stack.pop()
        opened.discard(id(node))
        total, deepest = 1, 0
        for child in children:
            key = id(child)
            total += size.get(key, 1)
            deepest = max(deepest, depth.get(key, 0))
            parents[key] += 1
        size[id(node)], depth[id(node)] = total, deepest + 1
    measure.parents = Counter({k: n for k, n in parents.items() if n > 1})
    return measure


def _labelled(node: Node) -> list[tuple[str | int, Node]]:
    if isinstance(node, MappingNode):
        return [(k.value if isinstance(k, ScalarNode) else "?", v) for k, v in node.value]
    if isinstance(node, SequenceNode):
        return list(enumerate(node.value))
    return []


def _descend(root: Node, measure: _Measure, metric: dict[int, int], floor: int) -> tuple[Node, Loc]:
    """From the root towards the biggest child, as long as it is written in place (not an
    alias) and still past `floor`: the value whose aliases make the excess."""
    node: Node = root
    parts: Loc = ()
    while True:
        labelled = _labelled(node)
        if not labelled:
            return node, parts
        label, child = max(labelled, key=lambda pair: metric.get(id(pair[1]), 0))
        if measure.parents[id(child)] > 1 or metric.get(id(child), 0) <= floor:
            return node, parts
        node, parts = child, (*parts, label)
