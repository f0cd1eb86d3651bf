"""The demo system for tests: started on free ports over its own database, and a bounded
wait for a fault switch to show in a service's /health (services re-read faults every
0.5 s)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from vigil.stack.postgres import free_port


@contextmanager
def running_demo(pg: Any, database: str, state_dir: Path) -> Iterator[Any]:
    """The demo system over a new database `database` of `pg`, stopped afterwards."""
    from demo.launcher import DemoSystem

    pg.create_database(database)
    system = DemoSystem(
        pg.dsn(database), state_dir, orders_port=free_port(), inventory_port=free_port()
    )
    system.start()
    try:
        yield system
    finally:
        system.stop()


def wait_for_health(base_url: str, status: int, timeout_s: float = 10.0) -> None:
    """Poll `base_url`/health until it answers `status`; fail, saying what it saw, after
    `timeout_s`."""
    deadline, seen = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        seen = requests.get(f"{base_url}/health", timeout=2).status_code
        if seen == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"{base_url}/health answered {seen}, not {status}, for {timeout_s}s")
