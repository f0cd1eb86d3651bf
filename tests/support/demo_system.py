"""The demo system for tests: started on free ports over its own database, bounded waits
for a fault switch to show (services re-read faults every 0.5 s), and the faults CLI as a
user's shell runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from vigil.stack.postgres import free_port

# The journeys of the demo spec (include/specs/demo.yaml): one for each seed scenario.
DEMO_JOURNEYS = (
    "order-lifecycle",
    "tenant-isolation",
    "feed-isolation",
    "feed-lifecycle",
    "concurrent-creates",
    "idempotent-replay",
    "inventory-recovery",
)


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


def until(predicate: Callable[[], bool], what: str, timeout: float = 5) -> None:
    """Poll `predicate` until it holds; fail, naming `what`, after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.1)


def faults_cli(demo: Any, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m demo.faults ...` finding the demo the way a user's shell would: through
    VIGIL_STATE_DIR, the folder above `demo.state_dir` (laid out like the repo's .state)."""
    from demo import config

    env = {k: v for k, v in os.environ.items() if not k.startswith("DEMO_")}
    env[config.ENV_STATE_DIR] = str(Path(demo.state_dir).parent)
    return subprocess.run(
        [sys.executable, "-m", "demo.faults", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=30,
        cwd=config.REPO_ROOT,
        check=False,
    )
