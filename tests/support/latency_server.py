"""A local HTTP/1.1 server with a KNOWN latency distribution, for load-probe tests and
benchmarks.

Every request is answered after `delay_s` plus a uniform jitter in [0, `jitter_s`); every
`error_every`-th request is answered 500 (at most `error_limit` of them); with `stall_s`,
the server stops answering `stall_at_s` after it started and, `stall_s` later, answers
everything it held back at once; with `slow_request`, that one request (the n-th received)
is answered after `slow_s`, the others as usual. `missing_paths` are answered 404, and from
the `missing_from`-th request on every path is (a deploy that lost its routes). It counts
the requests it received, the 500s it sent, and the 404s of paths that existed ("gone");
with `record_headers` it keeps the last request's headers.

It runs in its own process (asyncio + httptools, uvloop when there), so a load engine in
the test process measures the server, not a fight for one GIL:

    with LatencyServer(delay_s=0.02, jitter_s=0.01) as srv:
        ... load srv.url("/") ...
        srv.stats()  # {"requests": n, "errors": n, "gone": n}

As a process: `python -m tests.support.latency_server '{"delay_s": 0.05}'` prints
`PORT <n>`, then answers `stats` (and `headers`) lines on stdin with one JSON line, and
stops when stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import select
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import httptools

from tests.support.child_server import stop_child

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 20.0

_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"
_ERROR = (
    b"HTTP/1.1 500 Internal Server Error\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 6\r\n\r\nerror\n"
)
_NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nnot found\n"
)


@dataclass(frozen=True)
class LatencyConfig:
    delay_s: float = 0.0
    jitter_s: float = 0.0  # uniform in [0, jitter_s), added to delay_s
    error_every: int = 0  # every k-th request answers 500 (0: none)
    error_limit: int | None = None  # at most this many 500s (None: no limit)
    stall_at_s: float = 0.0  # seconds after start at which the stall begins
    stall_s: float = 0.0  # how long nothing is answered (0: no stall)
    slow_request: int = 0  # the n-th request received (1-based) is answered after slow_s
    slow_s: float = 0.0
    missing_paths: tuple[str, ...] = ()  # answered 404 (the query is ignored)
    missing_from: int = 0  # from the n-th request received on, every path answers 404
    record_headers: bool = False  # keep the last request's headers (`headers` command)


class _State:
    def __init__(self, config: LatencyConfig, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.loop = loop
        self.requests = 0  # received
        # Written to an open connection: "errors" 500s, "gone" 404s of paths that are not
        # in missing_paths (answered 404 because of missing_from).
        self.sent = {"errors": 0, "gone": 0}
        self.decided_errors = 0  # 500s decided (the limit counts these)
        self.missing = {path.encode() for path in config.missing_paths}
        self.last_headers: dict[str, str] = {}
        self.rng = random.Random(0x1A7E)
        self.begin()

    def begin(self) -> None:
        """The clock of `stall_at_s` starts now."""
        self.stall_from = self.loop.time() + self.config.stall_at_s
        self.stall_until = self.stall_from + self.config.stall_s

    def answer_at(self) -> float:
        """When the current request is answered: now + delay + jitter, or the stall's end
        when that moment falls inside the stall; the slow request after slow_s."""
        c = self.config
        if c.slow_request and self.requests == c.slow_request:
            return self.loop.time() + c.slow_s
        at = self.loop.time() + c.delay_s + (self.rng.random() * c.jitter_s if c.jitter_s else 0)
        if self.stall_from <= at < self.stall_until:
            at = self.stall_until
        return at

    def is_error(self) -> bool:
        c = self.config
        if not c.error_every or self.requests % c.error_every:
            return False
        return c.error_limit is None or self.decided_errors < c.error_limit

    def answer(self, path: bytes) -> tuple[bytes, str | None]:
        """The current request's answer, and the `sent` count it adds to."""
        if self.is_error():
            self.decided_errors += 1
            return _ERROR, "errors"
        if path in self.missing:
            return _NOT_FOUND, None
        if self.config.missing_from and self.requests >= self.config.missing_from:
            return _NOT_FOUND, "gone"
        return _OK, None


class _Connection(asyncio.Protocol):
    def __init__(self, state: _State) -> None:
        self.state = state
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        # Answers leave in request order even when a pipelining client's jitter differs.
        self.last_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    path = b""  # the request's path: only _Inspecting reads it (a cost per request)

    def on_message_complete(self) -> None:
        state = self.state
        state.requests += 1
        answer, count = state.answer(self.path)
        at = max(state.answer_at(), self.last_at)
        self.last_at = at
        if at <= state.loop.time():
            self._send(answer, count)
        else:
            state.loop.call_at(at, self._send, answer, count)

    def _send(self, answer: bytes, count: str | None) -> None:
        # A client that gave up (timeout) closed the connection: nothing is sent, nor counted.
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(answer)
            if count:
                self.state.sent[count] += 1


class _Inspecting(_Connection):
    """A connection that also reads the path and headers, for missing_paths and
    record_headers; the plain one does not, so benchmarks pay no parser callbacks for it."""

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers: dict[str, str] = {}

    def on_url(self, url: bytes) -> None:
        self.url += url  # may come in pieces

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1")] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.path = self.url.split(b"?", 1)[0]
        if self.state.config.record_headers:
            self.state.last_headers = self.headers


async def _serve(config: LatencyConfig) -> None:
    loop = asyncio.get_running_loop()
    state = _State(config, loop)
    kind = _Inspecting if config.missing_paths or config.record_headers else _Connection
    server = await loop.create_server(lambda: kind(state), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    state.begin()  # "after start" = from the moment the port is announced
    print(f"PORT {port}", flush=True)
    while line := await reader.readline():
        if line.strip() == b"stats":
            print(json.dumps({"requests": state.requests, **state.sent}), flush=True)
        elif line.strip() == b"headers":
            print(json.dumps(state.last_headers), flush=True)
    server.close()


def _main() -> None:
    settings = json.loads(sys.argv[1] if sys.argv[1:] else "{}")
    settings["missing_paths"] = tuple(settings.get("missing_paths", ()))  # JSON has lists
    config = LatencyConfig(**settings)
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(config))
    else:
        uvloop.run(_serve(config))


class LatencyServer:
    """The server in a child process; `stats()` asks it for its counts."""

    def __init__(self, **config: Any) -> None:
        self.config = LatencyConfig(**config)
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def start(self) -> LatencyServer:
        pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.latency_server", json.dumps(asdict(self.config))],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": pythonpath},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self._readline(START_TIMEOUT_S)
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"latency server did not start in {START_TIMEOUT_S}s: {line!r}")
        self.port = int(line.split()[1])
        return self

    def _readline(self, timeout_s: float) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout_s)
        return self._proc.stdout.readline() if ready else ""

    def stats(self) -> dict[str, int]:
        """{"requests": received, "errors": 500s answered, "gone": 404s answered for paths
        outside missing_paths}, asked of the running server."""
        counts: dict[str, int] = self._ask("stats")
        return counts

    def last_headers(self) -> dict[str, str]:
        """The headers of the last request received (with record_headers=True)."""
        headers: dict[str, str] = self._ask("headers")
        return headers

    def _ask(self, command: str) -> Any:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(f"{command}\n")
        self._proc.stdin.flush()
        line = self._readline(10.0)
        if not line:
            raise RuntimeError(f"latency server did not answer `{command}`")
        return json.loads(line)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        stop_child(proc)  # it ends when its stdin closes
        if proc.stdout:
            proc.stdout.close()

    def __enter__(self) -> LatencyServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


if __name__ == "__main__":
    _main()
