"""orders-api's and the worker's HTTP client for inventory-api (reserve, release, ship)."""

from __future__ import annotations

from typing import Any

import aiohttp

from demo.config import HTTP_TIMEOUT_SECONDS


class InventoryUnavailable(Exception):
    """inventory-api could not answer (down, 5xx, timeout): try again later."""


class InventoryRejected(Exception):
    """inventory-api refused the request (4xx): retrying will not help."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("error") or f"inventory-api answered {status}")
        self.status, self.body = status, body


Items = dict[str, int]  # sku -> quantity


class InventoryClient:
    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session

    async def health(self) -> dict[str, Any]:
        """inventory-api as a dependency: {"status": "ok"} or why it is not."""
        try:
            async with self.session.get(
                self.base_url + "/health", timeout=aiohttp.ClientTimeout(total=2.0)
            ) as response:
                body = await response.json(content_type=None)
                status = body.get("status") if isinstance(body, dict) else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return {"status": "down", "error": str(exc) or type(exc).__name__}
        if response.status == 200 and status == "ok":
            return {"status": "ok"}
        return {
            "status": "down" if status == "down" else "degraded",
            "http_status": response.status,
            "reported_status": status,
        }

    async def reserve(self, token: str, order_id: int, items: Items) -> dict[str, Any]:
        return await self._post("/v1/reservations", token, order_id, items)

    async def release(self, token: str, order_id: int, items: Items) -> dict[str, Any]:
        return await self._post("/v1/reservations/release", token, order_id, items)

    async def fulfil(self, token: str, order_id: int, items: Items) -> dict[str, Any]:
        return await self._post("/v1/reservations/fulfil", token, order_id, items)

    async def _post(self, path: str, token: str, order_id: int, items: Items) -> dict[str, Any]:
        payload = {
            "order_id": order_id,
            "items": [{"sku": sku, "quantity": qty} for sku, qty in items.items()],
        }
        try:
            async with self.session.post(
                self.base_url + path,
                json=payload,
                headers={"Authorization": f"Bearer {token}"},
                timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_SECONDS),
            ) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            reason = str(exc) or type(exc).__name__
            raise InventoryUnavailable(f"inventory-api {path}: {reason}") from exc
        if response.status >= 500:
            raise InventoryUnavailable(f"inventory-api {path} answered {response.status}")
        if response.status >= 400:
            raise InventoryRejected(response.status, body if isinstance(body, dict) else {})
        return body if isinstance(body, dict) else {}
