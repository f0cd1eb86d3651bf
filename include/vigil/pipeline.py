"""One task's work, without Airflow: gate on dependencies, run checks, record, judge.

The Airflow tasks (`vigil.airflow.tasks`) and the CLI call these functions, so a run
behaves the same whether a scheduler or a person starts it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vigil.result import CheckResult, Status

if TYPE_CHECKING:  # DAG parsing imports this module; the store and runners load on use
    from vigil.context import RunContext
    from vigil.results.store import ResultStore, RunRef
    from vigil.spec.models import Spec


def _run_health(checks: Sequence[Any], ctx: RunContext) -> list[CheckResult]:
    from vigil.checks import run_checks  # imported on use: DAG parsing never loads runners

    return run_checks(checks, ctx)


def _run_quality(checks: Sequence[Any], ctx: RunContext) -> list[CheckResult]:
    from vigil.quality.family import run_checks  # imports Great Expectations: only at run time

    return run_checks(checks, ctx)


# One runner per check family, in pipeline order; scenarios and probes register here.
FAMILY_RUNNERS: dict[str, Callable[[Sequence[Any], RunContext], list[CheckResult]]] = {
    "health": _run_health,
    "quality": _run_quality,
}


def declared_kinds(spec: Spec) -> list[str]:
    """The check families a spec has checks of, in pipeline order."""
    return [kind for kind in FAMILY_RUNNERS if spec.checks_of(kind)]


@dataclass(frozen=True)
class Selection:
    """What a run covers: a cadence's kinds, narrowed by manual-trigger parameters."""

    kinds: frozenset[str]
    targets: frozenset[str] = frozenset()  # empty: every target
    checks: frozenset[str] = frozenset()  # empty: every check
    dry_run: bool = False

    def covers(self, kind: str, target: str) -> bool:
        return kind in self.kinds and (not self.targets or target in self.targets)

    def picks(self, check_id: str) -> bool:
        return not self.checks or check_id in self.checks

    @classmethod
    def from_params(
        cls, spec: Spec, cadence_kinds: Sequence[str], params: dict[str, Any]
    ) -> Selection:
        """Validate manual-trigger parameters against the spec; unknown names are an error."""
        kinds = list(params.get("kinds") or cadence_kinds)
        targets = list(params.get("targets") or [])
        checks = list(params.get("checks") or [])
        known_checks = {c.id for kind in FAMILY_RUNNERS for c in spec.checks_of(kind)}
        problems = [f"unknown kind {k!r}" for k in kinds if k not in FAMILY_RUNNERS]
        problems += [f"unknown target {t!r}" for t in targets if t not in spec.targets]
        problems += [f"unknown check {c!r}" for c in checks if c not in known_checks]
        if problems:
            raise ValueError(
                f"invalid run parameters: {'; '.join(problems)}. Kinds: "
                f"{', '.join(FAMILY_RUNNERS)}; targets: {', '.join(sorted(spec.targets))}"
            )
        return cls(
            frozenset(kinds),
            frozenset(targets),
            frozenset(checks),
            bool(params.get("dry_run", False)),
        )


@dataclass
class TargetOutcome:
    kind: str
    target: str
    results: list[CheckResult] = field(default_factory=list)
    skipped_reason: str | None = None

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if r.blocks_run and r.status is Status.FAILED]

    @property
    def errored(self) -> list[CheckResult]:
        return [r for r in self.results if r.blocks_run and r.status is Status.ERROR]


def unhealthy_dependencies(
    spec: Spec, kind: str, target: str, store: ResultStore, run: RunRef, selection: Selection
) -> dict[str, str]:
    """Why `target`'s checks should not run: each unhealthy dependency, with the reason.

    Health checks of a target wait for the health of the targets it depends on; every
    other kind waits for the health of its own target.
    """
    needs = list(spec.targets[target].depends_on) if kind == "health" else [target]
    reasons: dict[str, str] = {}
    for dependency in needs:
        checked = [c for c in spec.checks_of_target("health", dependency) if selection.picks(c.id)]
        if not selection.covers("health", dependency) or not checked:
            continue  # not checked in this run: no evidence against it
        results = store.results_of(run, kind="health", targets=[dependency])
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
    checks: Sequence[Any], kind: str, reason: str, blocked_by: Sequence[str] = ()
) -> list[CheckResult]:
    now = datetime.now(UTC)
    return [
        CheckResult(
            check_id=c.id,
            kind=kind,
            target=c.target,
            status=Status.SKIPPED,
            severity=c.severity,
            started_at=now,
            message=f"skipped: {reason}",
            details={"skipped_because": reason, "blocked_by": list(blocked_by)},
        )
        for c in checks
    ]


def run_target(
    ctx: RunContext, kind: str, target: str, store: ResultStore, run: RunRef, selection: Selection
) -> TargetOutcome:
    """Run one target's checks of one kind and record every result (skips included)."""
    outcome = TargetOutcome(kind, target)
    if not selection.covers(kind, target):
        outcome.skipped_reason = "not selected by this run's parameters"
        return outcome
    checks = [c for c in ctx.spec.checks_of_target(kind, target) if selection.picks(c.id)]
    if not checks:
        outcome.skipped_reason = "none of its checks was selected by this run's parameters"
        return outcome
    reasons = unhealthy_dependencies(ctx.spec, kind, target, store, run, selection)
    if reasons:
        outcome.skipped_reason = "; ".join(reasons.values())
        outcome.results = skipped_results(checks, kind, outcome.skipped_reason, list(reasons))
    else:
        outcome.results = FAMILY_RUNNERS[kind](checks, ctx)
    store.record(run, outcome.results, replace=(kind, target))
    return outcome


def unrecorded(
    spec: Spec, selection: Selection, recorded: Sequence[CheckResult]
) -> list[CheckResult]:
    """An `error` for every check this run covers but nobody recorded: its task died (timed
    out, killed, or its write failed) before it could say anything. Without these a dead
    task would leave a run that looks green."""
    ids = {r.check_id for r in recorded}
    now = datetime.now(UTC)
    missing = []
    for kind in FAMILY_RUNNERS:
        for check in spec.checks_of(kind):
            if not (selection.covers(kind, check.target) and selection.picks(check.id)):
                continue
            if check.id in ids or any(i.startswith(check.id + ".") for i in ids):
                continue
            missing.append(
                CheckResult(
                    check_id=check.id,
                    kind=kind,
                    target=check.target,
                    status=Status.ERROR,
                    severity=check.severity,
                    started_at=now,
                    message=f"no result recorded: task {kind}.{check.target} ended without "
                    "recording its checks (timed out, killed or failed); see its log",
                )
            )
    return missing
