"""What a check family is: one record that every other part of Vigil derives from.

A family (health, quality; scenarios and probes next) is one folder of `vigil` and one
`Family` record in the registry (`vigil.families`). From the record come the spec's
`checks.<family>` section and its allowed check kinds, the cadence's and the trigger
form's choices, the pipeline order, the DAG's task group and its gating, the coverage
report and `vigil check-spec`'s deep lint. Nothing else names a family. (ADR 0005.)

The record holds import paths, not functions, for the runner and the lint: parsing a DAG
file reads the record, and must not import what the runner needs (requests, docker,
Great Expectations).
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, reduce
from operator import or_
from typing import TYPE_CHECKING, Annotated, Any, get_args

from pydantic import Field

from vigil.result import CheckResult
from vigil.spec.base import CheckBase

if TYPE_CHECKING:
    from vigil.context import RunContext
    from vigil.spec.errors import Problem
    from vigil.spec.models import Spec

FamilyRunner = Callable[[Sequence[Any], "RunContext"], list[CheckResult]]
FamilyLint = Callable[["Spec"], list["Problem"]]


class Gate(enum.Enum):
    """Whose health must be good before a family's checks of a target run."""

    # The health family itself: a target's health checks wait for the health of the
    # targets it `depends_on`.
    DEPENDENCIES = "dependencies"
    # Every other family: a target's checks wait for that target's own health.
    TARGET_HEALTH = "target_health"


@dataclass(frozen=True)
class Family:
    # The spec section (`checks.<name>`), the task group, CheckResult.family.
    name: str
    # One line for people: the trigger form, the DAG docs, `vigil check-spec --help`.
    description: str
    # One pydantic model per check kind, each with a `kind: Literal[...]` discriminator.
    models: tuple[type[CheckBase], ...]
    # "module:function", called as run(checks_of_one_target, ctx) -> [CheckResult].
    runner: str
    # Target kinds its checks may point at; None: a check's kind names its target's kind
    # (an `http` check needs an `http` target).
    target_kinds: frozenset[str] | None = None
    gate: Gate = Gate.TARGET_HEALTH
    # "module:function", called as lint(spec) -> [Problem] by `vigil check-spec` for the
    # files a check points at (suites, snapshots); None: nothing beyond the spec itself.
    lint: str | None = None
    # The Airflow pool its tasks run in (created by `make demo`'s stack; one slot for
    # probes, so two probes never share a target's capacity or the machine's).
    pool: str | None = None
    pool_slots: int = 1
    # Its tasks start once every earlier family's tasks are done: load must not share the
    # environment with other checks (each would distort the other's figures).
    after_others: bool = False
    # One task per check rather than per target: long, independent checks (a journey, a
    # test suite) get their own logs and retries, and wait for the health of every target
    # they use (the check's `uses` and the targets it names).
    task_per_check: bool = False
    # "module:function", called as references(loc, check, targets) -> [ReferenceProblem]
    # on the raw YAML and on the models alike: cross references inside a check (the
    # targets its steps name, the consent those targets give).
    references: str | None = None

    @cached_property
    def kinds(self) -> tuple[str, ...]:
        """The check kinds of this family, as the spec writes them (read once: the
        reference pass asks for every check of every spec load)."""
        return tuple(get_args(m.model_fields["kind"].annotation)[0] for m in self.models)

    def union(self) -> Any:
        """The discriminated union of its check models: the type of `checks.<name>` items."""
        if len(self.models) == 1:
            return self.models[0]
        return Annotated[reduce(or_, self.models), Field(discriminator="kind")]

    def run(self, checks: Sequence[Any], ctx: RunContext) -> list[CheckResult]:
        runner: FamilyRunner = _load(self.runner)
        return runner(checks, ctx)

    def lint_spec(self, spec: Spec) -> list[Problem]:
        if self.lint is None:
            return []
        lint: FamilyLint = _load(self.lint)
        return lint(spec)

    def reference_problems(self, loc: Any, check: Any, targets: Any) -> list[Any]:
        if self.references is None:
            return []
        references: Callable[[Any, Any, Any], list[Any]] = _load(self.references)
        return references(loc, check, targets)

    def gating_targets(self, check: Any) -> list[str]:
        """The targets whose health `check` waits for: its own, and for a family with
        per-check tasks every target it uses."""
        if not self.task_per_check:
            return [check.target]
        used: list[str] = getattr(check, "used_targets", lambda: [check.target])()
        return used

    def accepted_targets(self, check_kind: str) -> frozenset[str]:
        """The target kinds a check of `check_kind` may point at: the family's list, else
        the model's own `target_kinds` (a `metrics` check reads an `http` target), else
        the target kind of the same name."""
        if self.target_kinds is not None:
            return self.target_kinds
        return self._targets_by_kind.get(check_kind, frozenset({check_kind}))

    @cached_property
    def _targets_by_kind(self) -> dict[str, frozenset[str]]:
        found: dict[str, frozenset[str]] = {}
        for model, kind in zip(self.models, self.kinds, strict=True):
            own: frozenset[str] | None = getattr(model, "target_kinds", None)
            found[kind] = own if own is not None else frozenset({kind})
        return found

    def required_target_flag(self, check_kind: str) -> str | None:
        """The target field that must be true for a check of `check_kind` to run against
        it (`allow_load` for load probes), from the model's `requires_target_flag`."""
        for model, kind in zip(self.models, self.kinds, strict=True):
            if kind == check_kind:
                flag: str | None = getattr(model, "requires_target_flag", None)
                return flag
        return None

    def accepts_target(self, check_kind: str, target_kind: str) -> bool:
        return target_kind in self.accepted_targets(check_kind)


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)
