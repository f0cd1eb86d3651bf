"""What both services share: JSON errors, bearer auth, fault injection, health, admin,
metrics."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web

from demo import config, slow_index
from demo.db import DemoDbError
from demo.fault_state import (
    UPDATE_FAULT,
    ErrorGate,
    Fault,
    FaultCache,
    FaultError,
    missing_row,
    validate,
)
from demo.metrics import add_metrics, metrics_middleware

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

POOL = web.AppKey("pool", asyncpg.Pool)
FAULTS = web.AppKey("faults", FaultCache)
SERVICE = web.AppKey("service", str)
TENANT_IDS = web.AppKey("tenant_ids", dict)
ERROR_GATE = web.AppKey("error_gate", ErrorGate)
MAX_LIMIT = 200
# Per-request keys set by fault_middleware (faults_of, mark_applied).
_REQUEST_FAULTS = "demo_faults"
_APPLIED = "demo_faults_applied"


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


@dataclass(frozen=True)
class Tenant:
    id: int
    slug: str


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(data: Any) -> str:
    return json.dumps(data, default=_default)


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=dumps)


async def read_json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body


def paging(request: web.Request) -> tuple[int, int]:
    try:
        limit = int(request.query.get("limit", "50"))
        offset = int(request.query.get("offset", "0"))
    except ValueError as exc:
        raise ApiError(400, f"limit and offset must be integers: {exc}") from exc
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise ApiError(400, f"limit must be 1..{MAX_LIMIT} and offset >= 0")
    return limit, offset


def tenant_of(request: web.Request) -> Tenant:
    tenant: Tenant = request["tenant"]
    return tenant


# --- middlewares (outermost first) -------------------------------------------------------


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return json_response({"error": exc.message, **exc.extra}, status=exc.status)
    except web.HTTPException:
        raise
    except (OSError, TimeoutError, asyncpg.PostgresConnectionError) as exc:
        log.warning("%s %s: database unavailable: %s", request.method, request.path, exc)
        return json_response({"error": f"database unavailable: {exc}"}, status=503)
    except Exception as exc:
        log.exception("%s %s failed", request.method, request.path)
        return json_response({"error": f"internal error: {type(exc).__name__}: {exc}"}, 500)


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if path.startswith("/admin") or path == "/metrics":  # faults hit the API, not its metrics
        return await handler(request)
    faults = await request.app[FAULTS].get(request.app[POOL])
    # Handlers read the switches of this request here (faults_of) and add the ones they
    # act on (mark_applied), so X-Demo-Faults names every fault that shaped the answer.
    applied: list[str] = []
    request[_REQUEST_FAULTS], request[_APPLIED] = faults, applied
    if faults["latency"].enabled and (path.startswith("/v1") or path == "/health"):
        await asyncio.sleep((faults["latency"].value or 0) / 1000)
        applied.append("latency")
    # Everything but /admin answers 503; /health itself reports "down".
    inventory_down = request.app[SERVICE] == "inventory-api" and faults["inventory-down"].enabled
    if inventory_down and path != "/health":
        raise ApiError(503, "inventory-api is down (fault inventory-down)")
    errors = faults["errors"]
    gate = request.app[ERROR_GATE]
    if errors.enabled and path.startswith("/v1") and gate.should_fail(errors.value or 0):
        return json_response(
            {"error": "injected failure (fault errors)"},
            500,
            {"X-Demo-Faults": ",".join([*applied, "errors"])},
        )
    response = await handler(request)
    if applied and not response.prepared:
        response.headers["X-Demo-Faults"] = ",".join(applied)
    return response


def faults_of(request: web.Request) -> dict[str, Fault]:
    """The switches as fault_middleware read them for this request (a /v1 or /health one:
    /admin and /metrics requests have none)."""
    faults: dict[str, Fault] = request[_REQUEST_FAULTS]
    return faults


def mark_applied(request: web.Request, name: str) -> None:
    """Name `name` in this response's X-Demo-Faults header."""
    applied: list[str] = request[_APPLIED]
    applied.append(name)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/admin"):
        if not hmac.compare_digest(_bearer(request), config.admin_token()):
            raise ApiError(401, "admin endpoints need the admin bearer token")
    elif request.path.startswith("/v1"):
        request["tenant"] = await _tenant(request)
    return await handler(request)


