"""The `subscribe` and `messages` steps: a WebSocket read in the background while later
steps cause what it should receive, then judged on what it received.

`subscribe` opens the connection (a `websocket` target's URL, or an `http` target's base
URL upgraded plus `path`), sends its `send` items, and starts a reader thread that keeps
every message (at most `max_messages`, the first ones; later ones are counted) with the
time it arrived, until the journey closes the subscription after its cleanup. Its `ready`
conditions wait for the server's greeting, so no later event is missed.

`messages` waits (up to `within_s`) until what arrived meets its expectation: a
`sequence` of conditions each met by a distinct message (in order, or in any order), the
values at a path including some, or for `none`, that nothing meeting `where` arrives in
the whole window (a window not watched whole, because the subscription ended or messages
past `max_messages` were not kept, is an error: silence there proves nothing). Messages
are judged as they arrive, each once.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    WebSocketException,
)
from websockets.sync.client import ClientConnection, connect

from vigil.checks._urls import remember_url_credentials
from vigil.checks.http import resolve_tree
from vigil.checks.models import is_credential_header
from vigil.checks.websocket import (
    close_frame,
    shown_url,
    unreachable,
    unverified_tls,
    upgraded,
)
from vigil.config_errors import ConfigError
from vigil.context import RunContext
from vigil.masking import MASK, Masker
from vigil.scenarios import templating, trace
from vigil.scenarios.expect import rendered
from vigil.scenarios.models import Messages, Subscribe
from vigil.scenarios.steps_http import base_url, text
from vigil.scenarios.trace import StepOutcome
from vigil.spec.conditions import Condition, lookup
from vigil.spec.models import HttpTarget, WebsocketTarget
from vigil.spec.secret_shapes import redact_secret_shapes
from vigil.spec.secrets import SECRET_HEADERS

USER_AGENT = "vigil-scenario"
MAX_MESSAGE_BYTES = 1024 * 1024
CLOSE_TIMEOUT_S = 1.0
SHOWN_VALUES = 20


@dataclass(frozen=True)
class Message:
    at_ms: float  # since the journey started
    text: str
    document: Any  # the parsed JSON, or the text when it is not JSON


class Subscription:
    """One open WebSocket and the messages its reader thread kept."""

    def __init__(
        self, name: str, url: str, ws: ClientConnection, max_messages: int, t0: float
    ) -> None:
        self.name, self.url, self.ws = name, url, ws
        self.max_messages, self.t0 = max_messages, t0
        self.messages: list[Message] = []
        self.dropped = 0  # arrived after max_messages: counted, not kept
        self.ended: str | None = None  # why reading stopped (the server closed, ...)
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, name=f"vigil-ws-{name}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        reason = "the connection ended"
        while True:
            try:
                raw = self.ws.recv()
            except ConnectionClosed as exc:
                reason = _closed(exc)
                break
            except Exception as exc:  # the reader never dies silently: the reason is kept
                reason = f"reading failed: {type(exc).__name__}: {exc}"
                break
            text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
            message = Message((time.perf_counter() - self.t0) * 1000, text, _document(text))
            with self._cond:
                if len(self.messages) < self.max_messages:
                    self.messages.append(message)
                else:
                    self.dropped += 1
                self._cond.notify_all()
        with self._cond:
            self.ended = reason
            self._cond.notify_all()

    def after(self, seen: int, deadline: float) -> list[Message]:
        """The messages kept from index `seen` on, waiting until `deadline` (monotonic
        perf_counter) for at least one if there is none yet; [] when none came."""
        with self._cond:
            while len(self.messages) <= seen and self.ended is None:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                self._cond.wait(left)
            return self.messages[seen:]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        self._thread.join(timeout=CLOSE_TIMEOUT_S + 1)


def _document(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text  # not JSON: the message is the string `$`


def _closed(exc: ConnectionClosed) -> str:
    how = close_frame(exc)
    if not how:
        return "the connection closed without a close frame"
    return f"the server closed the connection ({how})"


# --- subscribe -----------------------------------------------------------------------------


@dataclass
class Opened:
    outcome: StepOutcome
    subscription: Subscription | None = None


def subscribe(
    spec: Subscribe,
    ctx: RunContext,
    variables: Mapping[str, Any],
    timeout_s: float,
    t0: float,
) -> Opened:
    """Open the subscription, send, wait for `ready`; ConfigError for a target that is
    not there or of a kind that cannot be subscribed to, or an unset `${VAR}`."""
    start = time.perf_counter()
    try:
        url = _url(spec, ctx, variables)
        headers = _headers(spec, ctx, variables)
        # `${ENV}` first (masked, as the websocket check's `send`), then templates.
        sends = [templating.render(resolve_tree(item, ctx, True), variables) for item in spec.send]
    except templating.TemplateError as exc:
        return Opened(trace.unset(exc))
    shown = shown_url(url)
    request = {"url": shown, "headers": _shown_headers(headers)}
    try:
        ws = _connect(url, headers, spec, ctx, timeout_s)
    except InvalidStatus as exc:
        response = exc.response
        body = redact_secret_shapes((response.body or b"").decode("utf-8", "replace"))[:200]
        said = f" ({body.strip().splitlines()[0]})" if body.strip() else ""
        reason = f"WebSocket {shown}: handshake refused: HTTP {response.status_code}{said}"
        return Opened(trace.error(reason, ms=_ms(start), evidence=lambda _: {"request": request}))
    except (OSError, TimeoutError, InvalidHandshake, WebSocketException) as exc:
        reason = f"WebSocket {shown}: {unreachable(exc, f'{timeout_s:.1f}')}"
        return Opened(trace.error(reason, ms=_ms(start), evidence=lambda _: {"request": request}))
    subscription = Subscription(spec.name, shown, ws, spec.max_messages, t0)
    try:
        for item in sends:
            ws.send(item if isinstance(item, str) else json.dumps(item))
    except (ConnectionClosed, OSError) as exc:
        reason = f"WebSocket {shown}: sending failed: {type(exc).__name__}: {exc}"
        return Opened(trace.error(reason, ms=_ms(start)), subscription)
    outcome = _ready(spec, subscription, variables, start + timeout_s, timeout_s)
    outcome.ms = _ms(start)
    outcome.evidence = _subscription_evidence(request, subscription)
    return Opened(outcome, subscription)


def _url(spec: Subscribe, ctx: RunContext, variables: Mapping[str, Any]) -> str:
    """The target's URL (plus `path`), upgraded to ws(s)://, with `query` appended; its
    credential parameters (`?access_token=`) remembered by the masker."""
    url, mark, own_query = _target_url(spec, ctx).partition("?")
    if spec.path:  # before the target's own query (`?access_token=${TOKEN}`), if any
        url = url.rstrip("/") + text(ctx.resolve(spec.path), variables)
    url = upgraded(url + mark + own_query)
    if not url.startswith(("ws://", "wss://")):
        raise ConfigError(f"target {spec.target!r} did not resolve to a ws:// or wss:// URL")
    pairs = [
        (key, text(ctx.resolve(item, secret=True) if isinstance(item, str) else item, variables))
        for key, value in spec.query.items()
        for item in (value if isinstance(value, list) else [value])
    ]
    if pairs:
        url += ("&" if "?" in url else "?") + urlencode(pairs)
    remember_url_credentials(url, ctx.masker)  # `?access_token=...` however it got there
    return url


def _target_url(spec: Subscribe, ctx: RunContext) -> str:
    target = ctx.spec.targets.get(spec.target)
    if isinstance(target, WebsocketTarget):
        return ctx.resolve(target.url)
    if isinstance(target, HttpTarget):
        return base_url(spec.target, target, ctx)
    kind = getattr(target, "kind", None)
    what = f"a {kind!r} target" if kind else "not declared"
    raise ConfigError(
        f"target {spec.target!r} is {what}; subscribe needs a 'websocket' or 'http' one"
    )


def _headers(spec: Subscribe, ctx: RunContext, variables: Mapping[str, Any]) -> dict[str, str]:
    """The target's headers, then the step's (which win); `auth` as an http step's."""
    target = ctx.spec.targets.get(spec.target)
    own_headers: Mapping[str, str] = getattr(target, "headers", {}) or {}
    merged: dict[str, str] = {}
    auth = spec.auth
    for source, own in ((own_headers, False), (spec.headers, True)):
        for name, value in source.items():
            credential = is_credential_header(name)
            if credential and auth is not None and (auth.none or not own):
                continue
            for known in [k for k in merged if k.lower() == name.lower()]:
                del merged[known]
            merged[name] = text(ctx.resolve(value, secret=credential), variables)
    if auth is not None and not auth.none:
        for known in [k for k in merged if k.lower() == "authorization"]:
            del merged[known]
        if auth.bearer is not None:
            secret = text(ctx.resolve(auth.bearer, secret=True), variables)
            merged["Authorization"] = f"Bearer {secret}"
        else:
            secret = text(ctx.resolve(auth.password or "", secret=True), variables)
            user = text(ctx.resolve(auth.username or ""), variables)
            merged["Authorization"] = (
                "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
            )
        ctx.masker.remember(secret)
    return merged


