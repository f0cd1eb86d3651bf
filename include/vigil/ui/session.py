"""One connection per page: a page makes ten small reads, and a fresh connection per read
(the store's way, right for tasks) would cost more than the reads themselves.

RequestStore is the results store as one request sees it: every read (the store's own
queries, the reports', the UI's) runs in one read-only transaction on one connection,
opened at the first read and closed when the request ends. Errors are the store's:
StoreError naming the store and what was being read. Writes (a silence) keep their own
transaction.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from typing import Any

from vigil.results import ResultStore, db


class RequestStore(ResultStore):
    def __init__(self, store: ResultStore) -> None:
        super().__init__(store.connect_kwargs("open the results store for a page"))
        self._stack: ExitStack | None = None
        self._cursor: Any = None

    def _read(self, action: str, sql: str, params: Mapping[str, Any]) -> list[Any]:
        cur = self._open(action)
        try:
            cur.execute(sql, params)
            return list(cur.fetchall())
        except BaseException:
            # Ended with the error: the transaction's own handling rolls back, closes the
            # connection and raises StoreError for a database error.
            self._end(*sys.exc_info())
            raise

    def _open(self, action: str) -> Any:
        if self._cursor is None:
            stack = ExitStack()
            kwargs = self.connect_kwargs(action)
            self._cursor = stack.enter_context(db.transaction(kwargs, action, readonly=True))
            self._stack = stack
        return self._cursor

    def _end(self, *exc_info: Any) -> None:
        stack, self._stack, self._cursor = self._stack, None, None
        if stack is not None:
            stack.__exit__(*exc_info)

    def close(self) -> None:
        self._end(None, None, None)


def shared(store: ResultStore) -> Iterator[ResultStore]:
    """The request's store (a FastAPI dependency with `yield`)."""
    session = RequestStore(store)
    try:
        yield session
    finally:
        session.close()
