"""Fault switches as the services see them: read from demo_admin.faults, cached briefly.

The table is the single place fault state lives, so the CLI (writing SQL) and either
service's POST /admin/faults agree without talking to each other.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from demo.config import ALL_FAULTS, FAULT_CACHE_SECONDS, FAULT_DEFAULTS, FAULTS, SLOW_INDEX

log = logging.getLogger(__name__)

SELECT_FAULTS = "SELECT name, enabled, value FROM demo_admin.faults ORDER BY name"
# $1 name, $2 enabled, $3 value (NULL keeps the stored one).
UPDATE_FAULT = """
    UPDATE demo_admin.faults SET enabled = $2, value = coalesce($3, value), updated_at = now()
    WHERE name = $1 RETURNING name, enabled, value
"""


class FaultError(ValueError):
    """A fault name or value that does not exist or is out of range."""


def validate(name: str, value: float | None) -> None:
    """Any fault a caller may switch: the table's switches and slow-index (which callers
    hand to demo.slow_index; it is not a row of demo_admin.faults)."""
    if name not in ALL_FAULTS:
        raise FaultError(f"unknown fault {name!r}: expected one of {', '.join(ALL_FAULTS)}")
    if value is None:
        return
    if name == "errors" and not 0 <= value <= 1:
        raise FaultError(f"errors: rate must be between 0 and 1, got {value}")
    if name == "latency" and not 0 <= value <= 60_000:
        raise FaultError(f"latency: delay must be between 0 and 60000 ms, got {value}")
    if name in ("inventory-down", SLOW_INDEX):
        raise FaultError(f"{name} takes no value")


@dataclass(frozen=True)
class Fault:
    enabled: bool
    value: float | None

    def as_json(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "value": self.value}


def all_off() -> dict[str, Fault]:
    return {name: Fault(False, FAULT_DEFAULTS[name]) for name in FAULTS}


class FaultCache:
    """The current switches, re-read at most every FAULT_CACHE_SECONDS.

    If the database cannot be read the last known state is kept: a database outage shows
    in /health, it must not also flip faults on or off.
    """

    def __init__(self, ttl: float = FAULT_CACHE_SECONDS) -> None:
        self._ttl = ttl
        self._state = all_off()
        self._read_at = -math.inf

    def invalidate(self) -> None:
        self._read_at = -math.inf

    async def get(self, pool: asyncpg.Pool) -> dict[str, Fault]:
        if time.monotonic() - self._read_at < self._ttl:
            return self._state
        self._read_at = time.monotonic()
        try:
            rows = await pool.fetch(SELECT_FAULTS, timeout=1.0)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            log.warning("cannot read fault switches, keeping last known: %s", exc)
            return self._state
        self._state = {r["name"]: Fault(r["enabled"], r["value"]) for r in rows}
        return self._state


class ErrorGate:
    """Fails exactly `rate` of requests, spread evenly (rate 0.5: every second one).

    Deterministic rather than random, so "half the requests fail" is what a test or a
    probe actually observes, not a coin toss.
    """

    def __init__(self) -> None:
        self._credit = 0.0

    def should_fail(self, rate: float) -> bool:
        self._credit += min(max(rate, 0.0), 1.0)
        if self._credit >= 1.0 - 1e-9:
            self._credit -= 1.0
            return True
        return False
