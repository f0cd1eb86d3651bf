"""The notification outbox: claim a run's queued notices, send one digest per channel,
record each outcome.

Claiming happens in the evaluation's locked transaction (pending -> sending in one
UPDATE), so two evaluations never hold one row; sending happens after commit, with no
lock held during network I/O. A sender that dies mid-send leaves rows in `sending`; after
sql.CLAIM_LEASE_S a later evaluation of the environment may claim them again (at-least-once
only in that crash case).

A notice that failed (a channel down, its secret variable unset) is claimed again by later
evaluations, each one delivery, until a channel accepts it, within sql.RETRY_MAX_TRIES
deliveries and sql.RETRY_WITHIN_S; then it is given up, and the evaluation that gives it
up returns it (`GivenUp`) for the run's report and the task log. A failed firing or
reminder of an alert that has since resolved is superseded: its resolve goes instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from vigil.alerts import sql
from vigil.alerts.delivery import DeliveryResult, Sender, deliver
from vigil.alerts.digest import SECTIONS, Digest, Notice
from vigil.alerts.durations import format_duration
from vigil.results import db
from vigil.results.models import RunRef
from vigil.spec.alerts import Delivery

log = logging.getLogger(__name__)
_ORDER = {kind: i for i, (kind, _) in enumerate(SECTIONS)}
MAX_PARALLEL = 8


@dataclass(frozen=True)
class Claimed:
    id: int
    alert: int
    channel: str
    kind: str
    content: dict[str, Any]


@dataclass(frozen=True)
class Delivered:
    channel: str
    notices: int
    ok: bool
    attempts: int
    error: str
    kept: int = 0  # of its notices, failed and kept to be retried by a later evaluation


@dataclass(frozen=True)
class GivenUp:
    """A notice that will not be sent: tried too often, or owed for too long."""

    fingerprint: str
    channel: str
    kind: str
    tries: int
    error: str
    owed_since: datetime

    def describe(self) -> str:
        tries = f"{self.tries} try" if self.tries == 1 else f"{self.tries} tries"
        within = format_duration(timedelta(seconds=sql.RETRY_WITHIN_S))
        late = "" if self.tries >= sql.RETRY_MAX_TRIES else f", not delivered within {within}"
        return (
            f"{self.channel}: {self.kind} of {self.fingerprint} given up after {tries}{late}: "
            f"{self.error}"
        )


def _bounds(now: datetime) -> dict[str, Any]:
    since = now - timedelta(seconds=sql.RETRY_WITHIN_S)
    return {"since": since, "max_tries": sql.RETRY_MAX_TRIES, "lease": sql.CLAIM_LEASE_S}


def give_up_stale(cur: Any, environment: str, now: datetime) -> list[GivenUp]:
    """Close the failed notices no longer owed (sql.GIVE_UP); the given-up ones, logged."""
    cur.execute(sql.GIVE_UP, {"env": environment, **_bounds(now)})
    return _given_up(cur.fetchall())


def claim(cur: Any, run_pk: int, environment: str, now: datetime) -> list[Claimed]:
    """This run's queued notices and the environment's undelivered ones still owed
    (sql.CLAIM)."""
    cur.execute(sql.CLAIM, {"run": run_pk, "env": environment, **_bounds(now)})
    return [
        Claimed(r["id"], r["alert"], r["channel"], r["kind"], r["content"]) for r in cur.fetchall()
    ]


def by_channel(claimed: list[Claimed]) -> dict[str, list[Claimed]]:
    grouped: dict[str, list[Claimed]] = {}
    for row in claimed:
        grouped.setdefault(row.channel, []).append(row)
    for rows in grouped.values():
        rows.sort(
            key=lambda r: (
                _ORDER[r.kind],
                r.content["severity"] != "critical",
                r.content["fingerprint"],
            )
        )
    return grouped


def to_digest(channel: str, rows: list[Claimed], run: RunRef, now: datetime) -> Digest:
    notices = [Notice(r.kind, r.content) for r in rows]
    return Digest(run.environment, run, channel, notices, now)


def send_all(
    grouped: dict[str, list[Claimed]],
    senders: Mapping[str, Sender | str],
    run: RunRef,
    now: datetime,
    policy: Delivery,
    mask: Callable[[str], str],
) -> dict[str, DeliveryResult]:
    """One digest per channel, channels in parallel; a sender given as a string is a
    problem that stopped it being built (recorded as the failure)."""

    def one(channel: str) -> DeliveryResult:
        sender = senders.get(channel)
        if sender is None:
            return DeliveryResult(False, f"channel {channel!r} is not configured", False, 0)
        if isinstance(sender, str):
            return DeliveryResult(False, mask(sender), False, 0)
        digest = to_digest(channel, grouped[channel], run, now)
        return deliver(sender, digest, policy, mask=mask)

    channels = sorted(grouped)
    if not channels:
        return {}
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(channels))) as pool:
        results = dict(zip(channels, pool.map(one, channels), strict=True))
    for channel, result in results.items():
        if not result.ok:
            log.warning(
                "alerts: channel %s failed after %d attempt(s): %s",
                channel,
                result.attempts,
                result.error,
            )
    return results


def finish(
    kwargs: Mapping[str, Any],
    environment: str,
    grouped: dict[str, list[Claimed]],
    results: dict[str, DeliveryResult],
    now: datetime,
) -> tuple[list[Delivered], list[GivenUp]]:
    """Record every claimed row's outcome, and when channels last accepted each alert;
    the notices that failed on their last try are given up."""
    delivered = []
    given_up: list[GivenUp] = []
    notified: set[int] = set()
    with db.transaction(kwargs, "record alert deliveries") as cur:
        # The same lock as the state move: taking notification rows then alert rows here,
        # against alert rows then notification rows there, would otherwise deadlock.
        cur.execute(sql.LOCK_ENVIRONMENT, (sql.LOCK_CLASS, environment))
        for channel, rows in sorted(grouped.items()):
            result = results[channel]
            cur.execute(
                sql.FINISH,
                {
                    "ok": result.ok,
                    "max_tries": sql.RETRY_MAX_TRIES,
                    "attempts": result.attempts,
                    "error": result.error,
                    "ids": [r.id for r in rows],
                },
            )
            outcomes = cur.fetchall()
            given_up += _given_up(outcomes)
            kept = sum(1 for r in outcomes if r["status"] == "failed")
            if result.ok:
                notified.update(r.alert for r in rows if r.kind != "resolve")
            delivered.append(
                Delivered(channel, len(rows), result.ok, result.attempts, result.error, kept)
            )
        if notified:
            cur.execute(sql.MARK_NOTIFIED, {"now": now, "ids": sorted(notified)})
    return delivered, given_up


def _given_up(rows: Sequence[Mapping[str, Any]]) -> list[GivenUp]:
    out = []
    for row in rows:
        if row["status"] != "given_up":
            continue
        given = GivenUp(row["fingerprint"], row["channel"], row["kind"], row["tries"],
                        row["error"], row["evaluated_at"])  # fmt: skip
        log.warning("alerts: notice not sent, and no longer retried: %s", given.describe())
        out.append(given)
    return out
