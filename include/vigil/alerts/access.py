"""The alerts package's way into the results store's database.

ResultStore keeps its connection settings and its once-per-process migration private;
alerts share both (the alert tables are migration 0002 of the same schema). Kept in one
place so a public accessor on ResultStore can replace it in one edit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vigil.results.store import ResultStore


def open_store(store_or_dsn: ResultStore | Mapping[str, Any] | str) -> ResultStore:
    if isinstance(store_or_dsn, ResultStore):
        return store_or_dsn
    return ResultStore(store_or_dsn)


def connect_kwargs(store: ResultStore, action: str) -> Mapping[str, Any]:
    """The store's psycopg2 settings, with the schema (0002 included) migrated."""
    store._ensure_schema(action)
    return store._kwargs
