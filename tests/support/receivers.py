"""Real receivers for alert tests: a webhook endpoint and an SMTP server on 127.0.0.1.

WebhookReceiver is an HTTP server in a thread. With a secret it verifies
`X-Vigil-Signature` (HMAC-SHA256 of the body) and answers 401 to a bad one; it can be told
to answer an error status, or to go down (its port closed: connection refused) and come
back up on the same port. SmtpCapture is an aiosmtpd server capturing every message,
optionally requiring a login. Both record what they accepted, so a test can count the
messages a person would have received. StoredRuns writes the runs they react to.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from vigil.context import ConnectionInfo
from vigil.result import CheckResult, Status
from vigil.results import ResultStore, RunRef
from vigil.stack.postgres import free_port

SIGNATURE_HEADER = "X-Vigil-Signature"
MAX_BODY = 5_000_000


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool | None  # None: no secret to check against

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """`with WebhookReceiver(secret="s3cret") as hook: ... hook.received`."""

    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret
        self.status = 200  # what accepted requests are answered with
        self.received: list[Received] = []  # answered 2xx, signature good
        self.attempts: list[Received] = []  # every request that reached the server
        self._lock = threading.Lock()
        self.port = free_port()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def payloads(self) -> list[Any]:
        with self._lock:
            return [r.json for r in self.received]

    def answer(self, status: int) -> None:
        self.status = status

    def start(self) -> WebhookReceiver:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def go_down(self) -> None:
        """Close the port: senders get "connection refused"."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def come_up(self) -> None:
        self.start()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.go_down()

    def _record(self, received: Received, status: int) -> None:
        with self._lock:
            self.attempts.append(received)
            if 200 <= status < 300:
                self.received.append(received)

    def verify(self, body: bytes, header: str | None) -> bool | None:
        if self.secret is None:
            return None
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return header is not None and hmac.compare_digest(expected, header)


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
            body = self.rfile.read(length)
            signature_ok = receiver.verify(body, self.headers.get(SIGNATURE_HEADER))
            status = 401 if signature_ok is False else receiver.status
            got = Received(self.path, dict(self.headers.items()), body, signature_ok)
            receiver._record(got, status)
            answer = b"ok" if status < 300 else b"receiver says no"
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _Capture:
    def __init__(self, sink: SmtpCapture) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.sink._lock:
            self.sink.messages.append(message)
            self.sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"


PLAIN_LOOPBACK = {"disable_tls": True, "allow_insecure_auth": True}


class SmtpCapture:
    """A real SMTP server on 127.0.0.1; with `login`, AUTH is required and checked."""

    def __init__(self, login: str = "", password: str = "") -> None:
        self.login, self.password = login, password
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins = 0  # AUTH attempts that reached the server, right or wrong
        self._lock = threading.Lock()
        self.port = free_port()
        options: dict[str, Any] = {}
        if login:
            options = {"authenticator": self._authenticate, "auth_required": True,
                       "auth_require_tls": False}  # fmt: skip
        self._controller = Controller(
            _Capture(self), hostname="127.0.0.1", port=self.port, ready_timeout=10, **options
        )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        with self._lock:
            self.logins += 1
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (self.login, self.password)
        return AuthResult(success=ok, handled=False)

    def connection(
        self, conn_id: str = "smtp_test", extra: dict[str, Any] | None = None
    ) -> ConnectionInfo:
        """By default, what this server needs: no STARTTLS (it has no certificate), and a
        login over plain text allowed (loopback). Pass `extra` to test other settings."""
        return ConnectionInfo(
            conn_id=conn_id, conn_type="smtp", host="127.0.0.1", port=self.port,
            login=self.login, password=self.password,
            extra=PLAIN_LOOPBACK if extra is None else extra,
        )  # fmt: skip

    def __enter__(self) -> SmtpCapture:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


# --- feeding the results store: sequences of real runs for alert rules to judge ----------

T0 = datetime(2025, 3, 3, 6, 0, tzinfo=UTC)  # a Monday


@dataclass
class StoredRuns:
    """Writes runs into a real ResultStore, one per `add`, `step` apart from `t0`.

    `checks` maps check_id -> (kind, target); statuses are "passed", "failed", "error", or
    ("skipped", blocker_target) for a check skipped because that target is unhealthy.
    """

    store: ResultStore
    checks: dict[str, tuple[str, str]]
    environment: str = "demo"
    cadence: str = "daily"
    t0: datetime = T0
    step: timedelta = timedelta(hours=1)
    runs: list[RunRef] = field(default_factory=list)
    starts: list[datetime] = field(default_factory=list)

    def add(
        self,
        statuses: dict[str, Any],
        *,
        durations: dict[str, float] | None = None,
        cadence: str | None = None,
        dry_run: bool = False,
        at: datetime | None = None,
    ) -> RunRef:
        start = at or self.t0 + self.step * len(self.runs)
        cadence = cadence or self.cadence
        run = RunRef(self.environment, cadence, f"{self.environment}_{cadence}",
                     f"run{len(self.runs) + 1:03d}")  # fmt: skip
        self.store.start_run(run, started_at=start, dry_run=dry_run)
        results = [
            self._result(check_id, status, start, (durations or {}).get(check_id, 10.0))
            for check_id, status in statuses.items()
        ]
        self.store.record(run, results)
        self.store.finish_run(run, ended_at=start + timedelta(minutes=5))
        self.runs.append(run)
        self.starts.append(start)
        return run

    def _result(self, check_id: str, status: Any, start: datetime, ms: float) -> CheckResult:
        kind, target = self.checks.get(check_id, ("health", "api"))
        details: dict[str, Any] = {}
        message = f"{check_id}: {status}"
        if isinstance(status, tuple):
            status, blocker = status
            reason = f"{blocker} is unhealthy ({blocker}_up: down)"
            details, message = {"skipped_because": reason}, f"skipped: {reason}"
        return CheckResult(
            check_id=check_id, family=kind, target=target, status=Status(status),
            started_at=start, duration_ms=ms, message=message, details=details,
        )  # fmt: skip

    @property
    def last(self) -> RunRef:
        return self.runs[-1]

    @property
    def now(self) -> datetime:
        """A moment just after the newest run: when its evaluate task would run."""
        return self.starts[-1] + timedelta(minutes=6)
