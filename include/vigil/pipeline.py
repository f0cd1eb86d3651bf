"""One task's work, without Airflow: gate on dependencies, run checks, record, judge.

The Airflow tasks (`vigil.airflow.tasks`) and the CLI call these functions, so a run
behaves the same whether a scheduler or a person starts it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from vigil import families
from vigil.family import Gate
from vigil.result import CheckResult, Status

if TYPE_CHECKING:  # DAG parsing imports this module; the store and runners load on use
    from vigil.context import RunContext
    from vigil.results.store import RunRef
    from vigil.spec.models import Spec


class RunStore(Protocol):
    """What a task needs of the results store: `vigil.results.store.ResultStore`, or
    `vigil.standalone.MemoryStore` for `vigil run` without one."""

    def record(
        self, run: RunRef, results: Sequence[CheckResult], *, replace: tuple[str, ...] | None = ...
    ) -> None: ...

    def results_of(
        self, run: RunRef, *, family: str | None = ..., targets: Iterable[str] | None = ...
    ) -> list[CheckResult]: ...


@dataclass(frozen=True)
class Selection:
    """What a run covers: a cadence's families, narrowed by manual-trigger parameters."""

    families: frozenset[str]
    targets: frozenset[str] = frozenset()  # empty: every target
    checks: frozenset[str] = frozenset()  # empty: every check
    dry_run: bool = False
    # Checks of the spec that do not run on this cadence (their `cadences` leave it out).
    off_cadence: frozenset[str] = frozenset()

    def covers(self, family: str, target: str) -> bool:
        return family in self.families and (not self.targets or target in self.targets)

    def picks(self, check_id: str) -> bool:
        if check_id in self.off_cadence:
            return False
        return not self.checks or check_id in self.checks

    @classmethod
    def from_params(
        cls,
        spec: Spec,
        cadence_families: Sequence[str],
        params: dict[str, Any],
        cadence: str | None = None,
    ) -> Selection:
        """Validate manual-trigger parameters against the spec; unknown names are an error."""
        chosen = list(params.get("families") or cadence_families)
        targets = list(params.get("targets") or [])
        checks = list(params.get("checks") or [])
        known_families = [f.name for f in spec.families()]
        known_checks = {c.id for c in spec.all_checks()}
        problems = [f"unknown family {k!r}" for k in chosen if k not in known_families]
        problems += [f"unknown target {t!r}" for t in targets if t not in spec.targets]
        problems += [f"unknown check {c!r}" for c in checks if c not in known_checks]
        if problems:
            raise ValueError(
                f"invalid run parameters: {'; '.join(problems)}. Families: "
                f"{', '.join(known_families)}; targets: {', '.join(sorted(spec.targets))}"
            )
        off = {c.id for c in spec.all_checks() if cadence and not c.runs_on(cadence)}
        return cls(
            frozenset(chosen),
            frozenset(targets),
            frozenset(checks),
            bool(params.get("dry_run", False)),
            frozenset(off),
        )


@dataclass
class TargetOutcome:
    family: str
    target: str
    results: list[CheckResult] = field(default_factory=list)
    skipped_reason: str | None = None

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if r.blocks_run and r.status is Status.FAILED]

    @property
    def errored(self) -> list[CheckResult]:
        return [r for r in self.results if r.blocks_run and r.status is Status.ERROR]


def gating_targets(spec: Spec, family: str, target: str, checks: Sequence[Any] = ()) -> list[str]:
    """The targets whose health `family`'s checks of `target` wait for (its record's gate;
    for a family with a task per check, every target those `checks` use)."""
    record = families.get(family)
    if record.gate is Gate.DEPENDENCIES:
        return list(spec.targets[target].depends_on)
    if record.task_per_check and checks:
        return list(dict.fromkeys(t for c in checks for t in record.gating_targets(c)))
    return [target]


