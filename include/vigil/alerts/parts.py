"""Alerts on part-results resolve when their parent says the part is gone.

A spec check may report parts (`parent` set on each result): one result per drifted
object of a schema-drift check, one per expectation of a suite. A part that is no longer
reported yields no finding from a per-check rule, so its alert would stay as it is for
ever. Once the part's parent has been judged in this run without it, the part is gone:
- the parent passed (a clean schema-drift run records only the parent's own result), or
- the parent reported other parts and not this one (a suite whose expectation ids changed).
Every alert about a gone part then recovers (it resolves, and the channels that saw it
fire are told). A parent that could not run (an error, a skip) says nothing about its
parts: their alerts stay as they are. A window rule's finding about a gone part, still
breaching on old results, recovers the same way, so the alert does not fire again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from vigil.alerts import sql
from vigil.alerts.history import History, RunRecord
from vigil.alerts.rules import Finding
from vigil.result import Status
from vigil.spec.alerts import RuleBase

CHECK = "check_id"


@dataclass(frozen=True)
class Gone:
    check_id: str
    parent: str
    target: str
    family: str
    why: str  # "schema-drift passed"

    @property
    def title(self) -> str:
        return f"{self.check_id} is no longer reported: {self.why}"

    @property
    def detail(self) -> dict[str, Any]:
        return {"part_of": self.parent, "no_longer_reported": True, "why": self.why}


def settle(
    cur: Any,
    environment: str,
    findings: list[Finding],
    history: History,
    rules: Sequence[RuleBase],
) -> list[Finding]:
    """`findings`, with each one about a gone part turned into a recovery, plus a recovery
    for each open alert about a gone part that no rule spoke of this run."""
    cur.execute(sql.OPEN_CHECK_ALERTS, {"env": environment})
    spoken = {f.fingerprint for f in findings}
    silent = [dict(r) for r in cur.fetchall() if r["fingerprint"] not in spoken]
    named = {f.scope[CHECK] for f in findings if CHECK in f.scope}
    named |= {str(r["scope"][CHECK]) for r in silent}
    candidates = sorted(named - set(history.current.results))
    if not candidates:
        return findings
    gone = _gone(cur, environment, candidates, history.current)
    if not gone:
        return findings
    settled = [_recovered(f, gone[f.scope[CHECK]]) if f.scope.get(CHECK) in gone else f
               for f in findings]  # fmt: skip
    by_id = {r.id: r for r in rules}
    for row in silent:
        part = gone.get(str(row["scope"][CHECK]))
        rule = by_id.get(row["rule_id"])
        if part is not None and rule is not None:  # a removed rule's alerts retire apart
            settled.append(_closing(rule, row["scope"], part))
    return settled


def _gone(cur: Any, environment: str, check_ids: list[str], run: RunRecord) -> dict[str, Gone]:
    cur.execute(sql.LAST_RESULT_OF, {"env": environment, "ids": check_ids})
    gone = {}
    for row in cur.fetchall():
        parent = row["parent"]
        why = _judged_without(parent, run) if parent else None
        if why is not None:
            gone[row["check_id"]] = Gone(row["check_id"], parent, row["target"], row["family"], why)
    return gone


def _judged_without(parent: str, run: RunRecord) -> str | None:
    """Why `parent`, judged in `run`, says its missing part is gone; None when it was not
    judged (did not run, could not run)."""
    own = run.results.get(parent)
    if own is not None and own.status is Status.PASSED:
        return f"{parent} passed"
    others = sum(1 for r in run.rows() if r.parent == parent and r.ran)
    if others:
        return f"{parent} reported {others} other part(s) and not this one"
    return None


def _recovered(finding: Finding, part: Gone) -> Finding:
    return replace(
        finding, breaching=False, recovered=True, title=part.title,
        detail={**finding.detail, **part.detail},
    )  # fmt: skip


def _closing(rule: RuleBase, scope: Mapping[str, Any], part: Gone) -> Finding:
    return Finding(
        rule, {str(k): str(v) for k, v in scope.items()}, False, True, part.title,
        part.detail, part.target, part.family,
    )  # fmt: skip
