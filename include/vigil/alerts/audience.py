"""Who is told what about an alert, per channel, from what each was told of its episode.

- A new firing goes to the rule's channels (recorded, not sent, while silenced); nothing
  while the alert is folded under a target's health alert, which speaks for it.
- A resolve goes to the channels that heard the episode, or are still owed a notice of it
  (one that failed, which the outbox retries): those that saw it fire, or will.
- While an alert fires, a channel that never heard of the episode (the alert was folded or
  silenced until now, or its notice was given up) gets a firing: its first notice is no
  reminder. One that heard it gets a reminder every `repeat_interval`. Nothing while a
  failed notice is owed to it: its retry speaks. The interval counts from the newest
  notice queued for the channel, given-up ones included, so a channel that is down is
  not handed a new notice every run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from vigil.alerts import sql

FIRING, RESOLVE, REMINDER = "firing", "resolve", "reminder"


@dataclass(frozen=True)
class Told:
    """What one channel was told of an alert's current episode (firings and reminders)."""

    last_at: datetime  # the newest one queued for it: sent, being sent, owed or given up
    heard: bool  # one was accepted, or is being sent
    owed: bool  # one failed and is still to be retried

    @property
    def reached(self) -> bool:
        """Heard it, or will: a resolve goes here."""
        return self.heard or self.owed


def told(cur: Any, environment: str, fps: list[str], now: datetime) -> dict[int, dict[str, Told]]:
    """alert id -> channel -> what it was told (sql.TOLD), on the evaluation clock `now`."""
    since = now - timedelta(seconds=sql.RETRY_WITHIN_S)
    params = {"env": environment, "fps": fps, "since": since, "max_tries": sql.RETRY_MAX_TRIES}
    cur.execute(sql.TOLD, params)
    out: dict[int, dict[str, Told]] = {}
    for row in cur.fetchall():
        entry = Told(row["last_at"], bool(row["heard"]), bool(row["owed"]))
        out.setdefault(row["alert"], {})[row["channel"]] = entry
    return out


def reached(told: Mapping[str, Told]) -> list[str]:
    return sorted(c for c, t in told.items() if t.reached)


def plan(
    routed: list[str],
    event: str | None,
    firing: bool,
    told: Mapping[str, Told],
    interval: timedelta,
    now: datetime,
    *,
    folded: bool,
    silenced: bool,
) -> dict[str, str]:
    """The notice an alert's move (`event`: "fire", "resolve" or None; `firing` after it)
    owes each channel: channel -> kind, the rule's channels first."""
    if event == "resolve":
        others = [c for c in reached(told) if c not in routed]
        return dict.fromkeys([c for c in routed if c in told and told[c].reached] + others, RESOLVE)
    if folded:
        return {}
    if event == "fire":
        return dict.fromkeys(routed, FIRING)
    if not firing or silenced:
        return {}
    due = {c: _due(told.get(c), interval, now) for c in routed}
    return {c: kind for c, kind in due.items() if kind is not None}


def _due(told: Told | None, interval: timedelta, now: datetime) -> str | None:
    if told is None:
        return FIRING  # never told of this episode
    if told.owed or now - told.last_at < interval:
        return None  # a failed one will be retried; or the last one is recent
    return REMINDER if told.heard else FIRING
