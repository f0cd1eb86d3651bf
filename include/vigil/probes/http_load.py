"""HTTP load for performance probes: closed loop (as wrk) or open loop (as wrk2 / k6).

The client is deliberately small: one asyncio.Protocol per keep-alive HTTP/1.1
connection, httptools' response parser (one per connection, reused for every response),
requests encoded to bytes once, uvloop when installed. A request costs no task, future
or timer: a completed response hands its connection the next request from the protocol
callback (written with the others of the same loop turn), and one periodic tick handles
timeouts, the abort callback and the phases. On loopback against nginx this measured
0.8-1.1x wrk's request rate, with wrk's latencies on a 50 ms endpoint
(benchmarks/bench_probe_vs_wrk.py; STACK_NOTES: "HTTP clients under concurrency").

Closed loop: each of C connections sends its next request as soon as the previous one is
answered; latency = response complete - send.

Open loop: request i is *intended* at t0 + i/rate, whatever the server does. It goes out
on a free connection, or waits for one; its latency counts from the intended time, so a
stalled server shows in the figures as the queueing its users would see (coordinated
omission corrected, as wrk2). The timers of the event loop fire within ~1 ms (uvloop's
clock), a delay that counts in the latency as it would for a real client.

Warm-up: answers (and errors) that come in before the measured window opens count only in
`warmup_requests`; a request sent in warm-up and answered in the window is measured.

Stopping (end of the duration, the request cap, or the abort callback) ends the *issuing*
of requests; everything already issued (in flight, or queued for a connection in the open
loop) is still awaited, each at most `timeout_s` from its start, and counted. Dropping them
would hide the slowest requests of a server that stalls at the end. The drain is not part
of `elapsed_s` (the divisor of `rps`): the window is from its start to the moment sending
stopped, so one request hanging past the end does not spread the window's throughput over
its hang.

Each request of a mix is judged by its own expected statuses (`Request.expect_status`), so
a 404 is a success for a request expected to be missing and an error for one that is not.
"""

from __future__ import annotations

import asyncio
import random
import re
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, cast
from urllib.parse import urlsplit

import httptools

from vigil.probes.measure import HIGHEST_US, LOWEST_US, Measurement

MAX_CONNECTIONS = 1024
ABORT_EVERY_S = 0.25
# Reconnecting after a refused or broken connection: 10 ms, doubling, at most 0.5 s, so a
# target that is down costs a few attempts a second per connection, not a busy loop.
BACKOFF_FIRST_S = 0.01
BACKOFF_MAX_S = 0.5
# The pick table of a weighted mix: long enough that a weight of 1 in 1,000 still shows.
PICK_TABLE = 4096
_now = time.perf_counter  # latencies: a monotonic clock with sub-µs resolution
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


@dataclass(frozen=True)
class Request:
    method: str  # "GET", "POST", ...
    url: str  # absolute http:// or https:// URL incl. path and query
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    weight: int = 1  # a weighted mix: each request is picked with weight/sum(weights)
    # The statuses that count as success for THIS request; None: the run's `expect_status`.
    # Per request, not a union over the mix: a union would let /ok answering 404 pass
    # because /missing is expected to.
    expect_status: frozenset[int] | None = None


@dataclass(frozen=True)
class Load:
    model: Literal["closed", "open"]
    connections: int  # closed: C connections back to back (as wrk); open: at most C
    rate: float | None  # open loop only: intended requests per second
    duration_s: float  # measured window length
    warmup_s: float  # sent before the measured window, excluded from every figure
    max_requests: int  # total cap INCLUDING warm-up: the server never receives more
    timeout_s: float  # per request


# (measurement so far, seconds into the measured window) -> reason to stop, or None
Abort = Callable[[Measurement, float], str | None]


def run_http_load(
    requests: Sequence[Request],
    load: Load,
    expect_status: frozenset[int],
    abort: Abort | None = None,
    *,
    verify_tls: bool = True,
) -> Measurement:
    """Run `load` against `requests` and return what the measured window saw.

    `expect_status` judges the requests that carry no `expect_status` of their own.
    `verify_tls=False` accepts any certificate (the target's `verify_tls: false`, e.g. a
    self-signed staging service), as the health checks' client does.

    Synchronous: it runs (and closes) its own event loop, so it works from any thread.
    Raises ValueError for requests it cannot send (no request, mixed origins, bad URL, a
    URL carrying user:password@).
    """
    origin, picks = _encode_all(requests, expect_status)
    engine = _Engine(origin, picks, load, abort, _tls_context(origin, verify_tls))
    with asyncio.Runner(loop_factory=_new_loop) as runner:
        return runner.run(engine.run())


