"""`vigil run`: a spec's checks in one process, without Airflow — a gate for a CI pipeline.

The same pipeline the DAG tasks use (`vigil.pipeline`: selection, gating on health with
skips that say why, the families' runners and their timeouts), run target by target in
the DAG's order: health first, each target after the targets it `depends_on`, then the
other families. Results go to the results store when one is configured, else to a store
in memory that lives as long as the command; either way the run report is written and
the exit code is the verdict.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from vigil import families, pipeline
from vigil.context import ConnectionInfo, RunContext, env_connection
from vigil.family import Gate
from vigil.pipeline import Selection, run_target, unrecorded
from vigil.result import CheckResult, Status
from vigil.results.models import RunCounts, RunRef, RunState, RunSummary
from vigil.spec.models import Spec

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class RunStore(pipeline.RunStore, Protocol):
    """What a whole run needs of a store: the ResultStore, or MemoryStore without one."""

    def start_run(
        self, run: RunRef, *, params: dict[str, Any] | None = ..., dry_run: bool = ...
    ) -> None: ...

    def run_results(self, run: RunRef) -> list[CheckResult]: ...

    def finish_run(self, run: RunRef, ended_at: datetime | None = ...) -> RunSummary: ...


@dataclass
class MemoryStore:
    """The results of one run, kept in memory: the same answers as the ResultStore gives
    the pipeline (the last result of a check wins; `replace` makes a task's results the
    whole truth for its family and target)."""

    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    params: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    _results: dict[str, CheckResult] = field(default_factory=dict)

    def start_run(
        self, run: RunRef, *, params: dict[str, Any] | None = None, dry_run: bool = False
    ) -> None:
        self.params, self.dry_run = dict(params or {}), dry_run

    def record(
        self,
        run: RunRef,
        results: Sequence[CheckResult],
        *,
        replace: tuple[str, ...] | None = None,
    ) -> None:
        latest = {r.check_id: r for r in results}
        if replace is not None:
            stale = [
                i
                for i, r in self._results.items()
                if (r.family, r.target, r.spec_check)[: len(replace)] == replace and i not in latest
            ]
            for check_id in stale:
                del self._results[check_id]
        self._results.update(latest)

    def results_of(
        self, run: RunRef, *, family: str | None = None, targets: Iterable[str] | None = None
    ) -> list[CheckResult]:
        wanted = None if targets is None else set(targets)
        return [
            r
            for _, r in sorted(self._results.items())
            if (family is None or r.family == family) and (wanted is None or r.target in wanted)
        ]

    def run_results(self, run: RunRef) -> list[CheckResult]:
        return self.results_of(run)

    def finish_run(self, run: RunRef, ended_at: datetime | None = None) -> RunSummary:
        results = self.run_results(run)
        by = {s: sum(1 for r in results if r.status is s) for s in Status}
        critical = sum(1 for r in results if r.blocks_run)
        return RunSummary(
            ref=run,
            state=RunState.FAILED if critical else RunState.SUCCESS,
            started_at=self.started_at,
            ended_at=ended_at or datetime.now(UTC),
            counts=RunCounts(
                len(results),
                by[Status.PASSED],
                by[Status.FAILED],
                by[Status.ERROR],
                by[Status.SKIPPED],
            ),
            critical_problems=critical,
            dry_run=self.dry_run,
            params=self.params,
        )


@dataclass
class StandaloneRun:
    run: RunRef
    results: list[CheckResult]
    summary: RunSummary

    @property
    def exit_code(self) -> int:
        """0 when no critical check failed or errored, 1 when one did."""
        return EXIT_FAILED if self.summary.critical_problems else EXIT_PASSED


def run_spec(
    spec: Spec,
    cadence: str,
    params: dict[str, Any],
    store: RunStore,
    *,
    connection: Callable[[str], ConnectionInfo] = env_connection,
    run_id: str | None = None,
) -> StandaloneRun:
    """Run `spec`'s checks for `cadence`, narrowed by `params` (the trigger form's fields);
    a bad parameter raises ValueError naming it."""
    cadence_families = getattr(spec.schedules, cadence).families or spec.declared_families()
    selection = Selection.from_params(spec, cadence_families, params, cadence)
    _check_covers_something(spec, cadence, cadence_families, selection)
    run_id = run_id or f"cli__{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%f}"
    run = RunRef(spec.environment, cadence, f"{spec.environment}_{cadence}", run_id)
    ctx = RunContext(spec, connection=connection, run_id=run_id, cadence=cadence, dag_id=run.dag_id)
    store.start_run(run, params=params, dry_run=selection.dry_run)
    for family, target in task_order(
        spec, [f for f in cadence_families if f in selection.families]
    ):
        run_target(ctx, family, target, store, run, selection)
    recorded = store.run_results(run)
    if missing := unrecorded(spec, selection, recorded):
        store.record(run, missing)
    summary = store.finish_run(run)
    return StandaloneRun(run, store.run_results(run), summary)


def _check_covers_something(
    spec: Spec, cadence: str, cadence_families: Sequence[str], selection: Selection
) -> None:
    """A ValueError (nothing run) when the selection asks for a family the cadence does
    not run, or matches no check at all: a gate that ran nothing must not pass."""
    outside = sorted(selection.families - set(cadence_families))
    if outside:
        raise ValueError(
            f"famil{'ies' if len(outside) > 1 else 'y'} {', '.join(map(repr, outside))} "
            f"not in the {cadence} cadence (it runs: {', '.join(cadence_families)}); "
            "choose another --cadence or other --families"
        )
    covered = [
        check
        for family in cadence_families
        for check in spec.checks_of(family)
        if selection.covers(family, check.target) and selection.picks(check.id)
    ]
    if not covered:
        raise ValueError(
            f"the selection matches no check of the {cadence} cadence "
            f"(families: {', '.join(sorted(selection.families))}"
            + (f"; targets: {', '.join(sorted(selection.targets))}" if selection.targets else "")
            + (f"; checks: {', '.join(sorted(selection.checks))}" if selection.checks else "")
            + "): nothing would run"
        )


def task_order(spec: Spec, chosen: Sequence[str]) -> list[tuple[str, str]]:
    """(family, target) in the order the DAG would finish them: families in pipeline
    order; health targets after the targets they depend on."""
    order: list[tuple[str, str]] = []
    for family in spec.families():
        if family.name not in chosen:
            continue
        targets = spec.targets_with_checks(family.name)
        if family.gate is Gate.DEPENDENCIES:
            targets = _dependencies_first(spec, targets)
        order += [(family.name, t) for t in targets]
    return order


def _dependencies_first(spec: Spec, targets: list[str]) -> list[str]:
    done: list[str] = []

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in done or name in trail:  # the spec refuses cycles; this is the bound
            return
        for dependency in spec.targets[name].depends_on:
            if dependency in targets:
                visit(dependency, (*trail, name))
        done.append(name)

    for target in targets:
        visit(target, ())
    return done


def connection_resolver() -> Callable[[str], ConnectionInfo]:
    """`AIRFLOW_CONN_<ID>` variables, else Airflow's own lookup (its secrets backends and
    metadata database) when Airflow is configured in this shell — never a local `make
    demo` stack: a pipeline gate uses only what its own environment says."""
    from vigil.cli_connections import cli_connection

    return functools.partial(cli_connection, local_stack=False)


def report_path_for(out_dir: Path, run: StandaloneRun) -> Path:
    from vigil.reports.run_report import run_report_path

    return run_report_path(out_dir, run.run)


def families_help() -> str:
    return ", ".join(f.name for f in families.all_families())
