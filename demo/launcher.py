"""Start and stop the demo system: inventory-api, orders-api and the worker as OS processes.

State lives in `state_dir`: `<name>.pid` and `<name>.log` per process, `worker.ticks` (how
many ticks the worker has completed), `demo.json` (what was started, to decide whether a
later start() may reuse it) and `demo.env` (read by `python -m demo.faults` and anyone else
looking for the demo).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from demo import config, db

PROCESSES = ("inventory-api", "orders-api", "worker")
STOP_SECONDS = 5.0


class DemoStartError(RuntimeError):
    pass


@dataclass
class DemoSystem:
    dsn: str
    state_dir: Path
    orders_port: int = config.DEFAULT_ORDERS_PORT
    inventory_port: int = config.DEFAULT_INVENTORY_PORT
    startup_timeout: float = 20.0
    _children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    @property
    def orders_url(self) -> str:
        return f"http://127.0.0.1:{self.orders_port}"

    @property
    def inventory_url(self) -> str:
        return f"http://127.0.0.1:{self.inventory_port}"

    @property
    def running(self) -> bool:
        """All three recorded processes are alive (and are demo processes)."""
        pids = self._pids()
        return len(pids) == len(PROCESSES) and all(_is_demo_process(p) for p in pids.values())

    def __enter__(self) -> DemoSystem:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> DemoSystem:
        """Install the database if needed, start the processes, wait until both are healthy."""
        self.state_dir = Path(self.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self._reusable():
            self._write_env()
            return self
        self.stop()
        db.install(self.dsn)
        for port in (self.orders_port, self.inventory_port):
            _require_free(port)
        self.ticks_path.unlink(missing_ok=True)  # the new worker writes it when it runs
        try:
            for name in PROCESSES:
                self._spawn(name)
            self._write_state()
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        self._write_env()
        return self

    def stop(self) -> None:
        """Terminate exactly the recorded PIDs (SIGTERM, then SIGKILL after a grace period)."""
        for name, pid in self._pids().items():
            if _is_demo_process(pid):
                _terminate(pid, self._children.get(name))
            (self.state_dir / f"{name}.pid").unlink(missing_ok=True)
        self._children.clear()
        (self.state_dir / "demo.json").unlink(missing_ok=True)

    # --- internals ---------------------------------------------------------------------

    def _argv(self, name: str) -> list[str]:
        base = [sys.executable, "-m", "demo.serve"]
        if name == "inventory-api":
            return [*base, "inventory", "--port", str(self.inventory_port), "--dsn", self.dsn]
        if name == "orders-api":
            return [
                *base,
                "orders",
                "--port",
                str(self.orders_port),
                "--dsn",
                self.dsn,
                "--inventory-url",
                self.inventory_url,
            ]
        return [
            *base,
            "worker",
            "--dsn",
            self.dsn,
            "--inventory-url",
            self.inventory_url,
            "--ticks-file",
            str(self.ticks_path),
        ]

    def _spawn(self, name: str) -> None:
        log = self.log_path(name)
        with log.open("ab") as out:
            # Own session: Ctrl-C in the launching shell or the end of `make demo` must not
            # take the services down; stop() ends them by PID.
            proc = subprocess.Popen(
                self._argv(name),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=config.REPO_ROOT,
                start_new_session=True,
            )
        self._children[name] = proc
        (self.state_dir / f"{name}.pid").write_text(f"{proc.pid}\n")

    def log_path(self, name: str) -> Path:
        return self.state_dir / f"{name}.log"

    @property
    def ticks_path(self) -> Path:
        """Where the worker writes how many ticks it has completed."""
        # Absolute: the worker runs with the repository as its working directory.
        return Path(self.state_dir).absolute() / "worker.ticks"

    def worker_ticks(self) -> int:
        """Ticks the worker has completed without error; 0 before its first."""
        try:
            return int(self.ticks_path.read_text())
        except (OSError, ValueError):
            return 0

    def _pids(self) -> dict[str, int]:
        pids = {}
        for name in PROCESSES:
            path = self.state_dir / f"{name}.pid"
            try:
                pids[name] = int(path.read_text().strip())
            except (OSError, ValueError):
                continue
        return pids

    def _settings(self) -> dict[str, object]:
        return {
            "dsn": self.dsn,
            "orders_port": self.orders_port,
            "inventory_port": self.inventory_port,
        }

    def _write_state(self) -> None:
        state = {**self._settings(), "pids": self._pids()}
        (self.state_dir / "demo.json").write_text(json.dumps(state, indent=2) + "\n")

    def _reusable(self) -> bool:
        """Same settings, processes alive, and both /health answering.

        200 or 503 both count: a demo degraded by a fault someone switched on (or by a
        dependency) is still the running demo, and restarting it would not change that.
        """
        try:
            recorded = json.loads((self.state_dir / "demo.json").read_text())
        except (OSError, ValueError):
            return False
        same = {k: recorded.get(k) for k in self._settings()} == self._settings()
        return (
            same
            and self.running
            and all(_health(url)[0] in (200, 503) for url in (self.orders_url, self.inventory_url))
        )

    def _write_env(self) -> None:
        lines = [
            "# written by demo.launcher; read by `python -m demo.faults`",
            f"{config.ENV_DATABASE_URL}={self.dsn}",
            f"{config.ENV_ORDERS_URL}={self.orders_url}",
            f"{config.ENV_INVENTORY_URL}={self.inventory_url}",
        ]
        env = self.state_dir / "demo.env"
        env.write_text("\n".join(lines) + "\n")
        env.chmod(0o600)  # the DSN may carry a password

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last: dict[str, tuple[int, str]] = {}
        while time.monotonic() < deadline:
            for name, proc in self._children.items():
                if proc.poll() is not None:
                    raise DemoStartError(
                        f"{name} exited with code {proc.returncode} during start-up; "
                        f"see {self.log_path(name)}:\n{_tail(self.log_path(name))}"
                    )
            last = {
                "orders-api": _health(self.orders_url),
                "inventory-api": _health(self.inventory_url),
            }
            # Healthy: both APIs answer, and the worker is in its loop (it writes its tick
            # count, 0 at first): a worker that dies on its arguments is caught here.
            if all(code == 200 for code, _ in last.values()) and self.ticks_path.exists():
                return
            time.sleep(0.2)
        failing = {n: r for n, r in last.items() if r[0] != 200}
        detail = "; ".join(
            f"{n} /health -> {c or 'no answer'} {b[:300]}" for n, (c, b) in failing.items()
        )
        logs = ", ".join(str(self.log_path(n)) for n in failing)
        raise DemoStartError(
            f"demo not healthy after {self.startup_timeout:.0f}s: {detail} (logs: {logs})"
        )


def _health(base_url: str) -> tuple[int, str]:
    """(HTTP status, body) of GET /health; (0, reason) when nothing answered."""
    try:
        with urllib.request.urlopen(base_url + "/health", timeout=2) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (OSError, ValueError) as exc:
        return 0, str(exc)


def _require_free(port: int) -> None:
    with socket.socket() as sock:
        # Like the servers themselves: connections lingering in TIME_WAIT after a stop do
        # not make the port busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise DemoStartError(f"port {port} on 127.0.0.1 is already in use: {exc}") from exc


def _is_demo_process(pid: int) -> bool:
    """Alive, not a zombie, and running demo.serve: a recycled PID is left alone."""
    _reap(pid)
    proc = Path(f"/proc/{pid}")
    if proc.exists():
        try:
            state = (proc / "stat").read_text().rpartition(")")[2].split()[:1]
            if state == ["Z"]:
                return False
            return b"demo.serve" in (proc / "cmdline").read_bytes()
        except OSError:
            return False
    result = subprocess.run(
        ["ps", "-p", str(pid), "-o", "command="],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    )
    return "demo.serve" in result.stdout


def _terminate(pid: int, child: subprocess.Popen[bytes] | None) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline and _is_demo_process(pid):
        time.sleep(0.05)
    if _is_demo_process(pid):
        os.kill(pid, signal.SIGKILL)
    if child is not None:
        child.wait(timeout=STOP_SECONDS)
    _reap(pid)


def _reap(pid: int) -> None:
    """Collect our own exited child, so it does not linger as a zombie that looks alive."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def main(argv: list[str] | None = None) -> int:
    """`python -m demo.launcher start|stop|status` for `make demo` and by hand."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m demo.launcher")
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument("--dsn", default=os.environ.get(config.ENV_DATABASE_URL))
    parser.add_argument("--state-dir", type=Path, default=config.state_dir())
    parser.add_argument("--orders-port", type=int, default=config.DEFAULT_ORDERS_PORT)
    parser.add_argument("--inventory-port", type=int, default=config.DEFAULT_INVENTORY_PORT)
    args = parser.parse_args(argv)
    dsn = args.dsn or _recorded_dsn(args.state_dir)
    if not dsn:
        parser.error(f"no database: pass --dsn or set {config.ENV_DATABASE_URL}")
    system = DemoSystem(dsn, args.state_dir, args.orders_port, args.inventory_port)
    try:
        if args.action == "start":
            system.start()
            print(
                f"demo running: orders-api {system.orders_url}, inventory-api "
                f"{system.inventory_url}; env in {args.state_dir / 'demo.env'}"
            )
        elif args.action == "stop":
            system.stop()
            print("demo stopped")
        else:
            print("running" if system.running else "not running")
            return 0 if system.running else 1
    except (DemoStartError, db.DemoDbError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    return 0


def _recorded_dsn(state_dir: Path) -> str | None:
    env = state_dir / "demo.env"
    return config.read_env_file(env).get(config.ENV_DATABASE_URL) if env.exists() else None


if __name__ == "__main__":
    sys.exit(main())
