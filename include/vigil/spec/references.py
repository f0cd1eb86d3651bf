"""Cross references inside one spec: checks name targets, targets name their dependencies.

The pass reads either the validated models or the raw parsed YAML (where it tolerates any
shape), so the loader can report reference problems next to field problems in one go, each
at its own line, while `Spec` itself still refuses inconsistent references.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vigil.spec.errors import did_you_mean, format_path

if TYPE_CHECKING:
    from vigil.family import Family

Loc = tuple[str | int, ...]


class SpecReferenceError(ValueError):
    """Raised by `Spec` when constructed directly with references that do not resolve."""


@dataclass(frozen=True)
class ReferenceProblem:
    loc: Loc
    message: str
    found: str | None = None
    expected: str | None = None
    hint: str | None = None


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def _items(obj: Any) -> list[tuple[str, Any]]:
    """Entries of a mapping or the fields of a pydantic model, keys as strings."""
    if isinstance(obj, Mapping):
        return [(k, v) for k, v in obj.items() if isinstance(k, str)]
    fields = getattr(type(obj), "model_fields", None)
    return [(name, getattr(obj, name)) for name in fields] if fields else []


def reference_problems(
    targets: Any,
    checks: Any,
    kinds: Collection[str],
    families: Collection[Family],
    alerts: Any = None,
    schedules: Any = None,
) -> list[ReferenceProblem]:
    """Every unresolved reference. `kinds` are the valid target kinds (others are reported
    by field validation; comparing against them here would only repeat that); `families`
    say which target kinds each `checks.<family>` section accepts; `alerts` is the
    `alerts:` section (its own pass: spec/alert_references.py); `schedules` name load
    profiles the checks must define."""
    from vigil.spec.alert_references import alert_problems  # it builds on this module

    declared = dict(_items(targets))
    problems = list(_dependency_problems(declared))
    problems += _cycle_problems(declared)
    sections = {f.name: f for f in families}
    problems += _check_problems(declared, checks, kinds, sections)
    problems += alert_problems(alerts, list(declared))
    problems += _profile_problems(schedules, checks)
    return problems


def _profile_problems(schedules: Any, checks: Any) -> Iterator[ReferenceProblem]:
    """A cadence's `probe_profile` is one some check defines (a typo would silently run
    every probe under its everyday load)."""
    defined: set[str] = set()
    for _section, items in _items(checks):
        for check in items if isinstance(items, list) else []:
            profiles = _get(check, "profiles")
            if isinstance(profiles, Mapping):
                defined.update(k for k in profiles if isinstance(k, str))
    for cadence, schedule in _items(schedules):
        profile = _get(schedule, "probe_profile")
        if isinstance(profile, str) and profile not in defined:
            yield ReferenceProblem(
                ("schedules", cadence, "probe_profile"),
                f"no check defines the load profile {profile!r}",
                found=repr(profile),
                expected=_one_of(defined),
                hint=did_you_mean(profile, defined)
                or "define it under a probe's `profiles:` (e.g. profiles: {heavy: {...}})",
            )


def _dependency_problems(targets: dict[str, Any]) -> Iterator[ReferenceProblem]:
    for name, target in targets.items():
        depends_on = _get(target, "depends_on")
        if not isinstance(depends_on, list):
            continue
        for index, dep in enumerate(depends_on):
            loc: Loc = ("targets", name, "depends_on", index)
            if dep == name:
                yield ReferenceProblem(loc, "a target cannot depend on itself", found=repr(dep))
            elif isinstance(dep, str) and dep not in targets:
                yield ReferenceProblem(
                    loc,
                    f"depends on unknown target {dep!r}",
                    found=repr(dep),
                    expected=_one_of(targets),
                    hint=did_you_mean(dep, targets) or f"declared targets: {_one_of(targets)}",
                )


def _cycle_problems(targets: dict[str, Any]) -> Iterator[ReferenceProblem]:
    graph = {name: _edges(target, name, targets) for name, target in targets.items()}
    reported: set[frozenset[str]] = set()
    for start in graph:
        cycle = _find_cycle(graph, start)
        if cycle and frozenset(cycle) not in reported:
            reported.add(frozenset(cycle))
            yield ReferenceProblem(
                ("targets", start, "depends_on"),
                "dependency cycle: " + " -> ".join([*cycle, cycle[0]]),
                hint="a target's dependencies must not lead back to it",
            )


def _edges(target: Any, name: str, targets: dict[str, Any]) -> list[str]:
    deps = _get(target, "depends_on")
    if not isinstance(deps, list):
        return []
    return [d for d in deps if isinstance(d, str) and d in targets and d != name]


def _find_cycle(graph: dict[str, list[str]], start: str) -> list[str] | None:
    """The cycle through `start`, if any: a bounded depth-first search."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, trail = stack.pop()
        for nxt in graph.get(node, []):
            if nxt == start:
                return trail
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*trail, nxt]))
    return None


