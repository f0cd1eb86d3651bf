"""Prometheus metrics of a demo service, served at GET /metrics (prometheus_client).

- `http_requests_total{service, method, route, status}`: every request answered,
  /metrics itself included (as Prometheus's own server counts its scrapes), so a
  counter that stops moving means a process that stopped answering;
- `http_request_duration_seconds{service, route}`: a latency histogram.

`route` is the matched route's pattern (`/v1/orders/{order_id}`), "unmatched" for a path
no route serves: a scanner walking random paths cannot blow up the series count. Each
app has a registry of its own, so several apps (tests) live in one process.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServiceMetrics:
    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by route and status",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["service", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )

    def observe(self, request: web.Request, status: int, seconds: float) -> None:
        route = _route_of(request)
        self.requests.labels(self.service, request.method, route, str(status)).inc()
        self.latency.labels(self.service, route).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


METRICS = web.AppKey("metrics", ServiceMetrics)


def _route_of(request: web.Request) -> str:
    info = request.match_info
    if isinstance(info, web.UrlMappingMatchInfo) and info.http_exception is None:
        canonical = info.route.resource.canonical if info.route.resource else None
        if canonical:
            return canonical
    return "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts and times every request; outermost, so it sees what the client got."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        request.app[METRICS].observe(request, status, time.perf_counter() - started)


async def serve_metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_metrics(app: web.Application, service: str) -> None:
    """Give `app` its metrics and the /metrics route (its middleware is added apart, first
    in the app's list)."""
    app[METRICS] = ServiceMetrics(service)
    app.router.add_get("/metrics", serve_metrics)
