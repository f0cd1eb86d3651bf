"""WebSocket health check: the handshake, optionally one message sent, then a message that
meets the check's conditions, all within `timeout_s`.

Verdicts: a handshake the server refuses (any HTTP status but 101), a feed that stays
silent, closes, or sends nothing matching are `failed`, with the reason; a server that
cannot be reached, answers no handshake in time, or answers what is not HTTP is an
`error`. Credentials go in headers or the URL's query, as `${VAR}` references, and are
masked in every message and piece of evidence.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    WebSocketException,
)
from websockets.sync.client import ClientConnection, connect

from vigil.checks._common import Timer, build, error, fmt_ms, guarded, target_of
from vigil.checks._urls import remember_url_credentials
from vigil.checks.models import WebsocketCheck
from vigil.config_errors import ConfigError
from vigil.context import RunContext
from vigil.http_client import SHOWN_RESPONSE_HEADERS
from vigil.result import CheckResult, Status
from vigil.spec.conditions import Condition
from vigil.spec.models import WebsocketTarget
from vigil.spec.secret_shapes import redact_secret_shapes

CHECK_TYPE = "websocket"
USER_AGENT = "vigil-health-check"
MAX_MESSAGE_BYTES = 1024 * 1024
SHOWN_MESSAGES = 5  # the last few messages read, as evidence
SHOWN_CHARS = 500
# The handshake headers kept as evidence: a few that tell what answered, never a cookie or
# a token the server handed out (the server's secrets, which the run's masker cannot know).
SHOWN_HANDSHAKE_HEADERS = (
    *SHOWN_RESPONSE_HEADERS,
    "sec-websocket-protocol",
    "sec-websocket-extensions",
)
_SCHEMES = {"http://": "ws://", "https://": "wss://"}


@dataclass
class Session:
    """What one connection showed: timings, the handshake's headers, the messages read."""

    connected: bool = False  # the handshake succeeded
    handshake_ms: float = 0.0
    message_ms: float | None = None  # from the start of the connect to the matching message
    headers: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)  # the last SHOWN_MESSAGES, cut
    read: int = 0
    matched: list[dict[str, Any]] | None = None  # the matching message's condition outcomes
    last_outcomes: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def run(check: WebsocketCheck, ctx: RunContext) -> list[CheckResult]:
    return guarded(check, ctx, CHECK_TYPE, _probe)


def _probe(check: WebsocketCheck, ctx: RunContext, timer: Timer) -> CheckResult:
    target = target_of(check, ctx, WebsocketTarget)
    url = resolve_url(check, target, ctx)
    headers = _headers(check, target, ctx)
    shown = shown_url(url)
    details: dict[str, Any] = {"url": shown}
    session = Session()
    deadline = time.monotonic() + check.timeout_s
    try:
        with _connect(url, headers, check, target) as ws:
            session.connected, session.handshake_ms = True, timer.ms()
            session.headers = dict(ws.response.headers.raw_items()) if ws.response else {}
            _send(ws, check, ctx)
            _judge_headers(check, session)
            if check.expect_message:
                _await_match(ws, check, session, deadline, timer)
    except InvalidStatus as exc:
        return _refused(check, ctx, timer, shown, exc, details)
    except (OSError, TimeoutError, InvalidHandshake, WebSocketException) as exc:
        if not session.connected:  # no connection, no handshake, or no HTTP
            reason = unreachable(exc, f"{check.timeout_s:g}")
            return error(check, ctx, CHECK_TYPE, timer, f"WebSocket {shown}: {reason}", details)
        session.problems.append(f"the connection broke: {type(exc).__name__}: {exc}")
    return _result(check, ctx, timer, shown, session, details)


def resolve_url(check: WebsocketCheck, target: WebsocketTarget, ctx: RunContext) -> str:
    """The target's URL, references resolved, http(s) upgraded to ws(s). Its credentials
    (a password, a credential query parameter such as `access_token`) are remembered by
    the masker; the rest stays readable."""
    url = ctx.resolve(target.url)
    remember_url_credentials(url, ctx.masker)
    url = upgraded(url)
    if not url.startswith(("ws://", "wss://")):
        # Name the spec's value, not what it resolved to: that may carry a credential.
        raise ConfigError(
            f"url of target {check.target!r} ({target.url!r}) did not resolve to a "
            "ws://, wss://, http:// or https:// URL"
        )
    return url


def upgraded(url: str) -> str:
    """An http(s):// URL as the ws(s):// one of the same place; any other as it is."""
    for http, ws in _SCHEMES.items():
        if url.startswith(http):
            return ws + url[len(http) :]
    return url


