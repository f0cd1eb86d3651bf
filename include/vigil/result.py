"""CheckResult: the one record every check runner returns and everything downstream reads."""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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
    kind: str
    target: str
    status: Status
    severity: Severity = Severity.CRITICAL
    started_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    duration_ms: float = 0.0
    observed: Any = None
    expected: Any = None
    message: str = ""
    details: dict[str, Any] = Field(default_factory=dict)

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
