"""A small aiohttp service on 127.0.0.1 with the demo system's /metrics (demo/metrics.py):
GET /ok answers 200, GET /fail 500; both are counted and timed as the demo services'
requests are. `traffic(path)` sends requests in the background while a test runs.

No database: the app carries the demo's metrics middleware and route only.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from aiohttp import web

from demo.metrics import METRICS, ServiceMetrics, add_metrics, metrics_middleware
from vigil.stack.postgres import free_port

START_TIMEOUT_S = 10.0


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _fail(request: web.Request) -> web.Response:
    return web.json_response({"error": "injected"}, status=500)


def build_app(service: str) -> web.Application:
    app = web.Application(middlewares=[metrics_middleware])
    add_metrics(app, service)
    app.router.add_get("/ok", _ok)
    app.router.add_get("/fail", _fail)
    return app


class MetricsApp:
    """`with MetricsApp() as app: app.base_url + "/metrics"`."""

    def __init__(self, service: str = "toy-api") -> None:
        self.service = service
        self.port = free_port()
        self.app = build_app(service)
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(self.app, access_log=None)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def metrics(self) -> ServiceMetrics:
        return self.app[METRICS]

    def start(self) -> MetricsApp:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(timeout=START_TIMEOUT_S)
        return self

    async def _start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def stop(self) -> None:
        future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        future.result(timeout=START_TIMEOUT_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=START_TIMEOUT_S)
        self._loop.close()

    def hit(self, path: str, times: int = 1) -> None:
        with requests.Session() as session:
            for _ in range(times):
                session.get(self.base_url + path, timeout=5)

    @contextmanager
    def traffic(self, path: str, every_s: float = 0.02) -> Iterator[None]:
        """Requests to `path` every `every_s` until the block ends."""
        stop = threading.Event()

        def send() -> None:
            with requests.Session() as session:
                while not stop.wait(every_s):
                    session.get(self.base_url + path, timeout=5)

        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=10)

    def __enter__(self) -> MetricsApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
