"""The results store: runs and CheckResults in PostgreSQL, with history queries."""

from vigil.results.models import (
    FailureRate,
    HistoryEntry,
    RunCounts,
    RunRef,
    RunState,
    RunSummary,
    StoreError,
)
from vigil.results.store import ResultStore

__all__ = [
    "FailureRate",
    "HistoryEntry",
    "ResultStore",
    "RunCounts",
    "RunRef",
    "RunState",
    "RunSummary",
    "StoreError",
]
