"""Dependency-aware folding: when a target is down, one alert says so, not ten.

When a target's health check failed in this run, every other breaching finding about that
target (its data quality, scenarios, probes) or about targets whose checks were skipped
because of it folds under the target's health alert. Folded alerts keep their own state
(so they resolve quietly) but send nothing of their own; the health alert's notice lists
them, with the checks that failed on the target or were skipped because of it.

The health alert that leads is the most severe problem of the target: a finding about a
critical health check that failed in this run, before one about a warning-severity check.
A run-wide duration regression in a run where a target is down folds under that target's
alert too: retries and timeouts against a dead service are what made the run slow.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from vigil.alerts.history import RunRecord
from vigil.alerts.rules import Finding
from vigil.result import Severity
from vigil.spec.alerts import DurationRegression

HEALTH = "health"  # the family whose failing targets other alerts fold under


@dataclass
class Folding:
    parent_of: dict[str, str] = field(default_factory=dict)  # child fp -> parent fp
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)  # parent fp -> detail


def fold(findings: list[Finding], run: RunRecord) -> Folding:
    roots = sorted({r.target for r in run.rows() if r.family == HEALTH and r.is_problem})
    folding = Folding()
    breaching = [f for f in findings if f.breaching]
    leads: list[Finding] = []
    for root in roots:
        parent = _parent(breaching, root, run)
        if parent is None:
            continue  # the health failure is not (yet) alert-worthy: nothing to fold under
        leads.append(parent)
        downstream = {r.target for r in run.rows() if root in r.blocked_by} - {root}
        children = [
            f
            for f in breaching
            if f is not parent
            and f.fingerprint not in folding.parent_of
            and f.target is not None
            and (f.target == root or f.target in downstream)
        ]
        for child in children:
            folding.parent_of[child.fingerprint] = parent.fingerprint
        folding.extra[parent.fingerprint] = _affected(run, root, children)
    if leads:
        _fold_slowness(breaching, min(leads, key=lambda f: _rank(f, run)), folding)
    return folding


def _parent(breaching: list[Finding], root: str, run: RunRecord) -> Finding | None:
    candidates = [f for f in breaching if f.target == root and f.family == HEALTH]
    if not candidates:
        return None
    return min(candidates, key=lambda f: _rank(f, run))


def _rank(finding: Finding, run: RunRecord) -> tuple[bool, bool, bool, bool, str]:
    """Most severe first: a critical check that failed in this run, then a critical rule;
    among equals a per-check finding names the failing check best."""
    row = run.results.get(finding.scope.get("check_id", ""))
    failed_now = row is not None and row.is_problem
    return (
        not (failed_now and row is not None and row.severity is Severity.CRITICAL),
        finding.rule.severity is not Severity.CRITICAL,
        "check_id" not in finding.scope,
        not failed_now,
        finding.fingerprint,
    )


def _fold_slowness(breaching: list[Finding], lead: Finding, folding: Folding) -> None:
    """Run-wide slowness in a run where a target is down folds under the lead alert."""
    slow = [
        f
        for f in breaching
        if isinstance(f.rule, DurationRegression)
        and f.target is None
        and f.fingerprint not in folding.parent_of
        and f.fingerprint not in folding.extra
    ]
    for finding in slow:
        folding.parent_of[finding.fingerprint] = lead.fingerprint
        folding.extra[lead.fingerprint]["folded"].append(
            {"fingerprint": finding.fingerprint, "title": finding.title}
        )


def _affected(run: RunRecord, root: str, children: list[Finding]) -> dict[str, Any]:
    problems = sorted(
        r.check_id for r in run.rows() if r.target == root and r.family != HEALTH and r.is_problem
    )
    skipped = [r for r in run.rows() if not r.ran and root in r.blocked_by]
    by_target = Counter(r.target for r in skipped)
    return {
        "root_target": root,
        "folded": [{"fingerprint": c.fingerprint, "title": c.title} for c in children],
        "affected_problems": problems,
        "skipped_downstream": dict(sorted(by_target.items())),
    }


def describe(extra: dict[str, Any]) -> str:
    """One line for a message: what else the target's failure took down."""
    parts = []
    if extra.get("folded"):
        parts.append(f"{len(extra['folded'])} related alert(s) folded in")
    if extra.get("affected_problems"):
        parts.append(f"{len(extra['affected_problems'])} other check(s) on it failed")
    skipped = extra.get("skipped_downstream") or {}
    if skipped:
        where = ", ".join(f"{t} ({n})" for t, n in skipped.items())
        parts.append(f"{sum(skipped.values())} check(s) skipped because of it: {where}")
    return "; ".join(parts)
