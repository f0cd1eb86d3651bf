"""Manual-trigger parameters, shown as a form in the Airflow UI and validated by it."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from vigil import families
from vigil.spec.models import Spec

# Airflow checks each param's schema against its JSON-Schema dialect's metaschema every
# time it resolves it, several times per task when a DAG is serialised: without a
# "$schema" that is draft 2020-12, whose metaschema costs twice draft 7's
# (benchmarks/bench_many_specs.py). These schemas use only keywords both drafts share.
DIALECT: dict[str, Any] = {"$schema": "http://json-schema.org/draft-07/schema#"}


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
            **DIALECT,
            description=f"Which families of checks this run executes ({described}).",
        ),
        "targets": Param(
            [],
            type="array",
            items={"type": "string", "enum": sorted(spec.targets)},
            uniqueItems=True,
            title="Targets",
            **DIALECT,
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
            **DIALECT,
            description="Only these checks or suites, by id (empty: every check).",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            **DIALECT,
            description="Run and record the checks, but send no notifications.",
        ),
    }