def _check_problems(
    targets: dict[str, Any], checks: Any, kinds: Collection[str], sections: dict[str, Family]
) -> Iterator[ReferenceProblem]:
    first_use: dict[str, Loc] = {}
    for section, items in _items(checks):
        if not isinstance(items, list):
            continue
        for index, check in enumerate(items):
            loc: Loc = ("checks", section, index)
            check_id = _get(check, "id")
            if isinstance(check_id, str):
                if check_id in first_use:
                    yield ReferenceProblem(
                        (*loc, "id"),
                        f"duplicate check id {check_id!r}; "
                        f"{format_path(first_use[check_id])} already uses it",
                        found=repr(check_id),
                        hint="check ids are unique within a spec; results history follows them",
                    )
                else:
                    first_use[check_id] = loc
            family = sections.get(section)
            if family is not None:
                yield from _target_problems(loc, check, targets, kinds, family)
                # The family's own references inside a check (a journey's steps).
                yield from family.reference_problems(loc, check, targets)


def _target_problems(
    loc: Loc, check: Any, targets: dict[str, Any], kinds: Collection[str], family: Family
) -> Iterator[ReferenceProblem]:
    name = _get(check, "target")
    if not isinstance(name, str):
        return
    target = targets.get(name)
    if target is None:
        yield ReferenceProblem(
            (*loc, "target"),
            f"unknown target {name!r}",
            found=repr(name),
            expected=_one_of(targets),
            hint=did_you_mean(name, targets) or f"declared targets: {_one_of(targets)}",
        )
        return
    check_kind, target_kind = _get(check, "kind"), _get(target, "kind")
    if target_kind not in kinds:
        return  # an unknown target kind is reported by field validation
    if family.target_kinds is not None:
        if target_kind not in family.target_kinds:
            accepted = ", ".join(sorted(family.target_kinds))
            yield ReferenceProblem(
                (*loc, "target"),
                f"{family.name} checks run against a {accepted} target, but {name!r} is a "
                f"{target_kind!r} target",
                found=repr(name),
                hint=f"point the check at a target of kind: {accepted}",
            )
        return
    # The check probes its target directly: its kind says which target kinds it reads.
    if not isinstance(check_kind, str) or check_kind not in family.kinds:
        return  # an unknown check kind is reported by field validation
    readable = sorted(family.accepted_targets(check_kind))
    if target_kind in readable:
        yield from _consent_problems(loc, check_kind, name, target, family)
    else:
        wanted = " or ".join(repr(k) for k in readable)
        same = check_kind in kinds  # a target kind of the same name exists (http, tcp, ...)
        yield ReferenceProblem(
            (*loc, "kind") if same else (*loc, "target"),
            f"a {check_kind!r} check needs a {wanted} target, "
            f"but {name!r} is a {target_kind!r} target",
            found=repr(check_kind) if same else repr(name),
            expected=repr(target_kind) if same else wanted,
            hint=f"use kind: {target_kind}, or point the check at a {check_kind} target"
            if same
            else f"point the check at a target of kind: {' or '.join(readable)}",
        )


def _consent_problems(
    loc: Loc, check_kind: str, name: str, target: Any, family: Family
) -> Iterator[ReferenceProblem]:
    """A check that needs its target's consent (a load probe: `allow_load`) points at a
    target that gives it."""
    flag = family.required_target_flag(check_kind)
    if flag is not None and _get(target, flag) is not True:
        yield ReferenceProblem(
            (*loc, "target"),
            f"a {check_kind!r} check sends load, but target {name!r} does not declare {flag}: true",
            found=repr(name),
            hint=f"add `{flag}: true` to targets.{name} if it may take test load "
            "(a test copy, never a production system), or point the check elsewhere",
        )


def _one_of(names: Collection[str]) -> str:
    return ", ".join(sorted(names)) or "(none)"