def _bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    # Browsers cannot set headers on a WebSocket handshake, hence the query parameter.
    return request.query.get("access_token", "")


async def _tenant(request: web.Request) -> Tenant:
    slug = config.TENANT_TOKENS.get(_bearer(request))
    if slug is None:
        raise ApiError(401, "missing or unknown bearer token")
    ids: dict[str, int] = request.app[TENANT_IDS]
    if slug not in ids:
        found = await request.app[POOL].fetchval("SELECT id FROM tenants WHERE slug = $1", slug)
        if found is None:
            raise ApiError(401, f"tenant {slug!r} of this token does not exist")
        ids[slug] = found
    return Tenant(ids[slug], slug)


# --- health and admin ----------------------------------------------------------------------


async def check_database(pool: asyncpg.Pool) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await pool.fetchval("SELECT 1", timeout=2.0)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return {"status": "down", "error": str(exc) or type(exc).__name__}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


def health_response(
    service: str, dependencies: dict[str, dict[str, Any]], down: str | None = None
) -> web.Response:
    """200 when every dependency is ok, else 503 "degraded"; `down` forces 503 "down"."""
    healthy = all(dep.get("status") == "ok" for dep in dependencies.values())
    status = "down" if down else ("ok" if healthy else "degraded")
    body: dict[str, Any] = {
        "status": status,
        "service": service,
        "version": config.VERSION,
        "dependencies": dependencies,
    }
    if down:
        body["reason"] = down
    return json_response(body, status=200 if status == "ok" else 503)


async def get_faults(request: web.Request) -> web.Response:
    request.app[FAULTS].invalidate()
    faults = await request.app[FAULTS].get(request.app[POOL])
    listed = {name: fault.as_json() for name, fault in faults.items()}
    # Read here only, not by the fault cache: no service behaves differently for it.
    try:
        slow = await slow_index.is_on_async(request.app[POOL])
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        # Like the switches, the listing survives a database outage; null: unknown.
        log.warning("cannot read whether %s is on: %s", config.SLOW_INDEX, exc)
        listed[config.SLOW_INDEX] = {"enabled": None, "value": None}
    else:
        listed[config.SLOW_INDEX] = {"enabled": slow, "value": None}
    return json_response(listed)


async def post_faults(request: web.Request) -> web.Response:
    body = await read_json(request)
    name, enabled, value = body.get("name"), body.get("enabled"), body.get("value")
    if not isinstance(name, str) or not isinstance(enabled, bool):
        raise ApiError(422, 'expected {"name": str, "enabled": bool, "value": number|null}')
    if value is not None and not isinstance(value, int | float):
        raise ApiError(422, f"value must be a number or null, got {value!r}")
    try:
        validate(name, value)
    except FaultError as exc:
        raise ApiError(422, str(exc)) from exc
    if name == config.SLOW_INDEX:
        try:
            await slow_index.switch_async(request.app[POOL], enabled)
        except DemoDbError as exc:
            raise ApiError(503, str(exc)) from exc
    elif await request.app[POOL].fetchrow(UPDATE_FAULT, name, enabled, value) is None:
        raise ApiError(409, missing_row(name))
    return await get_faults(request)


def base_app(service: str, dsn: str) -> web.Application:
    """An app with the shared middlewares, a database pool, the admin routes and
    Prometheus metrics at /metrics (demo/metrics.py)."""
    app = web.Application(
        middlewares=[metrics_middleware, error_middleware, fault_middleware, auth_middleware]
    )
    app[SERVICE] = service
    add_metrics(app, service)
    app[FAULTS] = FaultCache()
    app[TENANT_IDS] = {}
    app[ERROR_GATE] = ErrorGate()

    async def pool_ctx(app: web.Application) -> AsyncIterator[None]:
        # min_size=0: the service starts (and reports the outage in /health) even while
        # the database is down.
        app[POOL] = await asyncpg.create_pool(dsn, min_size=0, max_size=5, command_timeout=5)
        yield
        await asyncio.wait_for(app[POOL].close(), timeout=5)

    app.cleanup_ctx.append(pool_ctx)
    app.router.add_get("/admin/faults", get_faults)
    app.router.add_post("/admin/faults", post_faults)
    return app
