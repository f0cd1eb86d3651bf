"""Bring the local stack up, run the demo validation, report, stop, clean.

What runs already (live PID, healthy) is reused, so `make demo` twice starts nothing new
and triggers one more daily run.
"""

from __future__ import annotations

import shutil
import socket
import sys
import time
from dataclasses import dataclass
from typing import TextIO

from demo.launcher import DemoSystem
from vigil import families
from vigil.stack import airflow, celery, procs
from vigil.stack.api import AirflowApi
from vigil.stack.demo_run import DAG_ID, ensure_dag, report, trigger_and_wait
from vigil.stack.postgres import LocalPostgres
from vigil.stack.progress import Progress
from vigil.stack.state import (
    ADMIN_USER,
    DEFAULT_EXECUTOR,
    PORT_VARS,
    Ports,
    StackError,
    StackPaths,
    admin_password,
    executor_from_env,
    save_executor,
    saved_executor,
)

WEBHOOK = "webhook"
STATE_MARKER = ".vigil-state"  # `clean` deletes only folders that carry it


@dataclass(frozen=True)
class Stack:
    paths: StackPaths
    ports: Ports
    executor: str = DEFAULT_EXECUTOR  # a key of state.EXECUTORS

    @property
    def up_stages(self) -> int:
        """Stages `up` reports: the Celery broker and workers are two more."""
        return 7 if self.executor == "celery" else 5

    @property
    def postgres(self) -> LocalPostgres:
        return LocalPostgres(self.paths.pg_data, self.ports.pg)

    def api(self) -> AirflowApi:
        return AirflowApi(airflow.api_url(self.ports), ADMIN_USER, admin_password(self.paths))

    def env(self) -> dict[str, str]:
        return airflow.process_env(self.paths, self.ports, self.executor)

    def demo_system(self) -> DemoSystem:
        return DemoSystem(
            airflow.pg_uri(self.ports, "demo"),
            self.paths.demo_state,
            orders_port=self.ports.orders,
            inventory_port=self.ports.inventory,
        )


def load(paths: StackPaths | None = None, *, starting: bool = False) -> Stack:
    """The stack in `paths` (default: VIGIL_STATE_DIR or .state).

    A stack that was started keeps its ports and its executor (saved with its state), so
    `down` and `status` need no variables. Starting with other ports or another executor
    while it runs is refused.
    """
    paths = paths or StackPaths.from_env()
    wanted = Ports.from_env()
    executor = executor_from_env()
    saved = Ports.saved(paths)
    # A stack started before the executor was saved ran the LocalExecutor.
    saved_exec = saved_executor(paths) or (DEFAULT_EXECUTOR if saved is not None else None)
    if not starting:
        return Stack(paths, saved or wanted, saved_exec or executor)
    current = Stack(paths, saved or wanted, saved_exec or executor)
    if saved is not None and saved != wanted and _anything_running(current):
        raise StackError(
            f"the stack in {paths.state} runs on other ports ({_describe(saved)}); "
            "stop it first with `make stop`"
        )
    if saved_exec is not None and saved_exec != executor and _anything_running(current):
        raise StackError(
            f"the stack in {paths.state} runs with VIGIL_EXECUTOR={saved_exec}; stop it "
            f"first with `make stop`, then start it again with VIGIL_EXECUTOR={executor}"
        )
    return Stack(paths, wanted, executor)


def _describe(ports: Ports) -> str:
    return ", ".join(f"{var}={getattr(ports, field)}" for var, field in PORT_VARS.items())


