"""Manual-trigger parameters, shown as a form in the Airflow UI and validated by it."""

from __future__ import annotations

from airflow.sdk import Param

from vigil.spec.models import Spec


def run_params(spec: Spec, cadence_kinds: list[str]) -> dict[str, Param]:
    kinds = sorted({*cadence_kinds})
    return {
        "kinds": Param(
            kinds,
            type="array",
            items={"type": "string", "enum": kinds},
            uniqueItems=True,
            title="Check kinds",
            description="Which kinds of checks this run executes.",
        ),
        "targets": Param(
            [],
            type="array",
            items={"type": "string", "enum": sorted(spec.targets)},
            uniqueItems=True,
            title="Targets",
            description="Only these targets (empty: every target).",
        ),
        "checks": Param(
            [],
            type="array",
            items={
                "type": "string",
                "enum": sorted(c.id for kind in kinds for c in spec.checks_of(kind)),
            },
            uniqueItems=True,
            title="Checks",
            description="Only these checks or suites, by id (empty: every check).",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Run and record the checks, but send no notifications.",
        ),
    }
