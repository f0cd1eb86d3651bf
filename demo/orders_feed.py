"""GET /v1/orders/feed: a tenant's order status changes over a WebSocket.

One LISTEN connection per orders-api process receives the `order_status` notifications
the orders trigger sends at commit, and fans them out to the tenant's subscribers. Every
queue is bounded (a slow client loses the oldest events, it cannot grow memory) and every
connection has a maximum lifetime.

While the feed-drop fault is on, every event whose status is `paid` is dropped on its way
to the client, silently: no gap marker, the other events still flow. Deterministic rather
than a share, so "the feed delivers every transition" fails every time and nothing else
does. The switch is read per event (through the fault cache), so it also takes effect on
connections opened before it was flipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import WSMsgType, web

from demo import config
from demo.web import FAULTS, POOL, dumps, tenant_of

log = logging.getLogger(__name__)
CHANNEL = "order_status"
QUEUE_SIZE = 100
MAX_CONNECTION_SECONDS = 3600.0
RECONNECT_SECONDS = 1.0
DROPPED_STATUS = "paid"  # what the feed-drop fault drops


class FeedHub:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.listening = asyncio.Event()
        self._subscribers: dict[int, set[asyncio.Queue[dict[str, Any]]]] = {}

    def subscribe(self, tenant_id: int) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._subscribers.setdefault(tenant_id, set()).add(queue)
        return queue

    def unsubscribe(self, tenant_id: int, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.get(tenant_id, set()).discard(queue)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        text = str(payload)  # asyncpg hands over the NOTIFY payload as a str
        try:
            event = json.loads(text)
        except json.JSONDecodeError:
            log.warning("ignoring malformed notification: %r", text[:200])
            return
        for queue in self._subscribers.get(event.get("tenant_id"), ()):
            if queue.full():
                queue.get_nowait()  # drop the oldest rather than block the listener
            queue.put_nowait({"type": "order_status", **event})

    async def run(self) -> None:
        """Keep one LISTEN connection open, reconnecting after failures, until cancelled."""
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.dsn, timeout=5)
                await conn.add_listener(CHANNEL, self._on_notify)
                self.listening.set()
                while not conn.is_closed():
                    await asyncio.sleep(RECONNECT_SECONDS)
            except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
                log.warning("feed listener lost the database: %s", exc)
            finally:
                self.listening.clear()
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), timeout=2)
            await asyncio.sleep(RECONNECT_SECONDS)


HUB = web.AppKey("feed_hub", FeedHub)


def hub_context(dsn: str) -> Any:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[HUB] = hub = FeedHub(dsn)
        task = asyncio.create_task(hub.run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx


async def feed(request: web.Request) -> web.WebSocketResponse:
    tenant = tenant_of(request)
    hub = request.app[HUB]
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    queue = hub.subscribe(tenant.id)
    try:
        # Subscribed before "hello": a client that got hello misses no later change.
        await ws.send_str(
            dumps({"type": "hello", "tenant": tenant.slug, "listening": hub.listening.is_set()})
        )
        await _pump(ws, queue, _feed_drop(request.app))
    finally:
        hub.unsubscribe(tenant.id, queue)
        await ws.close()
    return ws


Drop = Callable[[dict[str, Any]], Awaitable[bool]]


def _feed_drop(app: web.Application) -> Drop:
    """Whether the feed-drop fault swallows an event, as the switch is now."""

    async def drop(event: dict[str, Any]) -> bool:
        if event.get("status") != DROPPED_STATUS:
            return False  # the common case needs no look at the switches
        faults = await app[FAULTS].get(app[POOL])
        return faults[config.FEED_DROP].enabled

    return drop


async def _pump(
    ws: web.WebSocketResponse, queue: asyncio.Queue[dict[str, Any]], drop: Drop
) -> None:
    """Forward events until the client leaves or the connection reaches its lifetime."""
    reader = asyncio.create_task(_drain(ws))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + MAX_CONNECTION_SECONDS
    try:
        while not ws.closed and not reader.done() and loop.time() < deadline:
            try:
                event = await asyncio.wait_for(queue.get(), timeout=1.0)
            except TimeoutError:
                continue
            if await drop(event):
                continue
            await ws.send_str(dumps(event))
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) client messages so close frames and pings are handled."""
    async for msg in ws:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            return