def up(stack: Stack, progress: Progress) -> None:
    paths, ports = stack.paths, stack.ports
    check_ports(stack)
    paths.make_dirs()
    (paths.state / STATE_MARKER).touch()
    ports.save(paths)
    save_executor(paths, stack.executor)
    admin_password(paths)
    with progress.stage("PostgreSQL", paths.log("postgres")) as stage:
        pg = stack.postgres
        stage.detail = "already running" if pg.running else f"started on port {ports.pg}"
        if not pg.running:
            _require_free(ports.pg, "VIGIL_PG_PORT")
        pg.start(log=paths.log("postgres"))
        for database in airflow.DATABASES:
            pg.create_database(database)
    with progress.stage("Demo system", paths.demo_state) as stage:
        stage.detail = _start_demo(stack)
    env = stack.env()
    if stack.executor == "celery":
        with progress.stage("Redis, the Celery broker", paths.log(celery.REDIS)) as stage:
            if celery.start_redis(paths, ports, env):
                _wait_listening(stack, celery.REDIS, ports.redis, timeout=30)
                stage.detail = f"started on port {ports.redis}"
            else:
                stage.detail = "already running"
    with progress.stage("Airflow metadata database", paths.log("airflow-db-migrate")) as stage:
        stage.detail = "migrated" if airflow.migrate(paths, env) else "up to date"
    with progress.stage("Airflow API server", paths.log("api-server")) as stage:
        if not procs.running(paths, "api-server"):
            _require_free(ports.api, "VIGIL_API_PORT")
        started, reused = airflow.start_services(paths, env, airflow.FIRST_SERVICES)
        airflow.wait_api(paths, ports)
        # Before the scheduler: a task in a pool that does not exist is never scheduled.
        for name, (slots, description) in families.pools().items():
            stack.api().ensure_pool(name, slots, description)
        stage.detail = _started_note(started, reused)
    with progress.stage("Airflow scheduler, all healthy", paths.log("scheduler")) as stage:
        started, reused = airflow.start_services(paths, env, ("scheduler",))
        airflow.wait_healthy(paths, ports)
        stage.detail = _started_note(started, reused)
    if stack.executor == "celery":
        with progress.stage("Celery workers", paths.log(celery.WORKERS[0])) as stage:
            started, reused = celery.start_workers(paths, env)
            stage.detail = _started_note(started, reused)


def demo(stack: Stack, out: TextIO | None = None) -> int:
    """`up`, then one run of demo_daily; prints its outcome. 0 when the run finished."""
    out = out or sys.stdout
    progress = Progress(stack.up_stages + 2, out)
    up(stack, progress)
    api = stack.api()
    with progress.stage(f"DAG {DAG_ID}", stack.paths.log("airflow-dags-reserialize")) as stage:
        stage.detail = ensure_dag(api, stack.paths, stack.env())
    with progress.stage(f"Run {DAG_ID}", stack.paths.log("scheduler")) as stage:
        outcome = trigger_and_wait(api)
        stage.detail = outcome.state
    out.write("\n" + report(api, stack.ports, outcome) + "\n\n")
    out.write(login_text(stack) + "\n")
    return 0


def login_text(stack: Stack) -> str:
    return (
        f"Airflow UI: {airflow.api_url(stack.ports)}  "
        f"(user {ADMIN_USER}, password {admin_password(stack.paths)})\n"
        f"Logs: {stack.paths.logs}/   Stop: make stop   Start over: make clean"
    )


def down(stack: Stack, out: TextIO | None = None) -> None:
    """Stop what the stack started, newest first; leaves the state folder in place."""
    out = out or sys.stdout
    names = list(dict.fromkeys([*airflow.SERVICES, *procs.recorded(stack.paths)]))
    # A scheduler waits for running tasks before it exits: do not wait long for that. The
    # API server has nothing to save, yet spends ~12 s exiting after uvicorn has finished.
    for name in procs.stop(stack.paths, names, timeout=20, timeouts={"api-server": 3}):
        out.write(f"stopped {name}\n")
    system = stack.demo_system()
    if system.running:
        system.stop()
        out.write("stopped demo system\n")
    else:
        system.stop()  # forgets PID files of processes that died on their own
    if stack.postgres.running:
        stack.postgres.stop()
        out.write("stopped PostgreSQL\n")
    elif (stack.paths.pg_data / "postmaster.pid").exists():
        stack.postgres.stop()


def status(stack: Stack, out: TextIO | None = None) -> int:
    """One line per component; 0 when everything runs."""
    out = out or sys.stdout
    lines = [("postgres", "running" if stack.postgres.running else "stopped")]
    lines.append(("demo", "running" if stack.demo_system().running else "stopped"))
    for name in (WEBHOOK, *airflow.SERVICES, *_celery_parts(stack)):
        managed = procs.running(stack.paths, name)
        lines.append((name, f"running (pid {managed.pid})" if managed else "stopped"))
    for name, state in lines:
        out.write(f"{name:<16} {state}\n")
    if procs.running(stack.paths, "api-server"):
        try:
            out.write(f"health           {airflow.health(stack.ports)}\n")
        except Exception as exc:  # status reports; it never fails on a half-started stack
            out.write(f"health           unknown ({type(exc).__name__})\n")
        out.write(login_text(stack) + "\n")
    return 0 if all(state != "stopped" for _, state in lines) else 3


