"""The journeys' HTTP/1.1 transport: `vigil.http_client`'s Request in, its Response out.

Why not `http_client.send` (requests) for every step: a `parallel` step of 1,000 POSTs at
concurrency 50 is benchmarked against a minimal asyncio client, and requests spends about
a millisecond of CPU per request on this kind of machine (measured: 8-9x the asyncio
client's wall time), where a keep-alive socket with httptools' parser spends a tenth of
that (measured: about the asyncio client's time). The contract is http_client's: one
request, redirects not followed, the whole answer within `timeout_s`, at most
MAX_BODY_BYTES of body, and what has no usable answer raises one of SEND_ERRORS (the same
requests exception classes), so `describe_error` says why.

Connections are kept per thread and per origin (as http_client's sessions are) and checked
before reuse; a request that a reused connection dropped before any answer byte is sent
again once on a new connection if it does not write. Through a proxy (the `*_PROXY`
variables, read once per origin by http_client's per-thread client) or to a URL with
user info, the request goes through requests instead: those are what requests does that
this does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import socket
import ssl
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import SplitResult, urlsplit

import httptools
import requests
from requests.utils import requote_uri
from urllib3.util.wait import wait_for_read

from vigil import http_client
from vigil.http_client import MAX_BODY_BYTES, BodyTimeout, Request, Response

USER_AGENT = "vigil-scenario"
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Characters a request target may carry as they are; anything else is percent-encoded
# (as requests does with `requote_uri`).
_PLAIN_TARGET = re.compile(r"^[A-Za-z0-9\-._~/?&=%:@!$'()*+,;]*$")
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
# Sent unless the request sets its own (Host too, from the URL).
_DEFAULT_LINES = (
    ("user-agent", f"User-Agent: {USER_AGENT}\r\n"),
    ("accept", "Accept: */*\r\n"),
    ("accept-encoding", "Accept-Encoding: identity\r\n"),
)
_RECV = 256 * 1024

_local = threading.local()
_tls_lock = threading.Lock()
_tls_contexts: dict[bool | str, ssl.SSLContext] = {}


class _Dropped(Exception):
    """The connection closed before any byte of the answer: a kept-alive connection the
    server had already closed (sent again once, when that is harmless)."""


@dataclass
class _Origin:
    scheme: str
    host: str
    port: int
    host_header: str

    @property
    def key(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


@dataclass
class _Answer:
    """httptools' callbacks: the response as it is parsed."""

    head: bool  # a HEAD request: no body follows, whatever Content-Length says
    parser: Any = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    truncated: bool = False
    started: bool = False  # any byte of the answer arrived
    complete: bool = False
    keep_alive: bool = True
    # The final answer's body has neither a Content-Length nor chunks: it ends where the
    # connection does (RFC 9112 6.3), so the end of the connection completes it.
    until_close: bool = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:
            return  # an interim answer (100, 103 Early Hints): the final one follows
        # Read now: the parser forgets a "Connection: close" once the message is complete.
        self.keep_alive = bool(self.parser.should_keep_alive())
        if self.head:
            self.complete = True
            return
        length = any(name.lower() == b"content-length" for name, _ in self.headers)
        codings = b",".join(v for n, v in self.headers if n.lower() == b"transfer-encoding")
        chunked = codings.strip().lower().endswith(b"chunked")
        self.until_close = status not in (204, 304) and not length and not chunked

    def on_body(self, body: bytes) -> None:
        if self.size >= MAX_BODY_BYTES:
            self.truncated = True
            return
        self.chunks.append(body)
        self.size += len(body)

    def on_message_complete(self) -> None:
        if self.parser.get_status_code() < 200:
            # The parser goes on to the final answer, in these bytes or the next ones:
            # nothing of the interim one is kept.
            self.headers.clear()
            return
        self.complete = True


