"""A real HTTP server on 127.0.0.1 for tests and benchmarks, with configurable routes.

Each route answers with a status, a JSON or raw body, optional headers, after an
optional delay; it may also hang (answer nothing until the server stops) or trickle its
body slowly. Requests are recorded so tests can assert what a client sent.

Run as a process for benchmarks: `python -m tests.support.http_server [DELAY_S]` prints
`PORT <n>` and serves /health and /slow until stdin closes.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import ssl
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# A hanging route waits for the server to stop, but never longer than this.
MAX_HANG_S = 60.0
_NO_JSON = object()


@dataclass
class Route:
    status: int = 200
    json: Any = _NO_JSON
    body: bytes | str | None = None  # raw body, e.g. malformed JSON; wins over `json`
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    hang: bool = False  # send nothing until the server stops
    trickle_s: float = 0.0  # pause between body bytes: a body that arrives too slowly
    chunked: bool = False  # Transfer-Encoding: chunked, as streaming servers answer
    # The Authorization header it accepts; any other (or none) is answered 401, as an API
    # that checks its token does.
    authorization: str | None = None

    def answering(self, authorization: str | None) -> Route:
        """This route, or a 401 when it checks the token and `authorization` is not it."""
        if self.authorization is None or authorization == self.authorization:
            return self
        return Route(401, json={"detail": "invalid or missing token"})

    def payload(self) -> tuple[bytes, str]:
        if self.body is not None:
            raw = self.body.encode() if isinstance(self.body, str) else self.body
            return raw, "text/plain; charset=utf-8"
        if self.json is _NO_JSON:
            return b"", "text/plain; charset=utf-8"
        return json.dumps(self.json).encode(), "application/json"


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer_port: int  # the client's port: equal across requests on one kept-alive connection


class LocalHttpServer:
    """`with LocalHttpServer() as srv: srv.route("/health", json={"status": "ok"})`."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Recorded] = []
        self.stopping = threading.Event()
        self._tls = tls
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def route(self, path: str, **settings: Any) -> Route:
        self.routes[path] = route = Route(**settings)
        return route

    def start(self) -> LocalHttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # releases hanging handlers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LocalHttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler_for(server: LocalHttpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real services answer
        # Headers and body go out in two writes; with Nagle on, the body waits for the
        # client's delayed ACK (~40 ms a request). Real servers set TCP_NODELAY too.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            server.requests.append(
                Recorded(self.command, path, dict(self.headers), body, self.client_address[1])
            )
            route = server.routes.get(path) or Route(404, json={"error": f"no route {path}"})
            if route.hang:
                server.stopping.wait(MAX_HANG_S)
                self.close_connection = True
                return
            if route.delay_s:
                server.stopping.wait(route.delay_s)
            self._answer(route.answering(self.headers.get("Authorization")))

        def _answer(self, route: Route) -> None:
            payload, content_type = route.payload()
            self.send_response(route.status)
            self.send_header("Content-Type", content_type)
            if route.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(len(payload)))
            for name, value in route.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command == "HEAD":
                return
            if route.chunked:
                _write_chunked(self.wfile, payload)
            else:
                _write_body(self.wfile, payload, route.trickle_s, server.stopping)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # tests read `server.requests`, not stderr

    return Handler


def _write_body(
    out: io.BufferedIOBase, payload: bytes, trickle_s: float, stopping: threading.Event
) -> None:
    if not trickle_s:
        out.write(payload)
        return
    for i in range(len(payload)):
        if stopping.wait(trickle_s):
            return
        out.write(payload[i : i + 1])
        out.flush()


def _write_chunked(out: io.BufferedIOBase, payload: bytes, size: int = 7) -> None:
    for i in range(0, len(payload), size):
        piece = payload[i : i + size]
        out.write(b"%x\r\n%s\r\n" % (len(piece), piece))
    out.write(b"0\r\n\r\n")


def self_signed_tls(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def _serve_until_stdin_closes() -> None:
    """Benchmark server: /health answers at once, /slow after argv[1] seconds (0.05)."""
    server = LocalHttpServer().start()
    report = {"status": "ok", "dependencies": {"db": {"status": "ok"}, "cache": "ok"}}
    server.route("/health", json=report)
    server.route("/slow", json=report, delay_s=float(sys.argv[1]) if sys.argv[1:] else 0.05)
    server.requests = _Discard()  # a benchmark sends too many requests to keep
    print(f"PORT {server.port}", flush=True)
    try:
        sys.stdin.read()
    finally:
        server.stop()


class _Discard(list[Recorded]):
    def append(self, item: Recorded) -> None:
        pass


if __name__ == "__main__":
    _serve_until_stdin_closes()