def _connect(
    url: str, headers: dict[str, str], spec: Subscribe, ctx: RunContext, timeout_s: float
) -> ClientConnection:
    target = ctx.spec.targets.get(spec.target)
    context = unverified_tls(url, getattr(target, "verify_tls", True))
    try:
        return connect(
            url,
            additional_headers=headers,
            user_agent_header=USER_AGENT,
            open_timeout=timeout_s,
            close_timeout=CLOSE_TIMEOUT_S,
            ping_interval=None,  # the server's pings are answered; we send none
            max_size=MAX_MESSAGE_BYTES,
            # Keep every message: the reader thread drains them as they come.
            max_queue=None,
            ssl=context,
            # Opened for the rest of the journey, closed by the engine after its cleanup:
            # not a `with` block, so the connection itself (no deprecation warning).
            legacy=True,
        )
    except InvalidURI as exc:
        raise ConfigError(f"target {spec.target!r}: not a valid WebSocket URL: {exc}") from None


def _ready(
    spec: Subscribe,
    subscription: Subscription,
    variables: Mapping[str, Any],
    deadline: float,
    timeout_s: float,
) -> StepOutcome:
    """Passed once a message meets every `ready` condition (at once without any)."""
    if not spec.ready:
        return trace.passed()
    try:
        ready = [rendered(c, variables) for c in spec.ready]
    except templating.TemplateError as exc:
        return trace.unset(exc)
    seen = 0
    while True:
        new = subscription.after(seen, deadline)
        for message in new:
            if all(c.holds(message.document) for c in ready):
                return trace.passed()
        seen += len(new)
        wanted = " and ".join(str(c) for c in ready)
        if subscription.ended is not None and not new:
            return trace.failed(f"{subscription.ended} before a message meeting {wanted}")
        if time.perf_counter() >= deadline:
            return trace.failed(
                f"no message meeting {wanted} within {trace.seconds(timeout_s)} s "
                f"({_count(seen)} received)"
            )