def send(request: Request, timeout_s: float) -> Response:
    """Send `request` once, as `vigil.http_client.send` does; raises one of SEND_ERRORS
    when there is no usable answer."""
    parts, origin, verify, through = _route(request)
    if through is not None:
        return http_client.send(request, timeout_s, through)
    payload = _encode(request, parts, origin)
    deadline = time.perf_counter() + timeout_s
    for attempt in (1, 2):
        conn, reused = _connection(origin, verify, deadline, timeout_s)
        try:
            return _exchange(conn, origin, payload, request.method == "HEAD", deadline, timeout_s)
        except _Dropped as exc:
            _discard(origin, verify)
            if not reused or attempt == 2 or request.method not in _IDEMPOTENT:
                raise requests.exceptions.ConnectionError(
                    "Connection closed by the server before any answer"
                ) from exc
        except BaseException:
            _discard(origin, verify)
            raise
    raise AssertionError("unreachable")  # pragma: no cover: the loop returns or raises


def close_thread_connections() -> None:
    """Close this thread's kept-alive connections (a worker about to end, a journey done)."""
    conns: dict[tuple[str, bool | str], socket.socket] = getattr(_local, "conns", {})
    for sock in conns.values():
        _close(sock)
    conns.clear()


def _route(
    request: Request,
) -> tuple[SplitResult, _Origin, bool | str, http_client.Client | None]:
    """Where `request` goes: its URL's parts, its origin, how TLS is verified, and the
    requests client it goes through instead (a proxy, or user info in the URL: what
    requests does and this does not), None when it goes directly."""
    parts = urlsplit(request.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise requests.exceptions.InvalidURL(f"not an absolute http(s) URL: {request.url}")
    origin = _origin(parts)
    client = http_client.client_for(f"scenario:{origin.key}")
    proxies, verify = client.settings(request.url, request.verify)
    if proxies or parts.username is not None or parts.password is not None:
        return parts, origin, verify, client
    return parts, origin, verify, None


def _origin(parts: SplitResult) -> _Origin:
    return _origin_of(parts.scheme, parts.netloc)


@functools.lru_cache(maxsize=256)
def _origin_of(scheme: str, netloc: str) -> _Origin:
    """Where a URL's requests go (cached: every copy of a parallel step asks)."""
    parts = urlsplit(f"{scheme}://{netloc}")
    tls = scheme == "https"
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if tls else 80)
    except ValueError as exc:
        raise requests.exceptions.InvalidURL(f"invalid port: {exc}") from None
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == (443 if tls else 80) else f"{shown}:{port}"
    return _Origin(scheme, host, port, host_header)


def _encode(request: Request, parts: SplitResult, origin: _Origin) -> bytes:
    """The request's bytes: request line, headers (ours where the caller set none), body."""
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not _PLAIN_TARGET.match(target):
        target = requote_uri(target)
    body = _body(request)
    given = {name.lower(): (name, value) for name, value in request.headers.items()}
    head = [f"{request.method} {target} HTTP/1.1\r\n"]
    if "host" not in given:
        head.append(f"Host: {origin.host_header}\r\n")
    head += [line for name, line in _DEFAULT_LINES if name not in given]
    if request.json is not None and "content-type" not in given:
        head.append("Content-Type: application/json\r\n")
    given.pop("content-length", None)  # ours is the body's true length
    for name, value in given.values():
        if not _TOKEN.match(name):
            raise requests.exceptions.InvalidHeader(f"invalid header name {name!r}")
        if "\r" in value or "\n" in value:
            raise requests.exceptions.InvalidHeader(f"header {name!r} holds a line break")
        head.append(f"{name}: {value}\r\n")
    if body or request.method not in _IDEMPOTENT:
        head.append(f"Content-Length: {len(body)}\r\n")
    head.append("\r\n")
    try:
        return "".join(head).encode("latin-1") + body
    except UnicodeEncodeError as exc:
        raise requests.exceptions.InvalidHeader(
            f"a header holds a character HTTP headers cannot carry: {exc.reason}"
        ) from None


def _body(request: Request) -> bytes:
    if request.data is not None:
        return request.data
    if request.json is not None:
        return _json_bytes(request.json)
    return b""


def _json_bytes(value: Any) -> bytes:
    """A JSON body as requests encodes it (no NaN: it is not JSON)."""
    try:
        return json.dumps(value, allow_nan=False).encode()
    except ValueError as exc:
        raise requests.exceptions.InvalidJSONError(f"the body is not valid JSON: {exc}") from None


