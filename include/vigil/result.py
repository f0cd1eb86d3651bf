"""CheckResult: the one record every check runner returns and everything downstream reads."""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vigil.masking import mask_tree

# Evidence is for people, not archives: long strings and lists are cut so one noisy
# check cannot bloat the results store or a task log.
MAX_EVIDENCE_STRING = 2_000
MAX_EVIDENCE_ITEMS = 20


class Status(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"


class CheckResult(BaseModel):
    """The outcome of one check in one run.

    ``check_id`` is stable across runs (it names the check in the spec, not the run), so
    history, alert rules and reports can follow one check over time.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    check_id: str
    # The check family: health, quality (scenarios and probes as they land). One name
    # everywhere: the spec section, the task group, the store's column, the alert scopes.
    family: str
    target: str
    status: Status
    severity: Severity = Severity.CRITICAL
    started_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    duration_ms: float = 0.0
    observed: Any = None
    expected: Any = None
    message: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    # The spec check's own kind ("http", "suite", "schema_drift"): what ran.
    check_kind: str = ""
    # The spec check this result is one part of (an expectation of a suite, an object of a
    # schema-drift check), or None when the result is the spec check's own.
    parent: str | None = None

    @property
    def spec_check(self) -> str:
        """The id of the spec check this result belongs to (itself, or its parent)."""
        return self.parent or self.check_id

    @classmethod
    def of(
        cls, check: Any, family: str, status: Status, message: str, **fields: Any
    ) -> CheckResult:
        """A result for spec check `check` (any model with id, target, severity, kind), or
        for a part of it when `check_id` (and `parent`) are given."""
        fields.setdefault("severity", getattr(check, "severity", Severity.CRITICAL))
        fields.setdefault("check_kind", str(getattr(check, "kind", "")))
        fields.setdefault("check_id", str(getattr(check, "id", "?")))
        return cls(
            family=family,
            target=str(getattr(check, "target", "?")),
            status=status,
            message=one_line(message),
            **fields,
        )

    @classmethod
    def error_of(cls, check: Any, family: str, reason: str, **fields: Any) -> CheckResult:
        """`check` could not run: unreachable, timed out, misconfigured — never a pass."""
        return cls.of(check, family, Status.ERROR, reason, **fields)

    @classmethod
    def skipped_of(
        cls, check: Any, family: str, reason: str, blocked_by: Sequence[str] = (), **fields: Any
    ) -> CheckResult:
        """`check` was not run, and why; `blocked_by` names the unhealthy targets, if any."""
        details = {"skipped_because": reason, "blocked_by": list(blocked_by)}
        details.update(fields.pop("details", {}))
        return cls.of(
            check, family, Status.SKIPPED, f"skipped: {reason}", details=details, **fields
        )

    def masked(self, mask: Callable[[str], str]) -> CheckResult:
        """This result with `mask` applied to every string a person or a store will read."""
        return self.model_copy(
            update={
                "message": mask(self.message),
                "observed": mask_tree(self.observed, mask),
                "expected": mask_tree(self.expected, mask),
                "details": mask_tree(self.details, mask),
            }
        )

    @property
    def is_problem(self) -> bool:
        """A failed or errored check: what failure rates and alerts count."""
        return self.status in (Status.FAILED, Status.ERROR)

    @property
    def blocks_run(self) -> bool:
        """A critical problem fails the task and the DAG run; a warning is only reported."""
        return self.is_problem and self.severity is Severity.CRITICAL

    def to_row(self) -> dict[str, Any]:
        """JSON-safe dict with evidence truncated, for the store and for XCom."""
        data = self.model_dump(mode="json")
        data["message"] = truncate(data["message"])
        data["observed"] = truncate(data["observed"])
        data["expected"] = truncate(data["expected"])
        data["details"] = truncate(data["details"])
        return data


def truncate(value: Any, depth: int = 0) -> Any:
    """Cut long strings and lists, recursively, keeping the value JSON-serialisable."""
    if isinstance(value, str):
        # PostgreSQL text and JSONB cannot hold NUL; a binary error page must still record.
        value = value.replace("\x00", "\ufffd")
        if len(value) > MAX_EVIDENCE_STRING:
            return value[:MAX_EVIDENCE_STRING] + f"… [{len(value) - MAX_EVIDENCE_STRING} chars cut]"
        return value
    if depth > 6:
        return json.dumps(value, default=str)[:MAX_EVIDENCE_STRING]
    if isinstance(value, dict):
        return {str(k): truncate(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [truncate(v, depth + 1) for v in value[:MAX_EVIDENCE_ITEMS]]
        if len(value) > MAX_EVIDENCE_ITEMS:
            items.append(f"… {len(value) - MAX_EVIDENCE_ITEMS} more")
        return items
    return value


def one_line(text: str) -> str:
    """Collapse newlines and runs of spaces: driver errors span lines, messages must not."""
    return re.sub(r"\s+", " ", text).strip()