def shown_url(url: str) -> str:
    """The URL with a password in its user info hidden (`ws://user:***@host`); references'
    values (a query token) are masked by the run's masker."""
    return re.sub(r"^(wss?://[^/:@]*:)[^/@]*@", r"\1***@", url)


def _headers(check: WebsocketCheck, target: WebsocketTarget, ctx: RunContext) -> dict[str, str]:
    """The target's headers and the check's (which win), references resolved and masked."""
    merged: dict[str, str] = {}
    for source in (target.headers, check.headers):
        for name, value in source.items():
            for known in [k for k in merged if k.lower() == name.lower()]:
                del merged[known]
            merged[name] = ctx.resolve(value, secret=True)
    return merged


def _connect(
    url: str, headers: dict[str, str], check: WebsocketCheck, target: WebsocketTarget
) -> ClientConnection:
    context = unverified_tls(url, target.verify_tls)
    try:
        return connect(
            url,
            additional_headers=headers,
            user_agent_header=USER_AGENT,
            open_timeout=check.timeout_s,
            close_timeout=min(check.timeout_s, 2.0),
            ping_interval=None,  # one short conversation: no keep-alive pings
            max_size=MAX_MESSAGE_BYTES,
            ssl=context,
        )
    except InvalidURI as exc:
        raise ConfigError(f"url of target {check.target!r} is not a valid URL: {exc}") from None


def unverified_tls(url: str, verify_tls: bool) -> ssl.SSLContext | None:
    """For a wss:// URL whose certificate is not to be verified, a context that does not;
    else None (the library's default, verifying)."""
    if not url.startswith("wss://") or verify_tls:
        return None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _send(ws: ClientConnection, check: WebsocketCheck, ctx: RunContext) -> None:
    """The check's message, if any: a string as is, anything else as JSON."""
    if check.send is None:
        return
    if isinstance(check.send, str):
        ws.send(ctx.resolve(check.send, secret=True))
    else:
        ws.send(json.dumps(_resolve_tree(check.send, ctx)))


