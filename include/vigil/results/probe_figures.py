"""Probe figures in the results store: written by the probes runner, read by baselines,
the latency_regression rule and the trend report (migration 0006)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg2.extras import Json

from vigil.results import db
from vigil.results.models import RunRef
from vigil.results.store import ResultStore

UPSERT = """
INSERT INTO vigil.probe_figures
    (run, environment, check_id, target, check_kind, profile, passed, figures, histogram)
VALUES (%(run)s, %(environment)s, %(check_id)s, %(target)s, %(check_kind)s, %(profile)s,
        %(passed)s, %(figures)s, %(histogram)s)
ON CONFLICT (run, check_id) DO UPDATE SET
    target = EXCLUDED.target, check_kind = EXCLUDED.check_kind, profile = EXCLUDED.profile,
    recorded_at = now(), passed = EXCLUDED.passed, figures = EXCLUDED.figures,
    histogram = EXCLUDED.histogram
"""

# The probe's newest passing rows of one profile, from runs other than the current one.
BASELINE = """
SELECT p.figures
FROM vigil.probe_figures p JOIN vigil.runs r ON r.id = p.run
WHERE p.environment = %(environment)s AND p.check_id = %(check_id)s
  AND p.profile = %(profile)s AND p.passed
  AND NOT (r.dag_id = %(dag_id)s AND r.run_id = %(run_id)s)
ORDER BY p.recorded_at DESC
LIMIT %(limit)s
"""

SERIES = """
SELECT p.check_id, p.target, p.profile, p.recorded_at, p.passed, p.figures, r.run_id
FROM vigil.probe_figures p JOIN vigil.runs r ON r.id = p.run
WHERE p.environment = %(environment)s AND p.recorded_at >= %(since)s
ORDER BY p.check_id, p.profile, p.recorded_at
"""


@dataclass(frozen=True)
class FigureRow:
    check_id: str
    target: str
    profile: str
    recorded_at: datetime
    passed: bool
    figures: dict[str, float]
    run_id: str


def record(
    store: ResultStore,
    run: RunRef,
    *,
    check_id: str,
    target: str,
    check_kind: str,
    profile: str,
    passed: bool,
    figures: Mapping[str, float],
    histogram: str | None,
) -> None:
    action = f"record the figures of probe {check_id!r} for run {run}"
    kwargs = store.connect_kwargs(action)
    with db.transaction(kwargs, action) as cur:
        params = {
            "run": ResultStore.ensure_run(cur, run, None),
            "environment": run.environment,
            "check_id": check_id,
            "target": target,
            "check_kind": check_kind,
            "profile": profile,
            "passed": passed,
            "figures": Json(dict(figures)),
            "histogram": histogram,
        }
        cur.execute(UPSERT, params)


def baseline_figures(
    store: ResultStore, run: RunRef, check_id: str, profile: str, limit: int
) -> list[dict[str, Any]]:
    """The probe's figures in its last `limit` passing runs of `profile`, newest first."""
    params = {
        "environment": run.environment,
        "check_id": check_id,
        "profile": profile,
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        "limit": limit,
    }
    rows = store.read(f"read the baseline of probe {check_id!r}", BASELINE, params)
    return [dict(r["figures"]) for r in rows]


def series(store: ResultStore, environment: str, since: datetime) -> list[FigureRow]:
    """Every probe's figures since `since`, per probe and profile, oldest first."""
    params = {"environment": environment, "since": since}
    rows = store.read(f"read the probe figures of {environment!r}", SERIES, params)
    return [
        FigureRow(
            r["check_id"],
            r["target"],
            r["profile"],
            r["recorded_at"],
            bool(r["passed"]),
            dict(r["figures"]),
            r["run_id"],
        )
        for r in rows
    ]
