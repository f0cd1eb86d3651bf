"""A small Docker-Engine-API-compatible HTTP server on a unix socket, for tests.

No Docker engine runs on the machines these tests run on. This server answers the few
endpoints the `docker` SDK calls to inspect a container — `GET /_ping`, `GET /version`
(the SDK asks it for the API version when a client is created) and
`GET /v1.xx/containers/{id}/json` — with documents shaped like the engine's, and 404
`{"message": "No such container: ..."}` for a container it does not hold. It is real HTTP
over a real unix socket, so the SDK's own transport, parsing and error mapping run.
It does not emulate anything else of the engine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socketserver
import tempfile
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

API_VERSION = "1.45"
_INSPECT = re.compile(r"^/v[\d.]+/containers/(?P<id>[^/]+)/json$")
_VERSION = re.compile(r"^(/v[\d.]+)?/version$")
_PING = re.compile(r"^(/v[\d.]+)?/_ping$")


def container_attrs(
    name: str,
    *,
    status: str = "running",
    health: str | None = None,
    restart_count: int = 0,
    exit_code: int = 0,
    oom_killed: bool = False,
    health_output: str = "",
) -> dict[str, Any]:
    """An inspect document as the engine returns it (the fields the check reads, and a few
    more so it looks like the real thing)."""
    state: dict[str, Any] = {
        "Status": status,
        "Running": status == "running",
        "Paused": status == "paused",
        "Restarting": status == "restarting",
        "OOMKilled": oom_killed,
        "Dead": status == "dead",
        "Pid": 4242 if status == "running" else 0,
        "ExitCode": exit_code,
        "Error": "",
        "StartedAt": "2025-01-01T06:00:00.000000000Z",
        "FinishedAt": "0001-01-01T00:00:00Z",
    }
    if health is not None:
        state["Health"] = {
            "Status": health,
            "FailingStreak": 0 if health == "healthy" else 3,
            "Log": [
                {
                    "Start": "2025-01-01T06:00:30Z",
                    "End": "2025-01-01T06:00:31Z",
                    "ExitCode": 0 if health == "healthy" else 1,
                    "Output": health_output,
                }
            ],
        }
    return {
        "Id": (name.encode().hex() * 8)[:64],
        "Name": f"/{name}",
        "State": state,
        "RestartCount": restart_count,
        "Config": {"Image": f"demo/{name}:latest"},
        "Created": "2025-01-01T05:59:59.000000000Z",
    }


class FakeDockerEngine:
    """`with FakeDockerEngine() as engine: engine.add("orders", health="healthy")`."""

    def __init__(self) -> None:
        # Unix socket paths are limited to ~107 bytes: keep it short, not under tmp_path.
        self._dir = Path(tempfile.mkdtemp(prefix="vfd-"))
        self.socket_path = self._dir / "docker.sock"
        self.containers: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []
        self._server = _UnixHTTPServer(str(self.socket_path), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def add(self, name: str, **state: Any) -> dict[str, Any]:
        self.containers[name] = attrs = container_attrs(name, **state)
        return attrs

    def find(self, ident: str) -> dict[str, Any] | None:
        """By name, or by id prefix as the engine accepts."""
        if ident in self.containers:
            return self.containers[ident]
        for attrs in self.containers.values():
            if len(ident) >= 4 and attrs["Id"].startswith(ident):
                return attrs
        return None

    def start(self) -> FakeDockerEngine:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> FakeDockerEngine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _UnixHTTPServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    block_on_close = False

    def server_close(self) -> None:
        super().server_close()
        path = self.server_address  # a Unix socket's path; typeshed allows any buffer
        if isinstance(path, str | bytes) and os.path.exists(path):
            os.unlink(path)


def _handler_for(engine: FakeDockerEngine) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            engine.requests.append(path)
            if _PING.match(path):
                self._send(200, b"OK", "text/plain; charset=utf-8")
            elif _VERSION.match(path):
                self._json(
                    200,
                    {
                        "ApiVersion": API_VERSION,
                        "MinAPIVersion": "1.24",
                        "Version": "26.1.4",
                        "Os": "linux",
                        "Arch": "amd64",
                    },
                )
            elif match := _INSPECT.match(path):
                attrs = engine.find(match["id"])
                if attrs is None:
                    self._json(404, {"message": f"No such container: {match['id']}"})
                else:
                    self._json(200, attrs)
            else:
                self._json(404, {"message": "page not found"})

        def _json(self, status: int, doc: Any) -> None:
            self._send(status, json.dumps(doc).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Api-Version", API_VERSION)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def address_string(self) -> str:
            return "unix"  # a unix socket peer has no (host, port)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