def _resolve_tree(value: Any, ctx: RunContext) -> Any:
    if isinstance(value, str):
        return ctx.resolve(value, secret=True)
    if isinstance(value, dict):
        return {k: _resolve_tree(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_tree(v, ctx) for v in value]
    return value


def _judge_headers(check: WebsocketCheck, session: Session) -> None:
    for condition in check.conditions:
        if condition.header is None:
            continue
        outcome = condition.evaluate(None, session.headers)
        if not outcome.ok:
            session.problems.append(
                f"handshake condition {redact_secret_shapes(outcome.text)} does not hold"
            )


def _await_match(
    ws: ClientConnection, check: WebsocketCheck, session: Session, deadline: float, timer: Timer
) -> None:
    """Read messages until one meets the conditions, time runs out, or `max_messages`."""
    body = [c for c in check.conditions if c.header is None]
    while session.read < check.max_messages:
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            raw = ws.recv(timeout=left)
        except TimeoutError:
            session.problems.append(_silence(check, session))
            return
        except ConnectionClosed as exc:
            session.problems.append(_closed(exc, session))
            return
        session.read += 1
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        shown = redact_secret_shapes(text)[:SHOWN_CHARS]  # tokens the server sent: hidden
        session.messages = [*session.messages, shown][-SHOWN_MESSAGES:]
        outcomes = _evaluate(body, text)
        if all(o["ok"] for o in outcomes):
            session.matched, session.message_ms = outcomes, timer.ms()
            return
        session.last_outcomes = outcomes
    session.problems.append(
        f"none of the {session.read} messages read matched; the last: {_failing(session)}"
    )


def _evaluate(conditions: list[Condition], text: str) -> list[dict[str, Any]]:
    try:
        document: Any = json.loads(text)
    except ValueError:
        document = text  # not JSON: the message is the string `$`
    outcomes = []
    for condition in conditions:
        outcome = condition.evaluate(document)
        text_shown = redact_secret_shapes(outcome.text)
        outcomes.append({"condition": str(condition), "ok": outcome.ok, "text": text_shown})
    return outcomes


def _failing(session: Session) -> str:
    return "; ".join(o["text"] for o in session.last_outcomes if not o["ok"]) or "(none)"


def _silence(check: WebsocketCheck, session: Session) -> str:
    if not session.read:
        return f"no message within {check.timeout_s:g}s (a silent feed)"
    return (
        f"no matching message within {check.timeout_s:g}s ({session.read} read; the last: "
        f"{_failing(session)})"
    )


def _closed(exc: ConnectionClosed, session: Session) -> str:
    how = close_frame(exc)
    what = "a matching message" if session.read else "any message"
    return f"the server closed the connection ({how or 'without a close frame'}) before {what}"


def close_frame(exc: ConnectionClosed) -> str:
    """The server's close frame: "code 1008: tenant suspended" (its reason with secret
    shapes redacted), or "" when none came."""
    frame = exc.rcvd
    if frame is None:
        return ""
    reason = redact_secret_shapes(frame.reason) if frame.reason else ""
    return f"code {frame.code}" + (f": {reason}" if reason else "")


def _refused(
    check: WebsocketCheck,
    ctx: RunContext,
    timer: Timer,
    shown: str,
    exc: InvalidStatus,
    details: dict[str, Any],
) -> CheckResult:
    """The server answered the upgrade with an HTTP status: refused, not unreachable."""
    response = exc.response
    body = redact_secret_shapes((response.body or b"").decode("utf-8", "replace"))
    body = body[:SHOWN_CHARS].strip()
    details["response"] = {
        "status": response.status_code,
        "headers": _shown_headers(dict(response.headers.raw_items())),
        "body": body,
    }
    said = f" ({body.splitlines()[0][:200]})" if body else ""
    message = (
        f"WebSocket {shown}: handshake refused: HTTP {response.status_code} "
        f"{response.reason_phrase}{said}"
    )
    return build(
        check,
        ctx,
        CHECK_TYPE,
        timer,
        Status.FAILED,
        message,
        observed={"handshake_status": response.status_code},
        expected=_expected(check),
        details=details,
    )


def _shown_headers(headers: dict[str, str]) -> dict[str, str]:
    """The few telling handshake headers, secret-shaped values hidden (Set-Cookie and the
    like are left out: they carry what the server handed out)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    return {
        name: redact_secret_shapes(lowered[name])
        for name in SHOWN_HANDSHAKE_HEADERS
        if name in lowered
    }


def unreachable(exc: BaseException, within_s: str) -> str:
    """Why no WebSocket was opened (`within_s`: the bound, as the message shows it)."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listening?)"
    if isinstance(exc, TimeoutError):
        return f"no handshake within {within_s}s (timed out)"
    if isinstance(exc, InvalidHandshake):
        return f"the answer to the handshake is not a WebSocket upgrade: {exc}"
    if isinstance(exc, OSError):
        return f"cannot connect: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"


def _result(
    check: WebsocketCheck,
    ctx: RunContext,
    timer: Timer,
    shown: str,
    session: Session,
    details: dict[str, Any],
) -> CheckResult:
    latency = session.message_ms if session.message_ms is not None else session.handshake_ms
    budget = check.latency_budget_ms
    if budget is not None and latency > budget and not session.problems:
        session.problems.append(f"took {fmt_ms(latency)}, over the {fmt_ms(budget)} budget")
    details["handshake_headers"] = _shown_headers(session.headers)
    details["messages"] = session.messages
    observed: dict[str, Any] = {
        "handshake_ms": session.handshake_ms,
        "message_ms": session.message_ms,
        "messages_read": session.read,
        "conditions": session.matched if session.matched is not None else session.last_outcomes,
    }
    if session.problems:
        status, message = Status.FAILED, f"WebSocket {shown}: " + "; ".join(session.problems)
    else:
        status, message = Status.PASSED, f"WebSocket {shown} {_summary(check, session)}"
    return build(
        check,
        ctx,
        CHECK_TYPE,
        timer,
        status,
        message,
        observed=observed,
        expected=_expected(check),
        details=details,
    )


def _summary(check: WebsocketCheck, session: Session) -> str:
    lead = f"accepted the handshake in {fmt_ms(session.handshake_ms)}"
    if not check.expect_message:
        return lead + (", took the message" if check.send is not None else "")
    which = "a matching message" if check.conditions else "a message"
    ordinal = f" (message {session.read})" if session.read > 1 else ""
    return f"{lead}; {which} after {fmt_ms(session.message_ms or 0.0)}{ordinal}"


def _expected(check: WebsocketCheck) -> dict[str, Any]:
    expected: dict[str, Any] = {"handshake": 101}
    if check.expect_message:
        expected["message"] = [str(c) for c in check.conditions] or "any"
    if check.latency_budget_ms is not None:
        expected["latency_budget_ms"] = check.latency_budget_ms
    return expected
