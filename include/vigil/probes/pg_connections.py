"""Connection capacity: can the database take N more sessions at once, and how fast?

A pool that grows under load, a deploy that starts every worker together: N sessions open
in the same instant. This probe does exactly that (a barrier releases every opener at
once), times each opening, keeps the sessions open together for `hold_s`, and while they
coexist reads what the server allows (`max_connections` minus the slots reserved for
superusers and, from PostgreSQL 16, for `pg_use_reserved_connections`) and how many
client sessions it serves. The headroom is what is left for everyone else at that peak.

Sessions are read-only (`vigil.pg`) and run nothing but one catalog query: the probe
costs the server N backends for `hold_s`, nothing more.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import psycopg2.extensions

from vigil import pg
from vigil.probes.measure import Measurement

APPLICATION_NAME = "vigil-probe-connections"
MAX_CONNECTIONS = 500
MAX_HOLD_S = 60.0

# `reserved_connections` exists from PostgreSQL 16; missing_ok turns it into NULL before.
_CAPACITY = """
SELECT current_setting('max_connections')::int,
       current_setting('superuser_reserved_connections')::int,
       current_setting('reserved_connections', true)::int,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')
"""

Connection = psycopg2.extensions.connection

__all__ = ["ConnectionProbe", "run_connection_probe"]


@dataclass
class ConnectionProbe:
    """Opening times and the server's capacity at the peak. The capacity figures are
    None when no session opened (nothing could ask)."""

    measurement: Measurement = field(default_factory=Measurement)
    max_connections: int | None = None
    # Slots ordinary sessions cannot take: superuser_reserved_connections, plus
    # reserved_connections on PostgreSQL 16+.
    reserved: int | None = None
    # Client sessions the server served while all of the probe's were open (its own too).
    in_use_at_peak: int | None = None
    opened: int = 0
    failed: int = 0
    # Why the capacity could not be read although a session opened (driver's first line).
    capacity_error: str | None = None

    @property
    def headroom(self) -> int | None:
        """Sessions an ordinary user could still have opened at the peak."""
        if self.max_connections is None or self.reserved is None or self.in_use_at_peak is None:
            return None
        return self.max_connections - self.reserved - self.in_use_at_peak

    def figures(self) -> dict[str, float]:
        """The Measurement's figures (connect latencies) plus the capacity."""
        out = self.measurement.figures()
        out["opened"] = float(self.opened)
        out["failed"] = float(self.failed)
        if self.max_connections is not None:
            out["max_connections"] = float(self.max_connections)
        if self.headroom is not None:
            out["headroom"] = float(self.headroom)
        return out


def run_connection_probe(
    connect_kwargs: Mapping[str, Any],
    *,
    connections: int,
    hold_s: float = 0.5,
    timeout_s: float = 10.0,
) -> ConnectionProbe:
    """Open `connections` sessions at once (clamped to 1..500), hold them `hold_s`, read
    the capacity while they coexist, close them all. A session that cannot open is
    recorded as error "connection" with the driver's first line; never raises for it."""
    count = max(1, min(connections, MAX_CONNECTIONS))
    probe = ConnectionProbe()
    conns = _open_together(connect_kwargs, count, timeout_s, probe)
    try:
        probe.opened, probe.failed = len(conns), count - len(conns)
        if conns:
            _read_capacity(conns[0], probe)
        time.sleep(max(0.0, min(hold_s, MAX_HOLD_S)))
    finally:
        for conn in conns:
            conn.close()
    return probe


def _open_together(
    connect_kwargs: Mapping[str, Any], count: int, timeout_s: float, probe: ConnectionProbe
) -> list[Connection]:
    """Open `count` sessions in parallel, released together; each one timed."""
    barrier = threading.Barrier(count)
    lock = threading.Lock()
    window = time.perf_counter()

    def open_one(_: int) -> Connection | None:
        # A thread that comes too late breaks the barrier: the others open anyway.
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=timeout_s)
        conn, took_s, failure = open_session(connect_kwargs, timeout_s, APPLICATION_NAME)
        with lock:
            probe.measurement.record(
                took_s * 1_000_000, error=None if conn else "connection", message=failure
            )
        return conn

    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="vigil-pg-connect") as pool:
        conns = [conn for conn in pool.map(open_one, range(count)) if conn is not None]
    probe.measurement.elapsed_s = time.perf_counter() - window
    return conns


def open_session(
    connect_kwargs: Mapping[str, Any], timeout_s: float, application_name: str
) -> tuple[Connection | None, float, str | None]:
    """One guarded (read-only, statement_timeout) probe session, timed: the connection or
    None, the seconds opening took, and the driver's first line when it failed."""
    start = time.perf_counter()
    try:
        conn = pg.connect(
            connect_kwargs,
            application_name=application_name,
            statement_timeout_s=timeout_s,
            connect_timeout_s=timeout_s,
        )
    except psycopg2.Error as exc:
        return None, time.perf_counter() - start, pg.first_line(exc)
    return conn, time.perf_counter() - start, None


def _read_capacity(conn: Connection, probe: ConnectionProbe) -> None:
    """Settings and client sessions, from one of the probe's own sessions."""
    try:
        with conn.cursor() as cur:
            cur.execute(_CAPACITY)
            row = cur.fetchone()
        conn.rollback()
    except psycopg2.Error as exc:
        probe.capacity_error = pg.first_line(exc)
        return
    assert row is not None  # a SELECT without FROM returns one row
    probe.max_connections, superuser, reserved, probe.in_use_at_peak = row
    probe.reserved = superuser + (reserved or 0)
