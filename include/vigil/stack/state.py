"""Where the local stack keeps its state, which ports it uses, and its generated secrets.

Everything lives under one folder (`.state/` in the repo, or `VIGIL_STATE_DIR`), so
`make clean` is one `rm -rf` and two stacks (the demo and the e2e test) never share a file.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

ADMIN_USER = "admin"


class StackError(RuntimeError):
    """A stage of the stack failed; `log` names the file that says why."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log


def repo_root() -> Path:
    """The checkout this package was loaded from (include/vigil/stack/state.py → repo)."""
    return Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class StackPaths:
    repo: Path
    state: Path
    # VIGIL_SPECS_DIR when set (the e2e test adds specs to a copy), else include/specs.
    specs_dir: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StackPaths:
        environ = os.environ if environ is None else environ
        repo = repo_root()
        state = environ.get("VIGIL_STATE_DIR") or str(repo / ".state")
        specs = environ.get("VIGIL_SPECS_DIR")
        return cls(repo=repo, state=Path(state).resolve(), specs_dir=Path(specs) if specs else None)

    @property
    def pg_data(self) -> Path:
        return self.state / "pg"

    @property
    def pids(self) -> Path:
        return self.state / "pids"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def airflow_home(self) -> Path:
        return self.state / "airflow"

    @property
    def demo_state(self) -> Path:
        return self.state / "demo"

    @property
    def secrets_file(self) -> Path:
        return self.state / "secrets.json"

    @property
    def passwords_file(self) -> Path:
        """The simple auth manager's passwords file: {"admin": "<password>"}."""
        return self.state / "passwords.json"

    @property
    def ports_file(self) -> Path:
        return self.state / "ports.json"

    @property
    def executor_file(self) -> Path:
        return self.state / "executor"

    @property
    def redis_dir(self) -> Path:
        return self.state / "redis"

    @property
    def dags(self) -> Path:
        return self.repo / "dags"

    @property
    def plugins(self) -> Path:
        return self.repo / "plugins"

    @property
    def specs(self) -> Path:
        return self.specs_dir or self.repo / "include" / "specs"

    @property
    def expectations(self) -> Path:
        return self.repo / "expectations"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def make_dirs(self) -> None:
        for folder in (self.state, self.pids, self.logs, self.airflow_home, self.demo_state):
            folder.mkdir(parents=True, exist_ok=True)


# Environment variable → Ports field. The e2e test runs a second stack next to `make demo`
# by overriding all of them.
PORT_VARS = {
    "VIGIL_API_PORT": "api",
    "VIGIL_PG_PORT": "pg",
    "VIGIL_ORDERS_PORT": "orders",
    "VIGIL_INVENTORY_PORT": "inventory",
    "VIGIL_WEBHOOK_PORT": "webhook",
    "VIGIL_WORKER_LOG_PORT": "worker_log",
    "VIGIL_TRIGGER_LOG_PORT": "trigger_log",
    "VIGIL_REDIS_PORT": "redis",
}


@dataclass(frozen=True)
class Ports:
    api: int = 8080
    pg: int = 54329
    orders: int = 18081
    inventory: int = 18082
    webhook: int = 18083  # the demo's alert webhook receiver
    # Airflow's log servers; they bind all interfaces whatever we do (STACK_NOTES).
    worker_log: int = 8793
    trigger_log: int = 8794
    redis: int = 16379  # the CeleryExecutor's broker (VIGIL_EXECUTOR=celery), loopback only

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Ports:
        environ = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for var, field_name in PORT_VARS.items():
            raw = environ.get(var)
            if raw is None or raw == "":
                continue
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise StackError(f"{var}={raw!r} is not a port number (1-65535)")
            values[field_name] = int(raw)
        return cls(**values)

    def save(self, paths: StackPaths) -> None:
        paths.ports_file.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def saved(cls, paths: StackPaths) -> Ports | None:
        """The ports the stack in `paths` was started with, if it was started."""
        if not paths.ports_file.exists():
            return None
        saved = json.loads(paths.ports_file.read_text())
        return cls(**{k: int(v) for k, v in saved.items() if k in cls.__dataclass_fields__})


# VIGIL_EXECUTOR → Airflow's executor. `local` runs tasks as forks of the scheduler;
# `celery` sends them through Redis to two `airflow celery worker` processes.
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
DEFAULT_EXECUTOR = "local"


def executor_from_env(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    wanted = (environ.get("VIGIL_EXECUTOR") or DEFAULT_EXECUTOR).strip().lower()
    if wanted not in EXECUTORS:
        raise StackError(
            f"VIGIL_EXECUTOR={environ.get('VIGIL_EXECUTOR')!r} is not one of {', '.join(EXECUTORS)}"
        )
    return wanted


def saved_executor(paths: StackPaths) -> str | None:
    """The executor the stack in `paths` was started with, if it was started."""
    if not paths.executor_file.exists():
        return None
    saved = paths.executor_file.read_text().strip()
    return saved if saved in EXECUTORS else None


def save_executor(paths: StackPaths, executor: str) -> None:
    paths.executor_file.write_text(executor + "\n")


@dataclass(frozen=True)
class Secrets:
    jwt_secret: str
    api_secret_key: str
    fernet_key: str


def load_secrets(paths: StackPaths) -> Secrets:
    """The stack's secrets, generated on first use and then kept, so restarts agree."""
    if paths.secrets_file.exists():
        return Secrets(**json.loads(paths.secrets_file.read_text()))
    created = Secrets(
        # Airflow warns on every component when the JWT secret is shorter than 64 bytes.
        jwt_secret=secrets.token_urlsafe(64),
        api_secret_key=secrets.token_urlsafe(32),
        fernet_key=base64.urlsafe_b64encode(os.urandom(32)).decode(),
    )
    _write_private(paths.secrets_file, json.dumps(asdict(created), indent=2) + "\n")
    return created


def admin_password(paths: StackPaths) -> str:
    """The UI login's password, generated once into the simple auth manager's file."""
    if paths.passwords_file.exists():
        passwords = json.loads(paths.passwords_file.read_text() or "{}")
        if passwords.get(ADMIN_USER):
            return str(passwords[ADMIN_USER])
    password = secrets.token_urlsafe(12)
    _write_private(paths.passwords_file, json.dumps({ADMIN_USER: password}) + "\n")
    return password


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