def clean(stack: Stack, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    down(stack, out)
    state = stack.paths.state
    if not state.exists():
        return
    if not (state / STATE_MARKER).exists() and state != stack.paths.repo / ".state":
        raise StackError(f"{state} does not look like a Vigil state folder; not deleting it")
    shutil.rmtree(state)
    out.write(f"removed {state}\n")


def _start_demo(stack: Stack) -> str:
    """The demo system's processes outlive this launcher; DemoSystem reuses running ones."""
    ports = stack.ports
    system = stack.demo_system()
    reused = system.running
    if not reused:
        _require_free(ports.orders, "VIGIL_ORDERS_PORT")
        _require_free(ports.inventory, "VIGIL_INVENTORY_PORT")
    system.start()  # reuses it when settings match and /health answers; else restarts
    webhook_started = _start_webhook(stack)
    if reused and not webhook_started:
        return "already running"
    return f"orders :{ports.orders}, inventory :{ports.inventory}, webhook :{ports.webhook}"


def _start_webhook(stack: Stack) -> bool:
    """The receiver of the demo's alert webhook; digests land in demo/webhook.jsonl."""
    if procs.running(stack.paths, WEBHOOK):
        return False
    _require_free(stack.ports.webhook, "VIGIL_WEBHOOK_PORT")
    argv = [
        sys.executable, "-m", "demo.webhook_receiver", "--port", str(stack.ports.webhook),
        "--log", str(stack.paths.demo_state / "webhook.jsonl"),
    ]  # fmt: skip
    procs.start(stack.paths, WEBHOOK, argv, stack.env(), cwd=stack.paths.repo)
    _wait_listening(stack, WEBHOOK, stack.ports.webhook, timeout=30)
    return True


def _wait_listening(stack: Stack, name: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not procs.running(stack.paths, name):
            raise StackError(f"{name} exited while starting", stack.paths.log(name))
        if _accepts(port):
            return
        time.sleep(0.1)
    raise StackError(f"{name} not listening on {port} after {timeout:.0f} s", stack.paths.log(name))


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def check_ports(stack: Stack) -> None:
    """Before starting anything: every port a component not yet running needs is free."""
    paths, ports = stack.paths, stack.ports
    owners = {  # port variable → is the component that listens there already ours?
        "VIGIL_PG_PORT": stack.postgres.running,
        "VIGIL_ORDERS_PORT": stack.demo_system().running,
        "VIGIL_INVENTORY_PORT": stack.demo_system().running,
        "VIGIL_WEBHOOK_PORT": procs.running(paths, WEBHOOK) is not None,
        "VIGIL_API_PORT": procs.running(paths, "api-server") is not None,
        # The LocalExecutor's scheduler serves task logs; under Celery the first worker does.
        "VIGIL_WORKER_LOG_PORT": procs.running(paths, _log_server(stack)) is not None,
        "VIGIL_TRIGGER_LOG_PORT": procs.running(paths, "triggerer") is not None,
    }
    if stack.executor == "celery":
        owners["VIGIL_REDIS_PORT"] = procs.running(paths, celery.REDIS) is not None
    busy = [
        f"{getattr(ports, PORT_VARS[var])} ({var})"
        for var, ours in owners.items()
        if not ours and _accepts(getattr(ports, PORT_VARS[var]))
    ]
    if busy:
        raise StackError(
            f"port(s) in use by other programs: {', '.join(busy)}; free them or choose "
            "others with those variables (see README, Troubleshooting)"
        )


def _require_free(port: int, variable: str) -> None:
    if _accepts(port):
        raise StackError(
            f"port {port} is in use by another program; free it or choose another with {variable}"
        )


def _log_server(stack: Stack) -> str:
    return celery.WORKERS[0] if stack.executor == "celery" else "scheduler"


def _celery_parts(stack: Stack) -> tuple[str, ...]:
    """The broker and workers, when the stack runs them (or a PID file says it did)."""
    parts = (celery.REDIS, *celery.WORKERS)
    recorded = set(procs.recorded(stack.paths))
    return parts if stack.executor == "celery" or recorded & set(parts) else ()


def _anything_running(stack: Stack) -> bool:
    return (
        any(procs.running(stack.paths, n) for n in (*airflow.SERVICES, *_celery_parts(stack)))
        or stack.postgres.running
        or stack.demo_system().running
    )


def _started_note(started: list[str], reused: list[str]) -> str:
    if not started:
        return "already running"
    if not reused:
        return "started " + ", ".join(started)
    return f"started {', '.join(started)}; reused {', '.join(reused)}"
