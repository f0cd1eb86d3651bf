"""DemoSystem's lifecycle: start, stop exactly its PIDs, clear errors when it cannot start."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from demo import db, faults
from demo.launcher import PROCESSES, DemoStartError, DemoSystem
from vigil.stack.postgres import free_port

pytestmark = pytest.mark.integration


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def processes_using(dsn: str) -> list[int]:
    """PIDs of any process whose command line names this database."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if dsn.encode() in (entry / "cmdline").read_bytes() and alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_start_then_stop_kills_exactly_its_processes(fresh_db: str, tmp_path: Path) -> None:
    system = DemoSystem(fresh_db, tmp_path, free_port(), free_port())
    assert not system.running
    system.start()
    pids = {name: int((tmp_path / f"{name}.pid").read_text()) for name in PROCESSES}
    assert all(alive(pid) for pid in pids.values())
    assert sorted(processes_using(fresh_db)) == sorted(pids.values())
    assert all((tmp_path / f"{name}.log").exists() for name in PROCESSES)
    assert system.running
    system.stop()
    assert not system.running
    assert not any(alive(pid) for pid in pids.values())
    assert "worker stopped" in (tmp_path / "worker.log").read_text()  # clean SIGTERM exit
    system.stop()  # stopping a stopped demo is a no-op


def test_start_that_never_gets_healthy_names_the_log(fresh_db: str, tmp_path: Path) -> None:
    db.install(fresh_db)
    faults.set_fault("inventory-down", True, dsn=fresh_db)
    system = DemoSystem(fresh_db, tmp_path, free_port(), free_port(), startup_timeout=3)
    with pytest.raises(DemoStartError) as raised:
        system.start()
    message = str(raised.value)
    assert "inventory-api /health -> 503" in message
    assert str(tmp_path / "inventory-api.log") in message
    deadline = time.monotonic() + 5
    while processes_using(fresh_db) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_using(fresh_db) == []  # a failed start leaves nothing running


def test_start_refuses_a_busy_port(fresh_db: str, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        system = DemoSystem(fresh_db, tmp_path, orders_port=port, inventory_port=free_port())
        with pytest.raises(DemoStartError, match=f"port {port} .* in use"):
            system.start()
    assert not system.running


class BrokenWorker(DemoSystem):
    """A demo whose worker is started with an argument demo.serve rejects."""

    def _argv(self, name: str) -> list[str]:
        argv = super()._argv(name)
        return [*argv, "--no-such-option"] if name == "worker" else argv


def test_a_process_that_dies_at_start_up_is_reported(fresh_db: str, tmp_path: Path) -> None:
    system = BrokenWorker(fresh_db, tmp_path, free_port(), free_port())
    with pytest.raises(DemoStartError) as raised:
        system.start()
    message = str(raised.value)
    assert "worker exited with code 2" in message
    assert str(tmp_path / "worker.log") in message
    assert "--no-such-option" in message  # the log's tail travels with the error
    assert processes_using(fresh_db) == []
