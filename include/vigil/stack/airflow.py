"""Airflow 3 on one machine: its environment, its metadata database, its four services.

`airflow_env` is the one place the local stack's Airflow settings and Vigil's connections
are spelled out; the launcher, the e2e test and DAG tests all use it. The settings that
do not depend on the machine (`SHARED_SETTINGS`, `CELERY_SETTINGS`) are the ones
docker-compose.yaml and the README's Helm values repeat: tests/unit/test_compose.py
holds both to these dicts.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import requests

from vigil.stack import procs
from vigil.stack.state import (
    ADMIN_USER,
    DEFAULT_EXECUTOR,
    EXECUTORS,
    Ports,
    StackError,
    StackPaths,
    load_secrets,
)

# Each is one process group with its own log. The scheduler starts only once the API
# server answers: task processes report to the API server, and tasks started before it is
# up fail their first attempts (the API server takes ~25 s to start on 2 busy cores).
FIRST_SERVICES = ("api-server", "dag-processor", "triggerer")
SERVICES = (*FIRST_SERVICES, "scheduler")
DATABASES = ("airflow", "vigil_results", "demo")
HEALTHY = "healthy"
SIMPLE_AUTH_MANAGER = (
    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
)


# Every deployment of Vigil sets these, whatever its executor and wherever it runs.
SHARED_SETTINGS = {
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
    # Default 300 s: a new DAG file would stay unknown for minutes.
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
    # Default 300 s. A task whose worker died (killed, OOM, machine lost) stops sending
    # heartbeats every 5 s; after this it is failed and retried, on another worker.
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
    # The store the Vigil pages in the Airflow UI read (the plugin in plugins/).
    "VIGIL_UI_RESULTS_CONN_ID": "vigil_results",
    # What the vigil_maintenance DAG keeps: raw results 90 days, daily rollups two years.
    "VIGIL_RETENTION_RAW_DAYS": "90",
    "VIGIL_RETENTION_ROLLUP_DAYS": "730",
}
# The CeleryExecutor's own settings. Its broker (Redis) and result backend (the metadata
# database, `db+postgresql://`) are addresses, set per deployment.
CELERY_SETTINGS = {
    "AIRFLOW__CORE__EXECUTOR": EXECUTORS["celery"],
    # Default 600 s. A message a dead worker had taken but not started is requeued after
    # this (Redis gives it back only after its 24 h visibility timeout).
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "180",
}


def parallelism() -> int:
    """Task slots: each LocalExecutor worker is a ~136 MB fork, so stay small (STACK_NOTES)."""
    return min(4, 2 * (os.cpu_count() or 1))


def pg_uri(ports: Ports, database: str, scheme: str = "postgresql") -> str:
    """The local cluster trusts loopback connections: no password (see LocalPostgres)."""
    return f"{scheme}://postgres@127.0.0.1:{ports.pg}/{database}"


def api_url(ports: Ports) -> str:
    return f"http://127.0.0.1:{ports.api}"


def worker_concurrency() -> int:
    """Task slots per Celery worker: two workers share the LocalExecutor's `parallelism()`."""
    return max(1, parallelism() // 2)


def airflow_env(
    paths: StackPaths, ports: Ports | None = None, executor: str = DEFAULT_EXECUTOR
) -> dict[str, str]:
    """The variables the local stack sets for Airflow and Vigil (merge onto os.environ).

    `executor` is a key of `EXECUTORS`. Generates the stack's secrets into `paths.state`
    on first use.
    """
    ports = ports or Ports.from_env()
    secrets = load_secrets(paths)
    env = {
        **SHARED_SETTINGS,
        "AIRFLOW_HOME": str(paths.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(paths.dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(paths.plugins),
        "AIRFLOW__CORE__EXECUTOR": EXECUTORS[executor],
        "AIRFLOW__CORE__PARALLELISM": str(parallelism()),
        "AIRFLOW__CORE__FERNET_KEY": secrets.fernet_key,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(paths.passwords_file),
        # Task processes report to the API server; its default URL assumes port 8080.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url(ports)}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg_uri(ports, "airflow", "postgresql+psycopg2"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(ports.api),
        # Shared by every component, or log fetching and tokens break between them.
        "AIRFLOW__API__SECRET_KEY": secrets.api_secret_key,
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.jwt_secret,
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports.worker_log),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(ports.trigger_log),
        # Vigil's own settings: connections, the demo system's addresses and tokens.
        "AIRFLOW_CONN_VIGIL_RESULTS": pg_uri(ports, "vigil_results"),
        "AIRFLOW_CONN_VIGIL_DEMO_DB": pg_uri(ports, "demo"),
        "DEMO_DATABASE_URL": pg_uri(ports, "demo"),
        "DEMO_DB_ADDR": f"127.0.0.1:{ports.pg}",
        "DEMO_ORDERS_URL": f"http://127.0.0.1:{ports.orders}",
        "DEMO_INVENTORY_URL": f"http://127.0.0.1:{ports.inventory}",
        "DEMO_WEBHOOK_URL": webhook_url(ports),
        "VIGIL_AIRFLOW_URL": api_url(ports),  # links in reports and alerts
        "VIGIL_SPECS_DIR": str(paths.specs),
        "VIGIL_EXPECTATIONS_DIR": str(paths.expectations),
        "VIGIL_STATE_DIR": str(paths.state),
        "NO_PROXY": _no_proxy(),
        "no_proxy": _no_proxy(),
    }
    env.update(demo_tokens())
    if executor == "celery":
        env.update(CELERY_SETTINGS)
        env["AIRFLOW__CELERY__BROKER_URL"] = f"redis://127.0.0.1:{ports.redis}/0"
        env["AIRFLOW__CELERY__RESULT_BACKEND"] = pg_uri(ports, "airflow", "db+postgresql")
        env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = str(worker_concurrency())
    if sys.platform == "darwin":
        # LocalExecutor forks; macOS aborts forked children that touch Objective-C.
        env["OBJC_DISABLE_INITIALIZE_FORK_SAFETY"] = "YES"
    return env


def webhook_url(ports: Ports) -> str:
    from demo import webhook_receiver

    return f"http://127.0.0.1:{ports.webhook}{webhook_receiver.PATH}"


def demo_tokens() -> dict[str, str]:
    """The demo's tokens and webhook secret: fixed demo material from the demo package."""
    from demo import config, webhook_receiver  # part of this repo; imported late on purpose

    return {
        "DEMO_TOKEN_ACME": config.ACME_TOKEN,
        "DEMO_TOKEN_GLOBEX": config.GLOBEX_TOKEN,
        "DEMO_ADMIN_TOKEN": config.admin_token(),
        "DEMO_WEBHOOK_SECRET": webhook_receiver.DEFAULT_SECRET,
    }


def process_env(
    paths: StackPaths, ports: Ports, executor: str = DEFAULT_EXECUTOR
) -> dict[str, str]:
    """The full environment of an Airflow process: ours over the caller's."""
    return {**os.environ, **airflow_env(paths, ports, executor)}


def airflow_bin() -> str:
    """The `airflow` script of the environment running this code."""
    candidate = Path(sys.executable).parent / "airflow"
    if not candidate.exists():
        raise StackError(f"no airflow command next to {sys.executable}; run `make demo`")
    return str(candidate)


def migrate(paths: StackPaths, env: Mapping[str, str], timeout: float = 300) -> bool:
    """`airflow db migrate`, once per state folder and Airflow version. Returns if it ran."""
    # The distribution's metadata, not `import airflow`, which costs ~2 s of settings setup.
    version = importlib.metadata.version("apache-airflow")
    stamp = paths.airflow_home / f".migrated-{version}"
    if stamp.exists():
        return False
    run_cli(paths, "airflow-db-migrate", ["db", "migrate"], env, timeout)
    stamp.touch()
    return True


def run_cli(
    paths: StackPaths, name: str, args: list[str], env: Mapping[str, str], timeout: float
) -> None:
    """One Airflow CLI command to completion, output appended to logs/<name>.log."""
    log = paths.log(name)
    with open(log, "ab") as out:
        try:
            result = subprocess.run(
                [airflow_bin(), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env),
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"`airflow {' '.join(args)}` took over {timeout:.0f} s", log) from exc
    if result.returncode != 0:
        raise StackError(f"`airflow {' '.join(args)}` exited with {result.returncode}", log)


def start_services(
    paths: StackPaths, env: Mapping[str, str], services: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Start each of `services` that is not already running. Returns (started, reused)."""
    started, reused = [], []
    for service in services:
        if procs.running(paths, service):
            reused.append(service)
            continue
        procs.start(paths, service, [airflow_bin(), service], env, cwd=paths.airflow_home)
        started.append(service)
    return started, reused


def health(ports: Ports, timeout: float = 5.0) -> dict[str, str]:
    """Component → status from /api/v2/monitor/health (needs no token)."""
    response = requests.get(f"{api_url(ports)}/api/v2/monitor/health", timeout=timeout)
    response.raise_for_status()
    return {name: str((part or {}).get("status")) for name, part in response.json().items()}


def wait_api(paths: StackPaths, ports: Ports, timeout: float = 180) -> None:
    """Until the API server answers its health endpoint, whatever the components' state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not procs.running(paths, "api-server"):
            raise StackError("airflow api-server exited", paths.log("api-server"))
        try:
            health(ports, timeout=2)
            return
        except (requests.RequestException, ValueError):
            time.sleep(0.5)
    raise StackError(f"Airflow API not answering after {timeout:.0f} s", paths.log("api-server"))


def wait_healthy(paths: StackPaths, ports: Ports, timeout: float = 180) -> None:
    """Until every component reports healthy; fail early when a service process died."""
    deadline = time.monotonic() + timeout
    last: dict[str, str] | str = "no answer yet"
    while time.monotonic() < deadline:
        for service in SERVICES:
            if not procs.running(paths, service):
                raise StackError(f"airflow {service} exited", paths.log(service))
        try:
            # Short timeout: the port accepts connections long before the app answers.
            last = health(ports, timeout=2)
            if all(status == HEALTHY for status in last.values()):
                return
        except (requests.RequestException, ValueError) as exc:
            last = f"{type(exc).__name__}"
        time.sleep(0.5)
    raise StackError(
        f"Airflow not healthy after {timeout:.0f} s (last: {last})", paths.log("api-server")
    )


def _no_proxy() -> str:
    existing = os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or ""
    hosts = [h for h in existing.split(",") if h]
    for host in ("127.0.0.1", "localhost"):
        if host not in hosts:
            hosts.append(host)
    return ",".join(hosts)
