"""The alerts package's way into the results store's database (migration 0002 of the
same schema), through the store's public accessors."""

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
    return store.connect_kwargs(action)
