"""TCP health check: a connection is accepted within the timeout."""

from __future__ import annotations

import socket
import time
from typing import Any

from vigil.checks._common import Timer, build, error, fmt_ms, guarded, target_of
from vigil.checks.models import TcpCheck
from vigil.context import ConfigError, RunContext
from vigil.result import CheckResult, Status
from vigil.spec.models import TcpTarget
from vigil.spec.validators import split_address

CHECK_TYPE = "tcp"


def run(check: TcpCheck, ctx: RunContext) -> list[CheckResult]:
    return guarded(check, ctx, CHECK_TYPE, _probe)


def _probe(check: TcpCheck, ctx: RunContext, timer: Timer) -> CheckResult:
    target = target_of(check, ctx, TcpTarget)
    host, port = parse_address(ctx.resolve(target.address))
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    details: dict[str, Any] = {"address": where}
    start = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=check.timeout_s):
            pass
    except OSError as exc:
        return error(check, ctx, CHECK_TYPE, timer, f"TCP {where}: {_reason(exc, check)}", details)
    connect_ms = round((time.perf_counter() - start) * 1000, 3)
    return build(
        check,
        ctx,
        CHECK_TYPE,
        timer,
        Status.PASSED,
        f"TCP {where} accepted a connection in {fmt_ms(connect_ms)}",
        observed={"connect_ms": connect_ms},
        expected={"connect": "accepted"},
        details=details,
    )


def parse_address(address: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` → (host, port); anything else is a ConfigError."""
    try:
        return split_address(address)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _reason(exc: OSError, check: TcpCheck) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listening?)"
    if isinstance(exc, TimeoutError):
        return f"no connection within {check.timeout_s:g}s (timed out)"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror or exc})"
    return f"cannot connect: {exc.strerror or exc}"
