"""Container health check: state, health status and restart count of one container,
read from the Docker Engine API with the `docker` SDK.

A container the engine does not know is `failed` (what should run is not there); an
engine that cannot be reached or answers with an error is `error` (we could not look).
"""

from __future__ import annotations

import os
from typing import Any

import docker
import docker.errors

from vigil.checks._common import Timer, build, error, guarded, target_of
from vigil.checks.models import ContainerCheck
from vigil.context import RunContext
from vigil.result import CheckResult, Status
from vigil.spec.models import ContainerTarget

CHECK_TYPE = "container"
HEALTH_LOG_CHARS = 300


def run(check: ContainerCheck, ctx: RunContext) -> list[CheckResult]:
    return guarded(check, ctx, CHECK_TYPE, _probe)


def _probe(check: ContainerCheck, ctx: RunContext, timer: Timer) -> CheckResult:
    target = target_of(check, ctx, ContainerTarget)
    url = ctx.resolve(target.docker_url)
    name = ctx.resolve(target.container)
    details: dict[str, Any] = {"docker_url": url, "container": name}
    socket_path = url.removeprefix("unix://") if url.startswith("unix://") else None
    if socket_path is not None and not os.path.exists(socket_path):
        return error(
            check,
            ctx,
            CHECK_TYPE,
            timer,
            f"Docker engine socket {socket_path} does not exist (is the engine "
            f"running, is the socket mounted?); cannot inspect {name}",
            details,
        )
    try:
        attrs = inspect(url, name, check.timeout_s)
    except docker.errors.NotFound:
        return build(
            check,
            ctx,
            CHECK_TYPE,
            timer,
            Status.FAILED,
            f"container {name} not found on the Docker engine at {url}",
            observed={"exists": False},
            expected=_expected(check),
            details=details,
        )
    except docker.errors.DockerException as exc:  # engine down, API error, bad URL
        return error(
            check,
            ctx,
            CHECK_TYPE,
            timer,
            f"Docker engine at {url} could not be queried for {name}: {exc}",
            details,
        )
    observed = observe(attrs)
    details["health_log"] = _last_health_log(attrs)
    problems = judge(check, observed, details["health_log"])
    if problems:
        status, message = Status.FAILED, f"container {name}: " + "; ".join(problems)
    else:
        status, message = Status.PASSED, f"container {name} is " + _summary(observed)
    return build(
        check,
        ctx,
        CHECK_TYPE,
        timer,
        status,
        message,
        observed=observed,
        expected=_expected(check),
        details=details,
    )


def inspect(url: str, name: str, timeout_s: float) -> dict[str, Any]:
    """The engine's inspect document of `name` (GET /containers/{name}/json)."""
    # docker documents (and types-docker types) an int timeout, but hands it to requests,
    # which takes seconds as a float: a 2.5 s check timeout stays 2.5 s.
    client = docker.DockerClient(base_url=url, timeout=timeout_s)  # type: ignore[arg-type]
    try:
        attrs: dict[str, Any] = client.containers.get(name).attrs
        return attrs
    finally:
        client.close()


def observe(attrs: dict[str, Any]) -> dict[str, Any]:
    state = attrs.get("State") or {}
    health = state.get("Health") or {}
    return {
        "state": state.get("Status", "unknown"),
        "health": health.get("Status"),  # None: the image defines no healthcheck
        "restart_count": int(attrs.get("RestartCount") or 0),
        "exit_code": state.get("ExitCode"),
        "oom_killed": bool(state.get("OOMKilled")),
        "started_at": state.get("StartedAt"),
        "image": (attrs.get("Config") or {}).get("Image"),
    }


def judge(
    check: ContainerCheck, observed: dict[str, Any], health_log: str | None = None
) -> list[str]:
    problems = []
    state = observed["state"]
    if state != check.expect_state:
        exit_note = f", exit code {observed['exit_code']}" if state == "exited" else ""
        oom_note = ", killed for lack of memory" if observed["oom_killed"] else ""
        problems.append(f"state is {state}{exit_note}{oom_note}, expected {check.expect_state}")
    # Without a healthcheck in the image there is no health to require; the state decides.
    health = observed["health"]
    if check.require_healthy and health is not None and health != "healthy":
        last = f" (last probe: {health_log.strip()[:120]})" if health_log else ""
        problems.append(f"health is {health}, expected healthy{last}")
    limit = check.max_restarts
    if limit is not None and observed["restart_count"] > limit:
        problems.append(f"restarted {observed['restart_count']} times, more than {limit}")
    return problems


def _summary(observed: dict[str, Any]) -> str:
    health = observed["health"] or "no healthcheck defined"
    return f"{observed['state']}, {health}, {observed['restart_count']} restarts"


def _last_health_log(attrs: dict[str, Any]) -> str | None:
    log = ((attrs.get("State") or {}).get("Health") or {}).get("Log") or []
    if not log or not isinstance(log[-1], dict):
        return None
    return str(log[-1].get("Output", ""))[:HEALTH_LOG_CHARS]


def _expected(check: ContainerCheck) -> dict[str, Any]:
    return {
        "state": check.expect_state,
        "health": "healthy" if check.require_healthy else "any",
        "max_restarts": check.max_restarts,
    }
