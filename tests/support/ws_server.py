"""A real WebSocket server on 127.0.0.1 (the `websockets` library's, in a thread), with a
few feeds for the websocket health check to watch.

Paths: `/feed` says hello (`{"type": "hello", "listening": true}`, as the demo's order
feed does), then ticks every 50 ms; `/echo` answers each message with
`{"type": "echo", "message": <it>}`; `/silent` accepts and says nothing; `/close` closes at
once (1008, "tenant suspended"); `/text` sends the text `pong`. With a `token`, the
handshake needs it as `Authorization: Bearer <token>` or `?access_token=<token>` and is
refused with 401 otherwise.
"""

from __future__ import annotations

import json
import threading
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

TICK_S = 0.05
MAX_TICKS = 200  # every loop has a bound


class FeedServer:
    def __init__(self, token: str | None = None, *, hello: dict[str, Any] | None = None) -> None:
        self.token = token
        self.hello = hello or {"type": "hello", "tenant": "acme", "listening": True}
        self.handshakes: list[tuple[str, Headers]] = []  # path and headers of each request
        self.received: list[str] = []
        self._server: Server = serve(self._handle, "127.0.0.1", 0, process_request=self._authorize)
        self.port = int(self._server.socket.getsockname()[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "/feed", scheme: str = "ws") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def _authorize(self, connection: ServerConnection, request: Request) -> Response | None:
        self.handshakes.append((request.path, request.headers))
        if self.token is None:
            return None
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        query = parse_qs(urlsplit(request.path).query).get("access_token", [""])[0]
        if (scheme.lower() == "bearer" and given == self.token) or query == self.token:
            return None
        return connection.respond(401, "missing or unknown bearer token\n")

    def _handle(self, ws: ServerConnection) -> None:
        path = urlsplit(ws.request.path if ws.request else "/").path
        try:
            if path == "/feed":
                self._feed(ws)
            elif path == "/echo":
                for message in ws:
                    text = message if isinstance(message, str) else message.decode()
                    self.received.append(text)
                    ws.send(json.dumps({"type": "echo", "message": text}))
            elif path == "/close":
                ws.close(1008, "tenant suspended")
            elif path == "/text":
                ws.send("pong")
                ws.wait_closed()
            else:  # /silent and anything else: say nothing until the client leaves
                ws.wait_closed()
        except ConnectionClosed:
            return

    def _feed(self, ws: ServerConnection) -> None:
        ws.send(json.dumps(self.hello))
        for n in range(MAX_TICKS):
            try:
                ws.recv(timeout=TICK_S)  # the client's messages are read and ignored
            except TimeoutError:
                ws.send(json.dumps({"type": "tick", "n": n}))

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