def _tls_context(origin: _Origin, verify: bool) -> ssl.SSLContext | None:
    if not origin.tls:
        return None
    context = ssl.create_default_context()
    if not verify:
        # The order matters: CERT_NONE is refused while check_hostname is on.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # asyncio's own loop works too, at a lower request rate
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


# --- requests, encoded once ---------------------------------------------------------------


@dataclass(frozen=True)
class _Origin:
    host: str
    port: int
    tls: bool


# One pick: the request's bytes, whether it is a HEAD (its answer has no body), and the
# statuses that count as its success. The set travels with the pick so an answer is judged
# by the request that was actually sent.
_Pick = tuple[bytes, bool, frozenset[int]]


def _encode_all(
    requests: Sequence[Request], expect_status: frozenset[int]
) -> tuple[_Origin, list[_Pick]]:
    if not requests:
        raise ValueError("no request to send")
    origins = {_origin(r.url) for r in requests}
    if len(origins) != 1:
        # One connection pool serves one host; a probe targets one service.
        raise ValueError(f"all requests of one load must share one origin, got {len(origins)}")
    origin = origins.pop()
    encoded = [_encode(r, origin, expect_status) for r in requests]
    weights = [r.weight for r in requests]
    if any(w < 1 for w in weights):
        raise ValueError("request weights must be >= 1")
    # A shuffled table holding each request in proportion to its weight: a pick is then an
    # index increment, and every full turn of the table has the exact mix.
    total = sum(weights)
    scale = PICK_TABLE / total
    table = [
        p for p, w in zip(encoded, weights, strict=True) for _ in range(max(1, round(w * scale)))
    ]
    random.Random(len(table)).shuffle(table)
    return origin, table


def _origin(url: str) -> _Origin:
    parts = urlsplit(url)
    if "@" in parts.netloc:
        # HTTP sends no userinfo: the server would see a request without its credentials
        # and answer 401s that look like the service's fault. The caller turns it into an
        # Authorization header (http_probe does, as requests does). The URL is not quoted
        # in the message: it holds the credential.
        raise ValueError("a URL with user:password@ cannot be sent; use an Authorization header")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    tls = parts.scheme == "https"
    return _Origin(parts.hostname, parts.port or (443 if tls else 80), tls)


