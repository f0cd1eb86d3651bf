"""A throwaway local PostgreSQL for `make demo` and the tests, without Docker.

Uses the system's server binaries when present (Debian: /usr/lib/postgresql/<v>/bin),
else the binaries shipped in the `pgserver` wheel. As root, the cluster runs as an
unprivileged system user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2

SERVICE_USER = "vigil-pg"
# Throwaway clusters trade durability for speed (STACK_NOTES): never for real data.
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class PostgresError(RuntimeError):
    pass


def find_bindir() -> Path:
    """The directory holding initdb and pg_ctl: system binaries first, then pgserver's."""
    explicit = os.environ.get("VIGIL_PG_BINDIR")
    candidates = [explicit] if explicit else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    candidates += sorted(glob.glob("/usr/local/opt/postgresql*/bin"), reverse=True)
    if pg_config := shutil.which("pg_ctl"):
        candidates.append(str(Path(pg_config).parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    try:
        import pgserver
    except ImportError as exc:
        raise PostgresError(
            "no PostgreSQL server binaries found and the pgserver wheel is missing"
        ) from exc
    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalPostgres:
    """A cluster in `datadir`, listening on 127.0.0.1:`port` and a socket in `datadir`."""

    datadir: Path
    port: int
    user: str = "postgres"

    @property
    def running(self) -> bool:
        return (self.datadir / "postmaster.pid").exists() and self._accepts()

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def start(self, log: Path | None = None) -> LocalPostgres:
        """Create the cluster if needed and start it; return once it accepts connections."""
        if self.running:
            return self
        bindir = find_bindir()
        self.datadir.mkdir(parents=True, exist_ok=True)
        run_as = _service_user(self.datadir)
        if not (self.datadir / "PG_VERSION").exists():
            _run(
                run_as,
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    self.user,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-sync",
                ],
            )
        log = log or self.datadir / "server.log"
        log.touch()
        _chown(log)
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-p {self.port}",
                f"-k {self.datadir}",
                "-c max_connections=200",
            ]
            + [f"-c {s}" for s in FAST_SETTINGS]
        )
        _run(
            run_as,
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        self._wait_ready(timeout=30)
        return self

    def stop(self) -> None:
        if not (self.datadir / "postmaster.pid").exists():
            return
        bindir = find_bindir()
        subprocess.run(
            _as_user(
                _service_user(self.datadir),
                [str(bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"],
            ),
            check=False,
            capture_output=True,
            timeout=60,
        )

    def create_database(self, name: str) -> None:
        """Create `name` unless it exists (idempotent)."""
        conn = psycopg2.connect(self.dsn())
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()

    def _accepts(self) -> bool:
        try:
            psycopg2.connect(self.dsn(), connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            return False

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._accepts():
                return
            time.sleep(0.1)
        raise PostgresError(f"PostgreSQL on port {self.port} not ready after {timeout:.0f}s")


def _service_user(datadir: Path) -> str | None:
    """As root, an unprivileged system user that owns the cluster; otherwise nobody."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
            capture_output=True,
        )
    _chown(datadir)
    # The service user must be able to reach the data directory through its parents.
    for parent in datadir.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)
    return SERVICE_USER


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, SERVICE_USER, SERVICE_USER)


def _as_user(user: str | None, argv: list[str]) -> list[str]:
    return ["runuser", "-u", user, "--", *argv] if user else argv


def _run(user: str | None, argv: list[str]) -> None:
    result = subprocess.run(_as_user(user, argv), capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise PostgresError(
            f"{Path(argv[0]).name} failed ({result.returncode}): "
            f"{result.stderr.strip() or result.stdout.strip()}"
        )
