"""A STAND-IN for a MongoDB server: a small TCP server speaking the MongoDB wire protocol
for exactly the commands the mongodb health check sends, with answers a test switches.

Why a stand-in: no MongoDB server can be installed on the machines these tests run on
(Debian ships no `mongod` package, and the npm/pip "test server" packages download a
server binary at run time, which these machines may not do). So the real `pymongo` driver
talks to this instead, over a real socket on 127.0.0.1.

What it speaks: OP_MSG (opcode 2013, one kind-0 body section) and, for drivers older
than pymongo 4.20, OP_QUERY/OP_REPLY for the handshake; no compression (it advertises
none). Commands: `hello`/`isMaster` (the driver's handshake and monitoring), `ping`,
`buildInfo`, `serverStatus`, `replSetGetStatus`, `endSessions`, and SCRAM-SHA-256
(`saslStart`/`saslContinue`) when it has `users`, so a login really is checked. Anything
else is `CommandNotFound`, as a real server answers it.

What a test switches (`MongoStandIn.state`, under its lock): the version, standalone or
replica set member, the members with their states, health and optimes (no primary, a
lagging member, a member down), the connection counts (near the limit), and the mode:
`ok`, `garbage` (answers bytes that are not the protocol) or `silent` (never answers).

What it cannot prove: that a real server's documents keep this shape; the shapes here
copy MongoDB 7.0's documented command replies.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import socket
import socketserver
import struct
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import bson

OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
_HEADER = struct.Struct("<iiii")  # messageLength, requestID, responseTo, opCode
MAX_MESSAGE = 48_000_000
ITERATIONS = 4096
PUBLIC_COMMANDS = {"hello", "ismaster", "saslstart", "saslcontinue", "ping", "buildinfo"}


@dataclass
class Member:
    name: str
    state: str = "SECONDARY"  # PRIMARY, SECONDARY, ARBITER, RECOVERING, (not reachable/healthy)
    health: int = 1
    lag_s: float = 0.0  # how far its optime trails now
    is_self: bool = False

    def document(self, member_id: int, now: datetime) -> dict[str, Any]:
        codes = {"PRIMARY": 1, "SECONDARY": 2, "RECOVERING": 3, "ARBITER": 7}
        doc: dict[str, Any] = {
            "_id": member_id,
            "name": self.name,
            "health": float(self.health),
            "state": codes.get(self.state, 8),
            "stateStr": self.state,
        }
        if self.state != "ARBITER":
            doc["optimeDate"] = now - timedelta(seconds=self.lag_s)
        if self.is_self:
            doc["self"] = True
        return doc


@dataclass
class State:
    version: str = "7.0.12"
    replica_set: str | None = None  # None: a standalone server
    members: list[Member] = field(default_factory=list)
    connections_current: int = 5
    connections_available: int = 995
    mode: str = "ok"  # ok | garbage | silent
    users: dict[str, str] = field(default_factory=dict)  # user -> password (SCRAM-SHA-256)

    def own(self) -> Member | None:
        return next((m for m in self.members if m.is_self), None)


class MongoStandIn:
    """The stand-in on 127.0.0.1:`port` (a free port); a context manager."""

    def __init__(self, *, users: dict[str, str] | None = None) -> None:
        self.state = State(users=dict(users or {}))
        self.lock = threading.Lock()
        self.commands: list[str] = []  # every command received, in order (lower case)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stand_in = self
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def uri(self, user: str | None = None, password: str | None = None) -> str:
        auth = f"{user}:{password}@" if user else ""
        return f"mongodb://{auth}{self.address}/admin"

    # --- switching the answers -------------------------------------------------------

    def standalone(self) -> None:
        with self.lock:
            self.state.replica_set, self.state.members = None, []

    def replica_set(self, name: str = "rs0", *, secondaries: int = 2) -> None:
        """A healthy set: this server its primary, `secondaries` more members."""
        members = [Member(self.address, "PRIMARY", is_self=True)]
        members += [Member(f"db{i + 2}.example:27017") for i in range(secondaries)]
        with self.lock:
            self.state.replica_set, self.state.members = name, members

    def no_primary(self) -> None:
        """An election that never ends: every data member a secondary."""
        with self.lock:
            for member in self.state.members:
                if member.state == "PRIMARY":
                    member.state = "SECONDARY"

    def lagging(self, index: int, seconds: float) -> None:
        with self.lock:
            self.state.members[index].lag_s = seconds

    def member_down(self, index: int) -> None:
        with self.lock:
            member = self.state.members[index]
            member.state, member.health = "(not reachable/healthy)", 0

    def connections(self, current: int, available: int) -> None:
        with self.lock:
            self.state.connections_current = current
            self.state.connections_available = available

    def set_mode(self, mode: str) -> None:
        assert mode in ("ok", "garbage", "silent")
        with self.lock:
            self.state.mode = mode

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> MongoStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.close_clients()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MongoStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- answering -------------------------------------------------------------------

    def answer(self, command: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        name = next(iter(command), "").lower()
        with self.lock:
            self.commands.append(name)
            state = self.state
            if state.users and not session.get("user") and name not in PUBLIC_COMMANDS:
                return _failure(13, "Unauthorized", f"command {name} requires authentication")
            handler = _COMMANDS.get(name)
            if handler is None:
                return _failure(59, "CommandNotFound", f"no such command: '{name}'")
            return handler(self, command, session)

    def _hello(self, command: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        state, own = self.state, self.state.own()
        primary = own is None or own.state == "PRIMARY"
        key = "isWritablePrimary" if "hello" in command else "ismaster"
        reply: dict[str, Any] = {
            key: primary,
            "maxBsonObjectSize": 16 * 1024 * 1024,
            "maxMessageSizeBytes": MAX_MESSAGE,
            "maxWriteBatchSize": 100_000,
            "localTime": datetime.now(UTC),
            "connectionId": session["id"],
            "minWireVersion": 0,
            "maxWireVersion": 21,
            "readOnly": False,
            "ok": 1.0,
        }
        if command.get("helloOk"):
            reply["helloOk"] = True
        if state.replica_set:
            reply.update(
                setName=state.replica_set,
                secondary=own is not None and own.state == "SECONDARY",
                hosts=[m.name for m in state.members if m.state != "ARBITER"],
                me=self.address,
            )
            leader = next((m.name for m in state.members if m.state == "PRIMARY"), None)
            if leader:
                reply["primary"] = leader
        mechs = command.get("saslSupportedMechs")
        if isinstance(mechs, str) and mechs.partition(".")[2] in state.users:
            reply["saslSupportedMechs"] = ["SCRAM-SHA-256"]
        return reply

    def _build_info(self, command: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        parts = [int(p) for p in self.state.version.split(".")]
        return {
            "version": self.state.version,
            "versionArray": [*parts, 0][:4],
            "gitVersion": "stand-in",
            "ok": 1.0,
        }

    def _server_status(self, command: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        state = self.state
        reply: dict[str, Any] = {
            "host": self.address,
            "version": state.version,
            "process": "mongod",
            "uptime": 3600.0,
            "localTime": datetime.now(UTC),
            "connections": {
                "current": state.connections_current,
                "available": state.connections_available,
                "totalCreated": state.connections_current + 10,
            },
            "ok": 1.0,
        }
        if state.replica_set:
            reply["repl"] = {"setName": state.replica_set, "me": self.address}
        return reply

    def _repl_status(self, command: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        state = self.state
        if not state.replica_set:
            return _failure(76, "NoReplicationEnabled", "not running with --replSet")
        now = datetime.now(UTC).replace(microsecond=0)
        own = state.own()
        return {
            "set": state.replica_set,
            "date": now,
            "myState": own.document(0, now)["state"] if own else 8,
            "members": [m.document(i, now) for i, m in enumerate(state.members)],
            "ok": 1.0,
        }

    def _sasl_start(self, command: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        if command.get("mechanism") != "SCRAM-SHA-256":
            return _failure(334, "MechanismUnavailable", "only SCRAM-SHA-256 here")
        first_bare = bytes(command["payload"])[3:]  # after the GS2 header "n,,"
        fields = dict(part.split(b"=", 1) for part in first_bare.split(b","))
        user = fields[b"n"].decode().replace("=2C", ",").replace("=3D", "=")
        nonce = fields[b"r"] + base64.b64encode(os.urandom(18))
        salt = hashlib.sha256(user.encode()).digest()[:16]
        server_first = b"r=%s,s=%s,i=%d" % (nonce, base64.b64encode(salt), ITERATIONS)
        session["scram"] = (user, salt, first_bare, server_first, nonce)
        return {"conversationId": 1, "done": False, "payload": server_first, "ok": 1.0}

    def _sasl_continue(self, command: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        user, salt, first_bare, server_first, nonce = session.pop("scram", (None,) * 5)
        password = self.state.users.get(user) if user else None
        final = bytes(command.get("payload", b""))
        without_proof, _, proof = final.rpartition(b",p=")
        if password is None or without_proof != b"c=biws,r=" + nonce:
            return _failure(18, "AuthenticationFailed", "Authentication failed.")
        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, ITERATIONS)
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        auth_message = b",".join((first_bare, server_first, without_proof))
        signature = hmac.digest(hashlib.sha256(client_key).digest(), auth_message, "sha256")
        expected = base64.b64encode(
            bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        )
        if not hmac.compare_digest(expected, proof):
            return _failure(18, "AuthenticationFailed", "Authentication failed.")
        session["user"] = user
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        verifier = base64.b64encode(hmac.digest(server_key, auth_message, "sha256"))
        return {"conversationId": 1, "done": True, "payload": b"v=" + verifier, "ok": 1.0}

    def _ok(self, command: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        return {"ok": 1.0}


_COMMANDS = {
    "hello": MongoStandIn._hello,
    "ismaster": MongoStandIn._hello,
    "ping": MongoStandIn._ok,
    "endsessions": MongoStandIn._ok,
    "buildinfo": MongoStandIn._build_info,
    "serverstatus": MongoStandIn._server_status,
    "replsetgetstatus": MongoStandIn._repl_status,
    "saslstart": MongoStandIn._sasl_start,
    "saslcontinue": MongoStandIn._sasl_continue,
}


def _failure(code: int, name: str, message: str) -> dict[str, Any]:
    return {"ok": 0.0, "errmsg": message, "code": code, "codeName": name}


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    stand_in: MongoStandIn

    def __init__(self, address: tuple[str, int], handler: type[_Handler]) -> None:
        super().__init__(address, handler)
        self.clients: set[socket.socket] = set()
        self.clients_lock = threading.Lock()
        self.sessions = 0

    def close_clients(self) -> None:
        with self.clients_lock:
            for client in self.clients:
                with contextlib.suppress(OSError):
                    client.shutdown(socket.SHUT_RDWR)
                client.close()
            self.clients.clear()


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        with self.server.clients_lock:
            self.server.clients.add(sock)
            self.server.sessions += 1
            session: dict[str, Any] = {"id": self.server.sessions}
        try:
            while self._one(sock, session):
                pass
        except (OSError, ValueError, struct.error):
            return  # the client went away, or sent what this stand-in does not speak
        finally:
            with self.server.clients_lock:
                self.server.clients.discard(sock)

    def _one(self, sock: socket.socket, session: dict[str, Any]) -> bool:
        header = _read(sock, _HEADER.size)
        if header is None:
            return False
        length, request_id, _, opcode = _HEADER.unpack(header)
        if not _HEADER.size < length <= MAX_MESSAGE:
            return False
        body = _read(sock, length - _HEADER.size)
        if body is None:
            return False
        stand_in = self.server.stand_in
        with stand_in.lock:
            mode = stand_in.state.mode
        if mode == "silent":
            return True  # read on, answer nothing
        if mode == "garbage":
            sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return False
        if opcode == OP_MSG:
            command = _op_msg_command(body)
            reply = _op_msg(stand_in.answer(command, session))
            sock.sendall(_message(reply, request_id, OP_MSG))
        elif opcode == OP_QUERY:
            command = _op_query_command(body)
            reply = _op_reply(stand_in.answer(command, session))
            sock.sendall(_message(reply, request_id, OP_REPLY))
        else:
            return False  # OP_COMPRESSED and legacy opcodes: never advertised, not spoken
        return True


def _read(sock: socket.socket, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = sock.recv(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _op_msg_command(body: bytes) -> dict[str, Any]:
    """The command of an OP_MSG: its kind-0 section (kind-1 document sequences, which only
    writes use, are not expected)."""
    (flags,) = struct.unpack_from("<I", body)
    if flags & 1:  # checksumPresent: the last 4 bytes are a CRC-32C
        body = body[:-4]
    if body[4] != 0:
        raise ValueError("the first section of an OP_MSG is its kind-0 body")
    (size,) = struct.unpack_from("<i", body, 5)
    return dict(bson.decode(body[5 : 5 + size]))


def _op_query_command(body: bytes) -> dict[str, Any]:
    """The query document of an OP_QUERY on `<db>.$cmd` (the legacy handshake)."""
    end = body.index(b"\x00", 4)  # after flags, the full collection name, NUL-terminated
    offset = end + 1 + 8  # numberToSkip, numberToReturn
    (size,) = struct.unpack_from("<i", body, offset)
    return dict(bson.decode(body[offset : offset + size]))


def _op_msg(reply: dict[str, Any]) -> bytes:
    return struct.pack("<I", 0) + b"\x00" + bson.encode(reply)


def _op_reply(reply: dict[str, Any]) -> bytes:
    return struct.pack("<iqii", 0, 0, 0, 1) + bson.encode(reply)


def _message(payload: bytes, response_to: int, opcode: int) -> bytes:
    request_id = int.from_bytes(os.urandom(3), "little")
    return _HEADER.pack(_HEADER.size + len(payload), request_id, response_to, opcode) + payload
