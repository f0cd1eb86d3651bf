"""Throwaway `redis-server` processes on free loopback ports, for the redis health checks.

The binary is Debian's `redis-server`, installed with apt-get when missing (as root, as
tests/support/chromium.py installs chromium). Never a skip: a test that needs a server
fails, saying why, when none can be had. Each server keeps nothing on disk
(`--save '' --appendonly no`) and lives in its own directory, its log there.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import redis

from vigil.stack.debian import PackageUnavailable, ensure_package
from vigil.stack.postgres import free_port

REDIS_SERVER = Path("/usr/bin/redis-server")
PACKAGE = "redis-server"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


class RedisUnavailable(RuntimeError):
    pass


def ensure_redis_server() -> Path:
    """The redis-server binary; installs Debian's package when it is missing."""
    try:
        return ensure_package(REDIS_SERVER, "redis-server")
    except PackageUnavailable as exc:
        raise RedisUnavailable(str(exc)) from None


class RedisServer:
    """One redis-server on 127.0.0.1:`port`: optionally password-protected, optionally a
    replica of another (`replica_of`), with extra `--name value` settings in `args`."""

    def __init__(
        self,
        directory: Path,
        *,
        password: str | None = None,
        replica_of: RedisServer | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.directory = directory
        self.password = password
        self.replica_of = replica_of
        self.args = args
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.directory / "redis.log"

    def argv(self) -> list[str]:
        argv = [
            str(ensure_redis_server()), "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--dir", str(self.directory), "--logfile", str(self.log),
        ]  # fmt: skip
        if self.password:
            argv += ["--requirepass", self.password]
        master = self.replica_of
        if master is not None:
            argv += ["--replicaof", "127.0.0.1", str(master.port)]
            if master.password:
                argv += ["--masterauth", master.password]
        return argv + list(self.args)

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.wait_for(self._answers, "to answer PING", START_TIMEOUT_S)
        return self

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RedisUnavailable(
                f"redis-server on port {self.port} exited with {self.process.returncode}: "
                + self.log_tail()
            )
        try:
            with self.client(timeout=0.5) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def client(self, timeout: float = 5.0) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self.password,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=True,
        )

    def info(self, section: str) -> dict[str, Any]:
        with self.client() as client:
            return dict(client.info(section))

    def wait_for(self, ready: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
        """Poll `ready` until it holds; a bounded wait that says what it waited for."""
        deadline = time.monotonic() + timeout_s
        while not ready():
            if time.monotonic() > deadline:
                raise RedisUnavailable(
                    f"redis-server on port {self.port} did not come {what} within "
                    f"{timeout_s:g}s: " + self.log_tail()
                )
            time.sleep(0.05)

    def wait_for_link(self) -> None:
        """A replica's link to its master is up and its first sync done."""
        self.wait_for(
            lambda: self.info("replication").get("master_link_status") == "up",
            "up as a synced replica",
        )

    def log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log.read_text().strip().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): it keeps its port and answers nothing."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