def _connection(
    origin: _Origin, verify: bool | str, deadline: float, timeout_s: float
) -> tuple[socket.socket, bool]:
    """This thread's open connection to `origin` (reused: True), or a new one."""
    conns: dict[tuple[str, bool | str], socket.socket] | None = getattr(_local, "conns", None)
    if conns is None:
        conns = _local.conns = {}
    key = (origin.key, verify)
    sock = conns.pop(key, None)
    if sock is not None:
        # Readable while idle: the server closed it (or sent what nobody asked for).
        if not wait_for_read(sock, timeout=0):
            conns[key] = sock
            return sock, True
        _close(sock)
    sock = _connect(origin, verify, deadline, timeout_s)
    conns[key] = sock
    return sock, False


def _connect(
    origin: _Origin, verify: bool | str, deadline: float, timeout_s: float
) -> socket.socket:
    left = max(0.001, deadline - time.perf_counter())
    try:
        sock = socket.create_connection((origin.host, origin.port), timeout=left)
    except TimeoutError:
        raise requests.exceptions.ConnectTimeout(
            f"connection to {origin.key} not established within {timeout_s:g}s"
        ) from None
    except OSError as exc:
        raise requests.exceptions.ConnectionError(f"{origin.key}: {exc}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one small write a request
    if origin.scheme != "https":
        return sock
    try:
        sock.settimeout(max(0.001, deadline - time.perf_counter()))
        return _tls(verify).wrap_socket(sock, server_hostname=origin.host)
    except ssl.SSLError as exc:
        _close(sock)
        raise requests.exceptions.SSLError(str(exc)) from None
    except TimeoutError:
        _close(sock)
        raise requests.exceptions.ConnectTimeout(
            f"TLS handshake with {origin.key} not done within {timeout_s:g}s"
        ) from None
    except OSError as exc:
        _close(sock)
        raise requests.exceptions.ConnectionError(f"{origin.key}: {exc}") from None


def _tls(verify: bool | str) -> ssl.SSLContext:
    with _tls_lock:
        context = _tls_contexts.get(verify)
        if context is None:
            context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
            if verify is False:
                # The order matters: CERT_NONE is refused while check_hostname is on.
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            _tls_contexts[verify] = context
        return context


def _exchange(
    sock: socket.socket,
    origin: _Origin,
    payload: bytes,
    head: bool,
    deadline: float,
    timeout_s: float,
) -> Response:
    start = time.perf_counter()
    answer = _Answer(head)
    try:
        sock.settimeout(max(0.001, deadline - start))
        sock.sendall(payload)
        answer = _read(sock, answer, deadline)
    except TimeoutError:
        if answer.size:
            raise BodyTimeout(f"body incomplete after {answer.size} bytes") from None
        raise requests.exceptions.ReadTimeout(
            f"{origin.key}: Read timed out. (read timeout={timeout_s:g})"
        ) from None
    except ConnectionResetError as exc:
        if not answer.started:
            raise _Dropped from exc
        raise requests.exceptions.ConnectionError(f"{origin.key}: {exc}") from None
    except httptools.HttpParserError as exc:
        raise requests.exceptions.ConnectionError(f"invalid HTTP response: {exc}") from None
    except requests.RequestException:
        raise  # already says what happened (an OSError too: not wrapped again)
    except (ssl.SSLError, OSError) as exc:
        raise requests.exceptions.ConnectionError(f"{origin.key}: {exc}") from None
    if answer.truncated or not answer.keep_alive:
        _forget(sock)
    return _response(answer, round((time.perf_counter() - start) * 1000, 3))


def _read(sock: socket.socket, answer: _Answer, deadline: float) -> _Answer:
    """Receive until `answer` is complete (or cut at MAX_BODY_BYTES); the final answer
    (interim 1xx answers are skipped)."""
    answer.parser = httptools.HttpResponseParser(answer)
    while not answer.complete and not answer.truncated:
        left = deadline - time.perf_counter()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        answer = _feed(answer, sock.recv(_RECV))
    return answer


def _feed(answer: _Answer, data: bytes) -> _Answer:
    """`data` received for `answer` (b"": the connection ended); the answer, complete once
    the final one is (interim 1xx answers such as 103 Early Hints are skipped)."""
    if not data:
        if not answer.started:
            raise _Dropped
        if answer.until_close and not answer.complete:
            answer.complete, answer.keep_alive = True, False
            return answer
        raise requests.exceptions.ConnectionError(
            "Connection closed by the server in the middle of the answer"
        )
    answer.started = True
    answer.parser.feed_data(data)
    return answer


def _response(answer: _Answer, latency_ms: float) -> Response:
    headers = _decoded_headers(answer.headers)
    body = _decoded_body(b"".join(answer.chunks), headers)[:MAX_BODY_BYTES]
    return Response(answer.parser.get_status_code(), headers, body, answer.truncated, latency_ms)


def _decoded_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Header names as sent; a repeated header's values joined with ", " (as requests)."""
    headers: dict[str, str] = {}
    lowered: dict[str, str] = {}
    for raw_name, raw_value in raw:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        known = lowered.get(name.lower())
        if known is None:
            lowered[name.lower()] = name
            headers[name] = value
        else:
            headers[known] = f"{headers[known]}, {value}"
    return headers


def _decoded_body(body: bytes, headers: dict[str, str]) -> bytes:
    """A body the server compressed though we asked for none: decompressed, as requests
    would (a body that does not decompress is kept as it came)."""
    encoding = next((v for k, v in headers.items() if k.lower() == "content-encoding"), "")
    encoding = encoding.strip().lower()
    if not body or encoding not in ("gzip", "x-gzip", "deflate"):
        return body
    try:
        wbits = 16 + zlib.MAX_WBITS if "gzip" in encoding else zlib.MAX_WBITS
        return zlib.decompressobj(wbits).decompress(body, MAX_BODY_BYTES)
    except zlib.error:
        return body


def _forget(sock: socket.socket) -> None:
    """Close `sock` and drop it from this thread's connections (not reusable)."""
    conns: dict[tuple[str, bool | str], socket.socket] = getattr(_local, "conns", {})
    for key, known in list(conns.items()):
        if known is sock:
            del conns[key]
    _close(sock)


def _discard(origin: _Origin, verify: bool | str) -> None:
    conns: dict[tuple[str, bool | str], socket.socket] = getattr(_local, "conns", {})
    sock = conns.pop((origin.key, verify), None)
    if sock is not None:
        _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


# --- the same, on an event loop: a parallel step's http steps ------------------------------


class AsyncPool:
    """Keep-alive connections for the copies of one parallel step, on one event loop.

    `send` is `wire.send` as a coroutine: the same request bytes, parser, limits and
    errors. Fifty copies waiting on fifty sockets cost fifty coroutines here, where fifty
    blocked threads spend more time handing the GIL around than sending (measured: 1.5x
    the wall time of a minimal asyncio client with threads). Each connection is an
    asyncio.Protocol feeding httptools as data arrives, with one future and one timer per
    request (asyncio's streams cost twice the CPU per request, measured)."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, bool | str], list[_Connection]] = {}
        self._opened: list[_Connection] = []

    async def send(self, request: Request, timeout_s: float) -> Response:
        parts, origin, verify, through = _route(request)
        if through is not None:
            # In a thread, a session of its own (the client is this loop thread's).
            return await asyncio.to_thread(http_client.send, request, timeout_s)
        payload = _encode(request, parts, origin)
        deadline = time.perf_counter() + timeout_s
        key = (origin.key, verify)
        for attempt in (1, 2):
            conn, reused = await self._connection(origin, verify, deadline, timeout_s)
            try:
                response = await conn.exchange(payload, request.method == "HEAD", deadline)
            except _Dropped as exc:
                conn.close()
                if not reused or attempt == 2 or request.method not in _IDEMPOTENT:
                    raise requests.exceptions.ConnectionError(
                        "Connection closed by the server before any answer"
                    ) from exc
                continue
            except TimeoutError:
                conn.close()
                if conn.answer is not None and conn.answer.size:
                    raise BodyTimeout(f"body incomplete after {conn.answer.size} bytes") from None
                raise requests.exceptions.ReadTimeout(
                    f"{origin.key}: Read timed out. (read timeout={timeout_s:g})"
                ) from None
            except BaseException:
                conn.close()  # mid-answer (an error, or the copy cancelled): not reusable
                raise
            if conn.reusable:
                self._idle.setdefault(key, []).append(conn)
            else:
                conn.close()
            return response
        raise AssertionError("unreachable")  # pragma: no cover: the loop returns or raises

    async def _connection(
        self, origin: _Origin, verify: bool | str, deadline: float, timeout_s: float
    ) -> tuple[_Connection, bool]:
        idle = self._idle.get((origin.key, verify))
        while idle:
            conn = idle.pop()
            if conn.reusable:
                return conn, True
            conn.close()  # the server closed it while it was idle
        loop = asyncio.get_running_loop()
        context = _tls(verify) if origin.scheme == "https" else None
        try:
            async with asyncio.timeout(max(0.001, deadline - time.perf_counter())):
                _, conn = await loop.create_connection(
                    lambda: _Connection(loop, origin),
                    origin.host,
                    origin.port,
                    ssl=context,
                    server_hostname=origin.host if context else None,
                )
        except TimeoutError:
            raise requests.exceptions.ConnectTimeout(
                f"connection to {origin.key} not established within {timeout_s:g}s"
            ) from None
        except ssl.SSLError as exc:
            raise requests.exceptions.SSLError(str(exc)) from None
        except OSError as exc:
            raise requests.exceptions.ConnectionError(f"{origin.key}: {exc}") from None
        self._opened.append(conn)
        return conn, False

    async def close(self) -> None:
        """Close every connection this pool opened (the parallel step is over)."""
        for conn in self._opened:
            conn.close()
        self._opened.clear()
        self._idle.clear()
        await asyncio.sleep(0)  # let the transports finish closing


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer parsed as it arrives."""

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: _Origin) -> None:
        self.loop, self.origin = loop, origin
        self.transport: asyncio.Transport | None = None
        self.answer: _Answer | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.lost = False

    @property
    def reusable(self) -> bool:
        answer = self.answer
        done = answer is None or (answer.complete and answer.keep_alive and not answer.truncated)
        return done and not self.lost and self.transport is not None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self.answer is None or self.waiter is None:
            self.lost = True  # bytes nobody asked for: this connection is not to be trusted
            self.close()
            return
        try:
            self.answer = _feed(self.answer, data)
        except Exception as exc:  # handed to the request awaiting the answer
            self._finish(exc)
            return
        if self.answer.complete or self.answer.truncated:
            self._finish(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.transport = None
        if self.waiter is None or self.answer is None:
            return
        if exc is not None and self.answer.started:
            self._finish(requests.exceptions.ConnectionError(f"{self.origin.key}: {exc}"))
            return
        try:
            # The end of a body that runs to it; else it raises (dropped before any byte,
            # or in the middle of the answer).
            self.answer = _feed(self.answer, b"")
        except Exception as failure:
            self._finish(failure)
            return
        self._finish(None)

    async def exchange(self, payload: bytes, head: bool, deadline: float) -> Response:
        if self.transport is None:
            raise _Dropped
        answer = self.answer = _Answer(head)
        answer.parser = httptools.HttpResponseParser(answer)
        waiter = self.waiter = self.loop.create_future()
        start = time.perf_counter()
        timer = self.loop.call_later(max(0.001, deadline - start), self._timed_out)
        try:
            self.transport.write(payload)
            await waiter
        finally:
            timer.cancel()
            self.waiter = None
        latency = round((time.perf_counter() - start) * 1000, 3)
        return _response(self.answer, latency)

    def _timed_out(self) -> None:
        self._finish(TimeoutError())

    def _finish(self, failure: BaseException | None) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if failure is None:
            waiter.set_result(None)
        elif isinstance(failure, httptools.HttpParserError):
            waiter.set_exception(
                requests.exceptions.ConnectionError(f"invalid HTTP response: {failure}")
            )
        else:
            waiter.set_exception(failure)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