def _subscription_evidence(request: dict[str, Any], subscription: Subscription) -> trace.Evidence:
    def shown(masker: Masker) -> dict[str, Any]:
        texts = [m.text for m in subscription.messages[: trace.SHOWN_MESSAGES]]
        return {"request": request, "messages": trace.message_texts(texts, masker)}

    return shown


def _shown_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: MASK if SECRET_HEADERS.search(name) else value for name, value in headers.items()}


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _count(n: int) -> str:
    return f"{n} message" + ("" if n == 1 else "s")


# --- messages ------------------------------------------------------------------------------


@dataclass
class Watch:
    """A `messages` expectation, fed the subscription's messages as they arrive (each
    judged once): `done` once it is settled, `problem` says what is missing or wrong."""

    spec: Messages
    where: list[Condition]
    sequence: list[Condition]
    values: list[Any]  # include's values, templates filled
    matching: list[Message] = field(default_factory=list)  # the messages meeting `where`
    next_in_order: int = 0  # in_order: how many conditions of the sequence are met
    offending: Message | None = None  # none: the first message meeting `where`

    def feed(self, messages: list[Message]) -> None:
        for message in messages:
            if not all(c.holds(message.document) for c in self.where):
                continue
            self.matching.append(message)
            if self.spec.none and self.offending is None:
                self.offending = message
            pending = self.next_in_order < len(self.sequence)
            in_order = self.spec.order == "in_order"
            if pending and in_order and self.sequence[self.next_in_order].holds(message.document):
                self.next_in_order += 1

    @property
    def met(self) -> bool:
        """The expectation holds on what arrived so far (for `none`: nothing offended)."""
        if self.spec.none:
            return self.offending is None
        if self.spec.include is not None:
            return not missing_values(self.matching, self.spec.include.path, self.values)
        if self.spec.order == "in_order":
            return self.next_in_order >= len(self.sequence)
        return None not in match_any_order(self.sequence, [m.document for m in self.matching])

    @property
    def scope(self) -> str:
        """Which messages count, for a reason: " meeting <where>", or "" for all."""
        return f" meeting {' and '.join(str(c) for c in self.where)}" if self.where else ""

    def problem(self) -> str:
        scope = self.scope
        if self.spec.none and self.offending is not None:
            shown = redact_secret_shapes(self.offending.text)[:300]
            return f"received {shown} at {self.offending.at_ms:.0f} ms; expected no message{scope}"
        if self.spec.include is not None:
            path = self.spec.include.path
            lacking = missing_values(self.matching, path, self.values)
            return (
                f"missing {path} {', '.join(_value(v) for v in lacking)}; "
                f"{seen_text(self.matching, path, scope)}"
            )
        if self.spec.order == "in_order":
            met = self.next_in_order
            # Name the first one missing: those after it may have been seen, out of order.
            lacking_conditions = self.sequence[met : met + 1]
            after = f", after {self.sequence[met - 1]}" if met else ""
            rest = len(self.sequence) - met - 1
            order = f" (in order{after}" + (f"; {rest} more after it)" if rest else ")")
        else:
            matched = match_any_order(self.sequence, [m.document for m in self.matching])
            lacking_conditions = [
                c for c, m in zip(self.sequence, matched, strict=True) if m is None
            ]
            order = ""
        path = lacking_conditions[0].path
        missing = ", ".join(str(c) for c in lacking_conditions)
        return f"missing {missing}{order}; {seen_text(self.matching, path, scope)}"


