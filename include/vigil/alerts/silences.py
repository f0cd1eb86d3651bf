"""Silences: "hold back alerts matching this scope until then", made by a person.

A scope is `key=glob` terms separated by spaces or commas, all of which must match the
alert's labels (environment, rule, fingerprint, severity, family, target, check_id), e.g.
`target=orders_db` or `environment=demo rule=api-*`. Silenced alerts are recorded, not
sent; a resolve still reaches the channels that were told the alert fired. Removing a
silence keeps its row (who silenced what, and why, stays on record).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from vigil.alerts.access import connect_kwargs, open_store
from vigil.alerts.durations import parse_duration
from vigil.results import db
from vigil.results.store import ResultStore
from vigil.spec.windows import LABELS, check_match, matches

StoreLike = ResultStore | Mapping[str, Any] | str

INSERT = """
INSERT INTO vigil.silences (scope, starts_at, until, created_by, reason)
VALUES (%s, %s, %s, %s, %s) RETURNING *
"""
ACTIVE = """
SELECT * FROM vigil.silences
WHERE removed_at IS NULL AND until > %(now)s AND starts_at <= %(now)s ORDER BY id
"""
ALL = "SELECT * FROM vigil.silences ORDER BY id"
REMOVE = """
UPDATE vigil.silences SET removed_at = %s, removed_by = %s
WHERE id = %s AND removed_at IS NULL RETURNING *
"""


class SilenceError(ValueError):
    """A silence that cannot be made or removed; the message says what to change."""


@dataclass(frozen=True)
class Silence:
    id: int
    scope: str
    starts_at: datetime
    until: datetime
    created_by: str
    reason: str
    created_at: datetime
    removed_at: datetime | None = None
    removed_by: str | None = None

    @property
    def match(self) -> dict[str, str]:
        return parse_scope(self.scope)

    def active(self, now: datetime) -> bool:
        return self.removed_at is None and self.starts_at <= now < self.until

    def describe(self) -> str:
        return f"silence #{self.id} ({self.scope}, by {self.created_by}: {self.reason})"


def parse_scope(scope: str) -> dict[str, str]:
    terms = [t for t in scope.replace(",", " ").split() if t]
    if not terms:
        raise SilenceError(f"empty silence scope; write key=glob terms, keys: {', '.join(LABELS)}")
    match: dict[str, str] = {}
    for term in terms:
        key, sep, glob = term.partition("=")
        if not sep or not key or not glob:
            raise SilenceError(f"silence scope term {term!r} is not key=glob (e.g. target=db)")
        match[key] = glob
    try:
        return check_match(match)
    except ValueError as exc:
        raise SilenceError(f"silence scope {scope!r}: {exc}") from None


def add_silence(
    store: StoreLike,
    scope: str,
    until: datetime | timedelta | str,
    reason: str,
    created_by: str,
    *,
    now: datetime | None = None,
) -> Silence:
    """Silence alerts matching `scope` from now until `until` (a time, or a duration such
    as "2h" or a timedelta from now)."""
    now = now or datetime.now(UTC)
    match = parse_scope(scope)
    end = _until(until, now)
    if end <= now:
        raise SilenceError(f"silence until {end.isoformat()} is not in the future")
    if not reason.strip() or not created_by.strip():
        raise SilenceError("a silence needs a reason and who created it")
    canonical = " ".join(f"{k}={v}" for k, v in sorted(match.items()))
    kwargs = _kwargs(store, "add a silence")
    action = f"add silence {canonical!r}"
    with db.transaction(kwargs, action) as cur:
        cur.execute(INSERT, (canonical, now, end, created_by.strip(), reason.strip()))
        return _silence(db.returned_row(cur, action))


def list_silences(
    store: StoreLike, *, include_inactive: bool = False, now: datetime | None = None
) -> list[Silence]:
    """Silences in force at `now` (default), or every silence ever made."""
    kwargs = _kwargs(store, "list silences")
    with db.transaction(kwargs, "list silences", readonly=True) as cur:
        if include_inactive:
            cur.execute(ALL)
        else:
            cur.execute(ACTIVE, {"now": now or datetime.now(UTC)})
        return [_silence(row) for row in cur.fetchall()]


def remove_silence(
    store: StoreLike, silence_id: int, *, removed_by: str = "", now: datetime | None = None
) -> Silence:
    kwargs = _kwargs(store, f"remove silence #{silence_id}")
    with db.transaction(kwargs, f"remove silence #{silence_id}") as cur:
        cur.execute(REMOVE, (now or datetime.now(UTC), removed_by or None, silence_id))
        row = cur.fetchone()
    if row is None:
        raise SilenceError(f"no silence #{silence_id} in force (unknown id, or already removed)")
    return _silence(row)


def active_silences(cur: Any, now: datetime) -> list[Silence]:
    """For evaluate, inside its transaction."""
    cur.execute(ACTIVE, {"now": now})
    return [_silence(row) for row in cur.fetchall()]


def first_match(silences: list[Silence], labels: dict[str, str]) -> Silence | None:
    """The first silence holding back an alert with these labels; one whose scope cannot
    be read (see `unreadable`) holds nothing back."""
    for silence in silences:
        try:
            match = silence.match
        except SilenceError:
            continue
        if matches(match, labels):
            return silence
    return None


def unreadable(silences: list[Silence]) -> list[str]:
    """Why each silence whose stored scope cannot be read is ignored, for a report."""
    problems = []
    for silence in silences:
        try:
            parse_scope(silence.scope)
        except SilenceError as exc:
            problems.append(f"{silence.describe()} ignored: {exc}")
    return problems


def _until(until: datetime | timedelta | str, now: datetime) -> datetime:
    if isinstance(until, datetime):
        if until.tzinfo is None:
            raise SilenceError(f"silence until {until.isoformat()} needs a timezone")
        return until
    if isinstance(until, str):
        return _until(_parse_until(until), now)
    return now + until


def _parse_until(text: str) -> datetime | timedelta:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise SilenceError(f"until: {exc}, or an ISO time with a timezone") from None


def _kwargs(store: StoreLike, action: str) -> Mapping[str, Any]:
    return connect_kwargs(open_store(store), action)


def _silence(row: Mapping[str, Any]) -> Silence:
    return Silence(**{k: row[k] for k in Silence.__dataclass_fields__})
