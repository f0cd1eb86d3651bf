"""The CeleryExecutor on one machine (`VIGIL_EXECUTOR=celery make demo`).

Debian's `redis-server` is the broker (installed with apt-get when missing, as root);
the metadata database is the result backend; two `airflow celery worker` processes with
names of their own take the tasks. Each is one process group under the stack's PID
files, so `make stop` stops them with the rest.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from vigil.stack import procs
from vigil.stack.airflow import airflow_bin, worker_concurrency
from vigil.stack.debian import PackageUnavailable, ensure_package
from vigil.stack.state import Ports, StackError, StackPaths

REDIS = "redis"
REDIS_SERVER = Path("/usr/bin/redis-server")
WORKERS = ("celery-worker-1", "celery-worker-2")
READY_TIMEOUT_S = 180


def node_name(worker: str) -> str:
    """The Celery node name of `worker`: two workers on one host need different names, or
    Celery takes the second for a duplicate of the first."""
    return f"{worker}@%h"


def start_redis(paths: StackPaths, ports: Ports, env: Mapping[str, str]) -> bool:
    """Start the broker unless it runs. Returns whether it was started.

    It keeps nothing on disk: what is queued is also in the metadata database, and a task
    whose message is lost is queued again by the scheduler (`task_queued_timeout`).
    """
    if procs.running(paths, REDIS):
        return False
    try:
        binary = ensure_package(REDIS_SERVER, "redis-server")
    except PackageUnavailable as exc:
        raise StackError(f"the CeleryExecutor's broker: {exc}") from None
    paths.redis_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        str(binary), "--port", str(ports.redis), "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no", "--dir", str(paths.redis_dir),
    ]  # fmt: skip
    procs.start(paths, REDIS, argv, env, cwd=paths.redis_dir)
    return True


def worker_argv(worker: str, *, serve_logs: bool) -> list[str]:
    argv = [
        airflow_bin(), "celery", "worker", "--celery-hostname", node_name(worker),
        "--concurrency", str(worker_concurrency()),
    ]  # fmt: skip
    # Both workers write task logs into the one logs folder, which the API server reads;
    # one log server (on VIGIL_WORKER_LOG_PORT) is enough, and two would fight for it.
    return argv if serve_logs else [*argv, "--skip-serve-logs"]


def start_workers(paths: StackPaths, env: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Start each worker that is not running, and wait until it takes tasks.

    Returns (started, reused).
    """
    started, reused, offsets = [], [], {}
    for index, worker in enumerate(WORKERS):
        if procs.running(paths, worker):
            reused.append(worker)
            continue
        log = paths.log(worker)
        offsets[worker] = log.stat().st_size if log.exists() else 0
        argv = worker_argv(worker, serve_logs=index == 0)
        procs.start(paths, worker, argv, env, cwd=paths.airflow_home)
        started.append(worker)
    for worker, offset in offsets.items():
        wait_ready(paths, worker, offset)
    return started, reused


def wait_ready(paths: StackPaths, worker: str, offset: int = 0) -> None:
    """Until the worker's log says `<node> ready.` (Celery writes it once the worker has
    connected to the broker and started its pool)."""
    log = paths.log(worker)
    marker = f"{worker}@"  # then the host name, then " ready."
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if not procs.running(paths, worker):
            raise StackError(f"{worker} exited while starting", log)
        if log.exists():
            with open(log, "rb") as handle:
                handle.seek(offset)
                text = handle.read().decode(errors="replace")
            lines = text.splitlines()
            if any(marker in line and " ready." in line for line in lines):
                return
        time.sleep(0.5)
    raise StackError(f"{worker} not ready after {READY_TIMEOUT_S} s", log)
