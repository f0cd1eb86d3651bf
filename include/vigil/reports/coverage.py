"""What the spec declares against what the results show: checks, targets, HTTP endpoints."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from vigil.spec.models import Spec


@dataclass(frozen=True)
class Declared:
    check_id: str
    family: str
    target: str
    check: Any = field(compare=False, repr=False)


@dataclass(frozen=True)
class Endpoint:
    """One HTTP endpoint of a target (method and path, query left out) and its checks."""

    method: str
    path: str
    check_ids: tuple[str, ...]
    checked: bool

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class TargetCoverage:
    name: str
    kind: str
    declared: tuple[str, ...]  # check ids the spec declares on it
    ran: tuple[str, ...]  # those of them that ran in the window
    checked: bool  # any result on it ran in the window (a check since renamed counts)
    endpoints: tuple[Endpoint, ...]

    @property
    def status(self) -> str:
        if self.checked:
            return "checked"
        return "declared, not checked" if self.declared else "no checks declared"


@dataclass(frozen=True)
class Coverage:
    targets: list[TargetCoverage]
    undeclared_targets: list[str]  # in the results, no longer in the spec

    @property
    def with_checks(self) -> int:
        return sum(1 for t in self.targets if t.declared)

    @property
    def checked(self) -> int:
        return sum(1 for t in self.targets if t.checked)

    @property
    def endpoints(self) -> list[Endpoint]:
        return [e for t in self.targets for e in t.endpoints]


def declared_checks(spec: Spec) -> list[Declared]:
    """Every check the spec declares, of every family its `checks` section has."""
    found = []
    for family in spec.families():
        found += [Declared(c.id, family.name, c.target, c) for c in spec.checks_of(family.name)]
    return sorted(found, key=lambda d: (d.family, d.target, d.check_id))


def endpoint_path(path: str) -> str:
    """The path an endpoint is known by: "/v1/products?limit=5" is "/v1/products"."""
    return urlsplit(path).path or "/"


def endpoints(checks: list[Declared], ran_ids: Collection[str]) -> tuple[Endpoint, ...]:
    by: dict[tuple[str, str], list[str]] = {}
    for d in checks:
        path = getattr(d.check, "path", None)
        if isinstance(path, str):
            key = (str(getattr(d.check, "method", "GET")), endpoint_path(path))
            by.setdefault(key, []).append(d.check_id)
    return tuple(
        Endpoint(method, path, tuple(ids), any(i in ran_ids for i in ids))
        for (method, path), ids in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    )


def coverage(
    spec: Spec,
    ran_ids: Collection[str],
    ran_targets: Collection[str],
    result_targets: Collection[str],
) -> Coverage:
    """Coverage of `spec` by the window's results: `ran_ids`/`ran_targets` are the checks
    and targets with at least one result that ran; `result_targets` every target seen."""
    declared = declared_checks(spec)
    targets = []
    for name, target in sorted(spec.targets.items()):
        mine = [d for d in declared if d.target == name]
        targets.append(
            TargetCoverage(
                name=name,
                kind=target.kind,
                declared=tuple(d.check_id for d in mine),
                ran=tuple(d.check_id for d in mine if d.check_id in ran_ids),
                checked=name in ran_targets,
                endpoints=endpoints(mine, ran_ids) if target.kind == "http" else (),
            )
        )
    return Coverage(targets, sorted(set(result_targets) - set(spec.targets)))
