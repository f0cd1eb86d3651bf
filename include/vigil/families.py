"""The family registry: every check family, in pipeline order. The one list to edit.

The spec's `checks` section, the cadence's and the trigger form's choices, the pipeline
and the DAG factory, the coverage report and `vigil check-spec` all read `all_families()`;
a test that registers a toy family with `registered(...)` sees it appear in each of them
(tests/unit/test_families.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from pydantic import AfterValidator

from vigil.checks import HEALTH
from vigil.family import Family, Gate
from vigil.probes import PROBES
from vigil.quality import QUALITY
from vigil.scenarios import SCENARIOS
from vigil.spec.errors import did_you_mean

# Pipeline order: a family's tasks run after the health of their targets is known.
_REGISTRY: list[Family] = [HEALTH, QUALITY, SCENARIOS, PROBES]

__all__ = [
    "Family",
    "FamilyName",
    "Gate",
    "all_families",
    "get",
    "health",
    "names",
    "pools",
    "registered",
]


def all_families() -> tuple[Family, ...]:
    return tuple(_REGISTRY)


def names() -> tuple[str, ...]:
    return tuple(f.name for f in _REGISTRY)


def get(name: str) -> Family:
    for family in _REGISTRY:
        if family.name == name:
            return family
    hint = did_you_mean(name, names())
    raise KeyError(
        f"unknown check family {name!r}; known: {', '.join(names())}"
        + (f" ({hint})" if hint else "")
    )


def pools() -> dict[str, tuple[int, str]]:
    """The Airflow pools the families' tasks run in: name -> (slots, description)."""
    return {
        f.pool: (f.pool_slots, f"Vigil {f.name} tasks: {f.pool_slots} at a time")
        for f in _REGISTRY
        if f.pool is not None
    }


def health() -> Family:
    """The family whose results gate the others (Gate.DEPENDENCIES)."""
    return next(f for f in _REGISTRY if f.gate is Gate.DEPENDENCIES)


@contextmanager
def registered(*extra: Family) -> Iterator[None]:
    """Add families for the duration of a block (tests; a plugin's own families)."""
    taken = set(names()) & {f.name for f in extra}
    if taken:
        raise ValueError(f"families already registered: {', '.join(sorted(taken))}")
    _REGISTRY.extend(extra)
    try:
        yield
    finally:
        for family in extra:
            _REGISTRY.remove(family)


def _registered(name: str) -> str:
    if name not in names():
        hint = did_you_mean(name, names())
        raise ValueError(
            f"unknown check family {name!r}; "
            + (f"{hint} " if hint else "")
            + f"(families: {', '.join(names())})"
        )
    return name


# A spec field naming a family: checked against the registry when the spec loads.
FamilyName = Annotated[str, AfterValidator(_registered)]