def _encode(request: Request, origin: _Origin, expect_status: frozenset[int]) -> _Pick:
    method = request.method.upper()
    if not _TOKEN.match(method):
        raise ValueError(f"not an HTTP method: {request.method!r}")
    parts = urlsplit(request.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default_port = 443 if origin.tls else 80
    host = origin.host if ":" not in origin.host else f"[{origin.host}]"
    host_header = host if origin.port == default_port else f"{host}:{origin.port}"
    names = {name.lower() for name, _ in request.headers}
    lines = [f"{method} {target} HTTP/1.1"]
    if "host" not in names:
        lines.append(f"Host: {host_header}")
    if "user-agent" not in names:
        lines.append("User-Agent: vigil-probe")
    for name, value in request.headers:
        if not _TOKEN.match(name) or "\r" in value or "\n" in value:
            raise ValueError(f"invalid header {name!r}")
        if name.lower() != "content-length":  # ours is the body's true length
            lines.append(f"{name}: {value}")
    if request.body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(request.body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    expect = expect_status if request.expect_status is None else request.expect_status
    if not expect:
        raise ValueError(f"no expected status for {method} {target}")
    return head + request.body, method == "HEAD", frozenset(expect)


# --- one connection -----------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One keep-alive connection: sends one request at a time, parses its response."""

    def __init__(self, engine: _Engine) -> None:
        self.engine = engine
        self.transport: asyncio.Transport | None = None
        self.write: Callable[[bytes], object] = _not_connected
        self.parser = httptools.HttpResponseParser(self)
        self.started = 0.0  # the in-flight request's start (send or intended); 0: idle
        self.payload = b""  # the in-flight request
        self.head = False  # the in-flight request is a HEAD
        self.expect: frozenset[int] = frozenset()  # the in-flight request's success statuses
        self.complete = False  # set by the parser, acted on once feed_data returns
        self.keep_alive = True
        self.retired = False  # closed by us: its connection_lost is no news

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = transport = cast(asyncio.Transport, transport)
        self.write = transport.write  # bound once: the hot path's one call
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # A request is one small write; never let Nagle hold it for an ACK.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.engine.broken(self, f"invalid HTTP response: {exc}")
            return
        if self.complete:
            # Completed here rather than in the parser's callback, so the next request is
            # sent (and a HEAD's parser replaced) outside the parser.
            self.complete = False
            self.engine.answered(self, self.parser.get_status_code())

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.write = _not_connected
        if not self.retired:
            self.engine.lost(self, exc)

    # httptools callbacks (only the ones defined here are called)

    def on_headers_complete(self) -> None:
        # Read now: the parser forgets a "Connection: close" once the message is complete.
        self.keep_alive = self.parser.should_keep_alive()
        if self.head:  # no body follows, whatever Content-Length says
            self.complete = True

    def on_message_complete(self) -> None:
        if not self.head:
            self.complete = True


def _not_connected(data: bytes) -> None:
    raise RuntimeError("request sent on a connection that is not open")


# --- the engine ---------------------------------------------------------------------------


class _Engine:
    def __init__(
        self,
        origin: _Origin,
        picks: list[_Pick],
        load: Load,
        abort: Abort | None,
        tls: ssl.SSLContext | None,
    ) -> None:
        if load.model == "open" and not (load.rate and load.rate > 0):
            raise ValueError("an open-loop load needs a rate > 0")
        self.origin = origin
        self.picks = picks
        self.pick_index = 0
        self.open_loop = load.model == "open"
        self.rate = float(load.rate or 0.0)
        self.connections = min(max(int(load.connections), 1), MAX_CONNECTIONS)
        self.duration_s = max(float(load.duration_s), 0.0)
        self.warmup_s = max(float(load.warmup_s), 0.0)
        self.cap = max(int(load.max_requests), 0)
        self.timeout_s = max(float(load.timeout_s), 0.001)
        self.abort = abort
        self.tls = tls

        self.m = Measurement()
        # Successful answers are tallied here ({latency µs: count}, {status: count}) and
        # moved into the histogram every tick: one dict increment instead of a
        # Measurement.record per response (~2 µs, a fifth of a request's CPU at full speed).
        self.ok_latencies: dict[int, int] = {}
        self.ok_statuses: dict[int, int] = {}

        self.issued = 0  # requests sent or queued, warm-up and refused connections included
        self.in_flight = 0
        self.issuing = True
        self.measuring = False
        self.window_start = 0.0
        self.stop_at = 0.0
        self.next_abort = 0.0
        self.live: set[_Connection] = set()
        self.idle: list[_Connection] = []  # open loop: connected, nothing to send
        self.queue: deque[float] = deque()  # open loop: intended times waiting for a connection
        self.next_intended = 0.0
        self.failing = False  # the last connection attempt failed
        self.last_error = ""
        self.ending = False
        self.outbox: list[_Connection] = []  # given a request, to write this loop turn
        self.tasks: set[asyncio.Task[None]] = set()  # connection attempts
        self.timers: dict[str, asyncio.TimerHandle] = {}  # by role: window, end, tick, issue

    # running

    async def run(self) -> Measurement:
        self.loop = loop = asyncio.get_running_loop()
        self.finished: asyncio.Future[None] = loop.create_future()
        t0 = _now()
        self.next_intended = t0
        self.tick_s = min(0.05, max(self.timeout_s / 10, 0.005))
        self.timers["window"] = loop.call_later(self.warmup_s, self._start_window)
        self.timers["tick"] = loop.call_later(self.tick_s, self._tick)
        if self.cap == 0:
            self._stop("max_requests is 0: no request was sent")
        for _ in range(self.connections):
            self._connect(0.0, 0)
        if self.open_loop:
            self._issue()
        try:
            await self.finished
        finally:
            await self._close()
        return self.m

    def _start_window(self) -> None:
        if not self.issuing:
            return
        self._flush()
        self.measuring = True
        self.window_start = now = _now()
        self.next_abort = now + ABORT_EVERY_S
        self.timers["end"] = self.loop.call_later(self.duration_s, self._stop, None)

    def _stop(self, reason: str | None) -> None:
        """No more requests are issued; the run ends when the issued ones are done."""
        if not self.issuing:
            return
        self.issuing = False
        if reason and self.m.stopped_because is None:
            self.m.stopped_because = reason
        self.stop_at = _now()
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if not self.issuing and not self.in_flight and not self.queue:
            self._finish()

    def _finish(self) -> None:
        if self.ending:
            return
        self.ending = True
        now = _now()
        for conn in list(self.live):  # past the drain's bound: whatever is left timed out
            if conn.started:
                self._failed(conn, now, "timeout", "no answer before the run ended")
        while self.queue:
            self._error(now - self.queue.popleft(), "timeout", "no free connection in time")
        self._flush()
        # The measured window: from its start to when sending stopped. The drain's answers
        # are counted, but its time is not in the divisor of `rps`: it lasts as long as the
        # slowest request in flight (up to timeout_s), so one hanging request would
        # otherwise deflate the rate of everything the window served. A window that never
        # opened (stopped in warm-up) measured nothing.
        if self.window_start:
            self.m.elapsed_s = max((self.stop_at or now) - self.window_start, 0.0)
        self.finished.set_result(None)

    async def _close(self) -> None:
        """Leave nothing behind: timers, connect tasks, sockets."""
        for timer in self.timers.values():
            timer.cancel()
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        for conn in list(self.live):
            self._retire(conn)
        await asyncio.sleep(0)  # let the transports run their close callbacks

    def _tick(self) -> None:
        now = _now()
        limit = now - self.timeout_s
        for conn in list(self.live):
            if conn.started and conn.started < limit:
                self._failed(conn, now, "timeout", f"no answer within {self.timeout_s:g} s")
                self._connect(0.0, 0)  # a slow server is not a down one: reopen at once
        while self.queue and self.queue[0] < limit:
            self._error(now - self.queue.popleft(), "timeout", "no free connection in time")
        if self.measuring and self.issuing and now >= self.next_abort:
            self.next_abort = now + ABORT_EVERY_S
            if self.abort is not None:
                self._flush()
                try:
                    reason = self.abort(self.m, now - self.window_start)
                except Exception as exc:  # the caller's bug: raised by run_http_load
                    self.ending = True
                    self.finished.set_exception(exc)
                    return
                if reason:
                    self._stop(reason)
        if not self.issuing and now > self.stop_at + self.timeout_s + 2 * self.tick_s:
            self._finish()  # the drain's bound, should a request escape its own timeout
        self._maybe_finish()
        if not self.ending:
            self.timers["tick"] = self.loop.call_later(self.tick_s, self._tick)

    # sending

    def _take(self) -> bool:
        """Count one more request against the cap; False (and stop) when none is left."""
        if not self.issuing:
            return False
        if self.issued >= self.cap:
            self._stop(
                f"stopped at max_requests: {self.cap} requests sent (warm-up included) "
                f"before the {self.duration_s:g} s duration ended"
            )
            return False
        self.issued += 1
        return True

    def _pick(self) -> _Pick:
        i = self.pick_index
        self.pick_index = i + 1
        return self.picks[i % len(self.picks)]

    def _next(self, conn: _Connection, now: float) -> None:
        """`conn` is free: give it its next request."""
        if self.open_loop:
            if self.queue:
                self._send(conn, self._pick(), self.queue.popleft())
            else:
                self.idle.append(conn)
        elif self._take():
            self._send(conn, self._pick(), now)

    def _send(self, conn: _Connection, pick: _Pick, started: float) -> None:
        """Give `conn` a request; it is written with the others of this loop turn."""
        self.in_flight += 1
        conn.started = started
        conn.payload, conn.head, conn.expect = pick
        if not self.outbox:
            self.loop.call_soon(self._write_all)
        self.outbox.append(conn)

    def _write_all(self) -> None:
        # Answers that arrive together are each timed as they are read. Writing the next
        # request in between (a syscall, ~15 µs on loopback) would add the earlier ones'
        # writes to the later ones' latency: ~0.4 ms at 32 connections. So the writes wait
        # until every answer of this loop turn is read, then go out in one go.
        outbox, self.outbox = self.outbox, []
        restamp = not self.open_loop
        for conn in outbox:
            if conn.started and not conn.retired:  # it may have failed meanwhile
                if restamp:  # closed loop: latency counts from the write, as wrk's
                    conn.started = _now()
                conn.write(conn.payload)

    def _issue(self) -> None:
        """Open loop: issue every request whose intended time has come, then sleep until
        the next one."""
        now = _now()
        step = 1.0 / self.rate
        while self.next_intended <= now and self._take():
            intended = self.next_intended
            self.next_intended = intended + step
            if self.idle:
                self._send(self.idle.pop(), self._pick(), intended)
            elif self.failing and not self.live:
                # The target refuses connections: fail now rather than queue for nothing.
                self._error(now - intended, "connection", self.last_error)
            else:
                self.queue.append(intended)
        if self.issuing:
            delay = max(self.next_intended - _now(), 0.0)
            self.timers["issue"] = self.loop.call_later(delay, self._issue)

    # outcomes

    def answered(self, conn: _Connection, status: int) -> None:
        now = _now()
        started, conn.started = conn.started, 0.0
        if not started:  # an answer to nothing: the server is confused; start afresh
            self.broken(conn, "response without a request")
            return
        self.in_flight -= 1
        if conn.head:
            conn.parser = httptools.HttpResponseParser(conn)
        if not self.measuring:
            self.m.warmup_requests += 1
        elif status in conn.expect:
            us = int((now - started) * 1_000_000)
            self.ok_latencies[us] = self.ok_latencies.get(us, 0) + 1
            self.ok_statuses[status] = self.ok_statuses.get(status, 0) + 1
        else:
            self.m.record((now - started) * 1e6, "status", status, f"status {status}")
        if conn.keep_alive:
            self._next(conn, now)
        else:  # the server said "Connection: close": a new connection, not an error
            self._retire(conn)
            self._connect(0.0, 0)
        self._maybe_finish()

    def broken(self, conn: _Connection, message: str) -> None:
        self._failed(conn, _now(), "connection", message)
        self._connect(BACKOFF_FIRST_S, 1)

    def lost(self, conn: _Connection, exc: Exception | None) -> None:
        """The server closed or reset `conn`."""
        self.live.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        if conn.started:  # mid-request: an error; reopen after a pause
            message = f"connection lost: {exc or 'closed by the server'}"
            self._failed(conn, _now(), "connection", message)
            self._connect(BACKOFF_FIRST_S, 1)
        else:  # an idle keep-alive connection closed: nothing was lost; reopen soon (not
            # at once: a server that closes every connection it accepts would spin us)
            self._connect(BACKOFF_FIRST_S, 0)

    def _failed(self, conn: _Connection, now: float, error: str, message: str) -> None:
        """The in-flight request on `conn` failed; the connection is dropped."""
        if conn.started:
            self.in_flight -= 1
            self._error(now - conn.started, error, message)
            conn.started = 0.0
        self._retire(conn)
        self._maybe_finish()

    def _error(self, latency_s: float, error: str, message: str) -> None:
        if self.measuring:
            self.m.record(latency_s * 1e6, error, None, message)
        else:
            self.m.warmup_requests += 1

    def _retire(self, conn: _Connection) -> None:
        conn.retired = True
        self.live.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        if conn.transport is not None:
            conn.transport.abort()

    def _flush(self) -> None:
        """Move the tallied successes into the measurement (as Measurement.record would)."""
        m = self.m
        for us, count in self.ok_latencies.items():
            m.histogram.record_value(min(max(us, LOWEST_US), HIGHEST_US), count)
        for status, count in self.ok_statuses.items():
            m.statuses[status] += count
            m.ok += count
        self.ok_latencies.clear()
        self.ok_statuses.clear()

    # connecting

    def _connect(self, delay: float, failures: int) -> None:
        if self.issuing or self.queue:
            task = self.loop.create_task(self._open(delay, failures))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _open(self, delay: float, failures: int) -> None:
        if delay:
            await asyncio.sleep(delay)
        began = _now()
        origin = self.origin
        try:
            _, conn = await asyncio.wait_for(
                self.loop.create_connection(
                    lambda: _Connection(self),
                    origin.host,
                    origin.port,
                    ssl=self.tls,
                    server_hostname=origin.host if self.tls else None,
                ),
                self.timeout_s,
            )
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
            self._refused(began, failures, exc)
            return
        self.failing = False
        self.live.add(conn)
        self._next(conn, _now())
        self._maybe_finish()

    def _refused(self, began: float, failures: int, exc: BaseException) -> None:
        """A connection could not be opened: one failed request, then a pause."""
        self.failing = True
        self.last_error = f"cannot connect: {exc or type(exc).__name__}"
        if self.open_loop:
            if self.queue:
                now = _now()
                self._error(now - self.queue.popleft(), "connection", self.last_error)
        elif self._take():
            self._error(_now() - began, "connection", self.last_error)
        self._maybe_finish()
        self._connect(min(BACKOFF_FIRST_S * 2**failures, BACKOFF_MAX_S), failures + 1)
