"""Manual-trigger parameters, shown as a form in the Airflow UI and validated by it."""

from __future__ import annotations

from airflow.sdk import Param

from vigil import families
from vigil.spec.models import Spec


def run_params(
    spec: Spec, cadence_families: list[str], cadence: str | None = None
) -> dict[str, Param]:
    """The trigger form: families (from the registry, in pipeline order), targets, checks
    (those that run on `cadence`: a weekly-only suite is no choice in the daily DAG)."""
    chosen = [f.name for f in spec.families() if f.name in cadence_families]
    described = "; ".join(f"{name}: {families.get(name).description}" for name in chosen)
    return {
        "families": Param(
            chosen,
            type="array",
            items={"type": "string", "enum": chosen},
            uniqueItems=True,
            title="Check families",
            description=f"Which families of checks this run executes ({described}).",
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
                "enum": sorted(
                    c.id
                    for name in chosen
                    for c in spec.checks_of(name)
                    if cadence is None or c.runs_on(cadence)
                ),
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