def match_any_order(conditions: list[Condition], documents: list[Any]) -> list[int | None]:
    """For each condition the index of a distinct document meeting it (None where no
    assignment leaves one): a maximum bipartite matching, so overlapping conditions
    (`status exists`, `status == "paid"`) do not take each other's message."""
    candidates = [
        [i for i, doc in enumerate(documents) if condition.holds(doc)] for condition in conditions
    ]
    owner: dict[int, int] = {}  # document index -> condition index

    def assign(c: int, visited: set[int]) -> bool:
        for i in candidates[c]:
            if i in visited:
                continue
            visited.add(i)
            if i not in owner or assign(owner[i], visited):
                owner[i] = c
                return True
        return False

    for c in range(len(conditions)):
        assign(c, set())
    matched: list[int | None] = [None] * len(conditions)
    for i, c in owner.items():
        matched[c] = i
    return matched


def match_in_order(conditions: list[Condition], documents: list[Any]) -> int:
    """How many of `conditions` distinct documents meet in order (a subsequence)."""
    met = 0
    for doc in documents:
        if met < len(conditions) and conditions[met].holds(doc):
            met += 1
    return met


def missing_values(messages: list[Message], path: str, values: list[Any]) -> list[Any]:
    seen = [lookup(m.document, path) for m in messages]
    return [v for v in values if not any(same(s, v) for s in seen)]