def unhealthy_dependencies(
    spec: Spec,
    family: str,
    target: str,
    store: RunStore,
    run: RunRef,
    selection: Selection,
    checks: Sequence[Any] = (),
) -> dict[str, str]:
    """Why `target`'s checks should not run: each unhealthy dependency, with the reason."""
    health = families.health().name
    reasons: dict[str, str] = {}
    for dependency in gating_targets(spec, family, target, checks):
        checked = [c for c in spec.checks_of_target(health, dependency) if selection.picks(c.id)]
        if not selection.covers(health, dependency) or not checked:
            continue  # not checked in this run: no evidence against it
        results = store.results_of(run, family=health, targets=[dependency])
        # A dependency skipped because of its own dependencies is unhealthy too: the
        # skip chains down instead of letting dependents run into the same outage.
        problems = [r for r in results if r.blocks_run or _blocked(r)]
        if not results:
            reasons[dependency] = (
                f"{dependency} has no health result in this run (its task did not record)"
            )
        elif problems:
            first = problems[0]
            reasons[dependency] = f"{dependency} is unhealthy ({first.check_id}: {first.message})"
    return reasons


def _blocked(result: CheckResult) -> bool:
    return result.status is Status.SKIPPED and bool(result.details.get("blocked_by"))


def skipped_results(
    checks: Sequence[Any], family: str, reason: str, blocked_by: Sequence[str] = ()
) -> list[CheckResult]:
    return [CheckResult.skipped_of(c, family, reason, blocked_by) for c in checks]


def run_target(
    ctx: RunContext,
    family: str,
    target: str,
    store: RunStore,
    run: RunRef,
    selection: Selection,
    check_id: str | None = None,
) -> TargetOutcome:
    """Run one target's checks of one family (or only `check_id`: a family with a task per
    check) and record every result (skips included)."""
    record = families.get(family)
    if record.task_per_check and check_id is None:
        return _each_check(ctx, family, target, store, run, selection)
    outcome = TargetOutcome(family, target)
    if not selection.covers(family, target):
        outcome.skipped_reason = "not selected by this run's parameters"
        return outcome
    checks = [
        c
        for c in ctx.spec.checks_of_target(family, target)
        if selection.picks(c.id) and check_id in (None, c.id)
    ]
    if not checks:
        outcome.skipped_reason = "none of its checks was selected by this run's parameters"
        return outcome
    reasons = unhealthy_dependencies(ctx.spec, family, target, store, run, selection, checks)
    if reasons:
        outcome.skipped_reason = "; ".join(reasons.values())
        outcome.results = skipped_results(checks, family, outcome.skipped_reason, list(reasons))
    else:
        found = families.get(family).run(checks, ctx)
        # Runners mask their own evidence; this is the net under a runner that forgot (an
        # exception text quoting a password): nothing unmasked reaches the store or a log.
        outcome.results = [r.masked(ctx.masker.mask) for r in found]
    # This call's results are the whole truth for its task: the target's, or one check's.
    scope = (family, target) if check_id is None else (family, target, check_id)
    store.record(run, outcome.results, replace=scope)
    return outcome


def _each_check(
    ctx: RunContext, family: str, target: str, store: RunStore, run: RunRef, selection: Selection
) -> TargetOutcome:
    """A target's checks of a family with a task per check, one after another (the CLI)."""
    outcome = TargetOutcome(family, target)
    reasons = []
    for check in ctx.spec.checks_of_target(family, target):
        one = run_target(ctx, family, target, store, run, selection, check.id)
        outcome.results += one.results
        if one.skipped_reason:
            reasons.append(f"{check.id}: {one.skipped_reason}")
    if reasons and not any(r.status is not Status.SKIPPED for r in outcome.results):
        outcome.skipped_reason = "; ".join(reasons)
    return outcome


def unrecorded(
    spec: Spec, selection: Selection, recorded: Sequence[CheckResult]
) -> list[CheckResult]:
    """An `error` for every check this run covers but nobody recorded: its task died (timed
    out, killed, or its write failed) before it could say anything. Without these a dead
    task would leave a run that looks green."""
    seen = {r.spec_check for r in recorded}
    missing = []
    for family in spec.families():
        for check in spec.checks_of(family.name):
            if check.id in seen:
                continue
            if not (selection.covers(family.name, check.target) and selection.picks(check.id)):
                continue
            missing.append(
                CheckResult.error_of(
                    check,
                    family.name,
                    f"no result recorded: task {family.name}.{_task_of(family, check)} "
                    "ended without "
                    "recording its checks (timed out, killed or failed); see its log",
                )
            )
    return missing


def _task_of(family: Any, check: Any) -> str:
    """The task id inside the family's group: the check's, or its target's."""
    return str(check.id if family.task_per_check else check.target)
