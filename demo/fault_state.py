"""Fault switches as the services see them: read from demo_admin.faults, cached briefly.

The table is the single place fault state lives, so the CLI (writing SQL) and either
service's POST /admin/faults agree without talking to each other. Who reads which switch:

    errors, latency       both services' /v1 (fault_middleware in demo/web.py)
    inventory-down        inventory-api (fault_middleware, its /health)
    tenant-leak           orders-api GET /v1/orders/{id}
    duplicate-ids         orders-api POST /v1/orders
    feed-drop             orders-api's WebSocket feed, per event (demo/orders_feed.py)
    stuck                 the worker, once per tick (is_enabled: it has no FaultCache)
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
# A missing row reads as off (bool_or over no rows is NULL).
SELECT_ENABLED = "SELECT coalesce(bool_or(enabled), false) FROM demo_admin.faults WHERE name = $1"
# Switches that take no value: a None default says so (config.FAULT_DEFAULTS).
VALUELESS = (*(name for name in FAULTS if FAULT_DEFAULTS[name] is None), SLOW_INDEX)


class FaultError(ValueError):
    """A fault name or value that does not exist or is out of range."""


def validate(name: str, value: float | None) -> None:
    """Any fault a caller may switch: the table's switches and slow-index (which callers
    hand to demo.slow_index; it is not a row of demo_admin.faults). Only errors and
    latency take a value; every other fault refuses one rather than store it unused."""
    if name not in ALL_FAULTS:
        raise FaultError(f"unknown fault {name!r}: expected one of {', '.join(ALL_FAULTS)}")
    if value is None:
        return
    if name == "errors" and not 0 <= value <= 1:
        raise FaultError(f"errors: rate must be between 0 and 1, got {value}")
    if name == "latency" and not 0 <= value <= 60_000:
        raise FaultError(f"latency: delay must be between 0 and 60000 ms, got {value}")
    if name in VALUELESS:
        raise FaultError(f"{name} takes no value")


def missing_row(name: str) -> str:
    """Why switching `name` changed nothing: its row is missing, as in a database a demo
    installed before the switch existed, while that demo is still running (a start adds
    missing rows: demo.db.sync_faults)."""
    return (
        f"{name}: no such switch in this database's demo_admin.faults yet; restart the demo"
        " (`make stop`, then `make demo`) to add it"
    )


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
        # Seeded with all off: a database installed before a switch existed has no row for
        # it until demo.db.install adds one, and readers index this by every name in FAULTS.
        self._state = {**all_off(), **{r["name"]: Fault(r["enabled"], r["value"]) for r in rows}}
        return self._state


async def is_enabled(pool: asyncpg.Pool, name: str) -> bool:
    """One switch, read now (no cache): for the worker, which asks once per tick. Errors
    propagate: a tick that cannot read the database fails as a whole anyway."""
    return bool(await pool.fetchval(SELECT_ENABLED, name, timeout=1.0))


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
