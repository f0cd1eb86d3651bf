"""A PostgreSQL front that echoes the password it is sent back in its error: what a badly
behaved pooler or proxy does, and the worst a driver error can carry.

It speaks just enough of the wire protocol for libpq: it declines SSL and GSS encryption,
asks for a cleartext password, and answers with a FATAL error quoting that password as
sent, repr-escaped and percent-encoded. `passwords` records what it was sent.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from typing import Any
from urllib.parse import quote

_SSL_REQUEST, _GSS_REQUEST, _CANCEL_REQUEST = 80877103, 80877104, 80877102
_MAX_MESSAGE = 1 << 16
_TIMEOUT_S = 5.0


class EchoingPostgres:
    """`with EchoingPostgres() as front: ... front.port ... front.passwords`."""

    def __init__(self) -> None:
        self.passwords: list[str] = []
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> EchoingPostgres:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


def _int32(data: bytes) -> int:
    """A network-order signed 32-bit integer, as in every Postgres message header."""
    (value,) = struct.unpack("!i", data)
    return int(value)


def _startup(sock: socket.socket) -> bool:
    """Decline encryption until the startup message; False for a cancel request."""
    for _ in range(3):  # at most an SSL and a GSS request before the startup message
        length = _int32(_read(sock, 4))
        body = _read(sock, min(max(length - 4, 0), _MAX_MESSAGE))
        code = _int32(body[:4])
        if code in (_SSL_REQUEST, _GSS_REQUEST):
            sock.sendall(b"N")
            continue
        return code != _CANCEL_REQUEST
    return False


def _error(message: str) -> bytes:
    fields = b"".join(
        tag + value.encode() + b"\0"
        for tag, value in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", "28P01"), (b"M", message))
    )
    body = fields + b"\0"
    return b"E" + struct.pack("!i", len(body) + 4) + body


def _handler(front: EchoingPostgres) -> type[socketserver.BaseRequestHandler]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock: Any = self.request
            sock.settimeout(_TIMEOUT_S)
            try:
                if not _startup(sock):
                    return
                sock.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
                kind = _read(sock, 1)
                length = _int32(_read(sock, 4))
                body = _read(sock, min(max(length - 4, 0), _MAX_MESSAGE))
                if kind != b"p":
                    return
                password = body.rstrip(b"\0").decode("utf-8", errors="replace")
                front.passwords.append(password)
                sock.sendall(
                    _error(
                        f"password authentication failed: got {password} "
                        f"({password!r}, sent as {quote(password, safe='')})"
                    )
                )
            except (OSError, struct.error):
                return

    return Handler