def same(seen: Any, wanted: Any) -> bool:
    """Equal as JSON values are: a boolean is not the number 1."""
    if isinstance(seen, bool) != isinstance(wanted, bool):
        return False
    return bool(seen == wanted)


def seen_text(messages: list[Message], path: str, scope: str = "") -> str:
    """ "saw status: pending, reserved, shipped (3 messages meeting ...)"."""
    if not messages:
        return f"saw no message{scope}"
    values = [lookup(m.document, path) for m in messages]
    shown = [_value(v) for v in values if _is_value(v)]
    listed = ", ".join(shown[-SHOWN_VALUES:]) or "(none)"
    more = f"… {len(shown) - SHOWN_VALUES} earlier, " if len(shown) > SHOWN_VALUES else ""
    return f"saw {path}: {more}{listed} ({_count(len(messages))}{scope})"


def _is_value(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def watch_for(spec: Messages, variables: Mapping[str, Any]) -> Watch:
    """The step's expectation with its templates filled (TemplateError if one is unset)."""
    include = spec.include
    return Watch(
        spec,
        where=[rendered(c, variables) for c in spec.where],
        sequence=[rendered(c, variables) for c in spec.sequence or []],
        values=templating.render(include.values, variables) if include is not None else [],
    )


def messages(
    spec: Messages, subscription: Subscription, variables: Mapping[str, Any], within_s: float
) -> StepOutcome:
    """Wait up to `within_s` for what the subscription received to meet `spec`."""
    start = time.perf_counter()
    try:
        watch = watch_for(spec, variables)
    except templating.TemplateError as exc:
        return trace.unset(exc)
    deadline = start + within_s
    seen = 0
    settled = _settled(watch, spec)
    cut_short = False  # the subscription ended before the window did
    while True:
        new = subscription.after(seen, deadline)
        seen += len(new)
        watch.feed(new)
        if settled(watch) or time.perf_counter() >= deadline:
            break
        if subscription.ended and not new:
            cut_short = True
            break
    if watch.met and spec.none and (cut_short or subscription.dropped):
        # Silence proves nothing where nothing was watched.
        outcome = trace.error(_unwatched(watch, subscription, within_s))
    elif watch.met:
        outcome = trace.passed()
    else:
        outcome = trace.failed(watch.problem())
        if subscription.ended and not spec.none:
            outcome.reason += f"; {subscription.ended}"
        if subscription.dropped and not spec.none:
            outcome.reason += f"; {_not_kept(subscription)}"
    outcome.ms = _ms(start)
    outcome.evidence = _messages_evidence(subscription, watch)
    return outcome


def _unwatched(watch: Watch, subscription: Subscription, within_s: float) -> str:
    """Why `none` cannot be told: messages were not kept, or the subscription ended."""
    why = (
        _not_kept(subscription)
        if subscription.dropped
        else f"{subscription.ended} before the end of the window"
    )
    return (
        f"cannot tell that no message{watch.scope} arrives within "
        f"{trace.seconds(within_s)} s: {why}"
    )


def _not_kept(subscription: Subscription) -> str:
    return (
        f"{subscription.dropped} messages after the first {subscription.max_messages} were not "
        "kept (max_messages)"
    )


def _settled(watch: Watch, spec: Messages) -> Callable[[Watch], bool]:
    if spec.none:  # only an offending message ends the wait early
        return lambda w: w.offending is not None
    return lambda w: w.met


def _messages_evidence(subscription: Subscription, watch: Watch) -> trace.Evidence:
    def shown(masker: Masker) -> dict[str, Any]:
        out: dict[str, Any] = {
            "subscription": subscription.name,
            "url": subscription.url,
            "received": len(subscription.messages) + subscription.dropped,
            "matching": len(watch.matching),
            "messages": trace.message_texts([m.text for m in watch.matching], masker),
        }
        if subscription.dropped:
            out["not_kept"] = subscription.dropped
        return out

    return shown
