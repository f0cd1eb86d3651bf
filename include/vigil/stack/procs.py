"""Background processes the stack starts, and stops again: exactly those, by PID.

Each process leads a new session (so its own process group); its PID file records the
PID, the command and the kernel's start time of the process, so a recycled PID is never
mistaken for ours and `make stop` never signals a stranger.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vigil.stack.state import StackPaths


@dataclass(frozen=True)
class Managed:
    name: str
    pid: int
    argv: list[str]
    started: str  # the kernel's start time of `pid`; "" where it cannot be read


def start(
    paths: StackPaths,
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: Path | None = None,
) -> Managed:
    """Start `argv` in the background, output appended to logs/<name>.log."""
    paths.make_dirs()
    with open(paths.log(name), "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=str(cwd) if cwd else None,
            start_new_session=True,
        )
    managed = Managed(name, proc.pid, list(argv), _start_marker(proc.pid))
    _pid_file(paths, name).write_text(json.dumps(managed.__dict__) + "\n")
    return managed


def running(paths: StackPaths, name: str) -> Managed | None:
    """The process recorded under `name`, if it is still the same live process."""
    managed = _read(paths, name)
    if managed is None or not alive(managed.pid):
        return None
    if managed.started and _start_marker(managed.pid) != managed.started:
        return None  # the PID was recycled by an unrelated process
    return managed


def stop(
    paths: StackPaths,
    names: Sequence[str],
    timeout: float = 30.0,
    timeouts: Mapping[str, float] | None = None,
) -> list[str]:
    """Stop the named processes' whole process groups, together: SIGTERM, then SIGKILL
    for what is left after `timeout` s (or `timeouts[name]`). Returns the names that
    were running. Their PID files are removed either way.
    """
    live = [m for m in (running(paths, name) for name in names) if m is not None]
    try:
        for managed in live:
            _signal_group(managed.pid, signal.SIGTERM)
        started = time.monotonic()
        for managed in sorted(live, key=lambda m: (timeouts or {}).get(m.name, timeout)):
            grace = (timeouts or {}).get(managed.name, timeout)
            if not _wait_group_gone(managed.pid, max(0.0, started + grace - time.monotonic())):
                _signal_group(managed.pid, signal.SIGKILL)
                _wait_group_gone(managed.pid, 10.0)
        return [m.name for m in live]
    finally:
        for name in names:
            _pid_file(paths, name).unlink(missing_ok=True)


def recorded(paths: StackPaths) -> list[str]:
    """Names with a PID file, alive or not."""
    if not paths.pids.exists():
        return []
    return sorted(p.stem for p in paths.pids.glob("*.pid"))


def _pid_file(paths: StackPaths, name: str) -> Path:
    return paths.pids / f"{name}.pid"


def _read(paths: StackPaths, name: str) -> Managed | None:
    path = _pid_file(paths, name)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        return Managed(data["name"], int(data["pid"]), list(data["argv"]), str(data["started"]))
    except (ValueError, KeyError, TypeError):
        return None  # a damaged PID file names nobody we can safely signal


def _reap(pid: int) -> None:
    """Collect `pid` if it is our own child (the e2e test starts the stack in-process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (not a zombie; our own children are reaped first)."""
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return False
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _start_marker(pid: int) -> str:
    """The process's start time as the OS reports it: stable for its life, unique per PID."""
    stat = Path(f"/proc/{pid}/stat")
    if sys.platform.startswith("linux") and stat.exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[19]
        except (OSError, IndexError):
            return ""
    try:
        out = subprocess.run(
            ["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    _reap(pgid)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A lone zombie leader (our own child, not yet reaped) counts as gone.
    return alive(pgid) or _group_has_other_members(pgid)


def _group_has_other_members(pgid: int) -> bool:
    proc = Path("/proc")
    if not proc.exists():
        return True  # cannot tell; killpg says the group still exists
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == pgid:
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _wait_group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return True
        time.sleep(0.1)
    return not _group_alive(pgid)
