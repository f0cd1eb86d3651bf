"""HTTP health check: one request; its status, latency, JSON body conditions, and the
target's own dependency report.

Sessions are kept per thread and per target so repeated checks reuse keep-alive
connections without sharing a `requests.Session` across threads.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3
from requests.structures import CaseInsensitiveDict

from vigil.checks._common import Timer, build, error, fmt_ms, guarded, target_of
from vigil.context import ConfigError, RunContext
from vigil.result import CheckResult, Status
from vigil.spec.models import HttpCheck, HttpTarget
from vigil.spec.secrets import SECRET_HEADERS

CHECK_TYPE = "http"
# A health endpoint answers in kilobytes; reading more only costs memory and time.
MAX_BODY_BYTES = 1 << 20
EXCERPT_CHARS = 500
SHOWN_RESPONSE_HEADERS = ("content-type", "content-length", "server", "location", "retry-after")
# Words health endpoints use for a dependency that is fine (Spring, .NET, RFC draft, ...).
OK_WORDS = frozenset({"ok", "up", "healthy", "pass", "passed", "green"})

_local = threading.local()


class BodyTimeout(Exception):
    """The response began but its body did not arrive within the check's timeout."""


@dataclass
class Request:
    method: str
    url: str
    headers: CaseInsensitiveDict[str]
    body: Any
    verify: bool

    def shown(self, ctx: RunContext) -> dict[str, Any]:
        """The request as evidence: secret header values hidden, URL password hidden."""
        headers = {
            name: "***" if SECRET_HEADERS.search(name) else ctx.mask(value)
            for name, value in self.headers.items()
        }
        return {"method": self.method, "url": redact_url(self.url), "headers": headers}


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool
    latency_ms: float


@dataclass
class Verdict:
    lead: str = ""  # how it answered: "answered 503, expected 200"
    status_ok: bool = True  # the status is among the expected ones
    problems: list[str] = field(default_factory=list)  # assertions that do not hold
    errors: list[str] = field(default_factory=list)  # what could not be evaluated
    observed: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


def run(check: HttpCheck, ctx: RunContext) -> list[CheckResult]:
    return guarded(check, ctx, CHECK_TYPE, _probe)


def _probe(check: HttpCheck, ctx: RunContext, timer: Timer) -> CheckResult:
    target = target_of(check, ctx, HttpTarget)
    request = build_request(check, target, ctx)
    what = f"{request.method} {redact_url(request.url)}"
    details: dict[str, Any] = {"request": request.shown(ctx)}
    try:
        response = send(request, check.timeout_s, client_for(check.target))
    except (requests.RequestException, urllib3.exceptions.HTTPError, BodyTimeout) as exc:
        return error(check, ctx, CHECK_TYPE, timer, f"{what}: {describe(exc, check)}", details)
    details["response"] = _shown_response(response)
    verdict = evaluate(check, response)
    details.update(verdict.details)
    expected = _expected(check)
    failed = verdict.problems or not verdict.status_ok
    status = Status.ERROR if verdict.errors else Status.FAILED if failed else Status.PASSED
    message = "; ".join([f"{what} {verdict.lead}", *verdict.problems, *verdict.errors])
    return build(
        check,
        ctx,
        CHECK_TYPE,
        timer,
        status,
        message,
        observed=verdict.observed,
        expected=expected,
        details=details,
    )


def build_request(check: HttpCheck, target: HttpTarget, ctx: RunContext) -> Request:
    base = ctx.resolve(target.base_url).rstrip("/")
    if not re.match(r"^https?://[^/]", base):
        # Name the spec's value, not what it resolved to: that may carry a password.
        raise ConfigError(
            f"base_url of target {check.target!r} ({target.base_url!r}) did not resolve to "
            "an http:// or https:// URL"
        )
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    for source in (target.headers, check.headers):  # the check's headers win
        for name, value in source.items():
            headers[name] = ctx.resolve(value, secret=True)
    verify = target.verify_tls if check.verify_tls is None else check.verify_tls
    return Request(
        check.method,
        # Whatever a path references ("?sig=${SIG}") may be a credential: masked like one.
        base + ctx.resolve(check.path, secret=True),
        headers,
        _resolve_tree(check.body, ctx),
        verify,
    )


def _resolve_tree(value: Any, ctx: RunContext) -> Any:
    """`${VAR}` references inside a JSON body; their values may be credentials."""
    if isinstance(value, str):
        return ctx.resolve(value, secret=True)
    if isinstance(value, dict):
        return {k: _resolve_tree(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_tree(v, ctx) for v in value]
    return value


class Client:
    """A keep-alive session for one thread and target.

    `requests` re-reads proxy and CA-bundle variables from the whole environment on every
    request (`trust_env`), a sixth of a health check's CPU time; they are read once per
    URL origin here instead, with the same rules (`*_PROXY`, `NO_PROXY`,
    `REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`).
    """

    def __init__(self) -> None:
        self.session = requests.Session()
        self.session.trust_env = False
        self._settings: dict[tuple[str, bool], tuple[dict[str, str], bool | str]] = {}

    def settings(self, url: str, verify: bool) -> tuple[dict[str, str], bool | str]:
        origin = "/".join(url.split("/", 3)[:3])
        key = (origin, verify)
        if key not in self._settings:
            proxies = requests.utils.get_environ_proxies(origin)
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            self._settings[key] = (proxies, bundle if verify and bundle else verify)
        return self._settings[key]


def client_for(target: str) -> Client:
    clients: dict[str, Client] | None = getattr(_local, "clients", None)
    if clients is None:
        clients = _local.clients = {}
    client = clients.get(target)
    if client is None:
        client = clients[target] = Client()
    return client


def send(request: Request, timeout_s: float, client: Client) -> Response:
    proxies, verify = client.settings(request.url, request.verify)
    start = time.perf_counter()
    resp = client.session.request(
        request.method,
        request.url,
        headers=request.headers,
        json=request.body,
        timeout=timeout_s,
        verify=verify,
        proxies=proxies,
        stream=True,
        # A redirect is an answer to judge (and its Location to show), not to follow:
        # following it would also send the target's credential headers to another host.
        allow_redirects=False,
    )
    try:
        body, truncated = _read_body(resp, start + timeout_s)
    finally:
        resp.close()
    latency = (time.perf_counter() - start) * 1000
    return Response(resp.status_code, dict(resp.headers), body, truncated, round(latency, 3))


def _read_body(resp: requests.Response, deadline: float) -> tuple[bytes, bool]:
    """At most MAX_BODY_BYTES, and no later than `deadline` (a body that trickles in).

    `read1` returns whatever has arrived, so the deadline is checked as bytes come in;
    `read(n)` would block until n bytes, however slowly they drip.
    """
    chunks: list[bytes] = []
    size = 0
    while size < MAX_BODY_BYTES:
        chunk = resp.raw.read1(64 * 1024, decode_content=True)
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
        if time.perf_counter() > deadline:
            raise BodyTimeout(f"body incomplete after {size} bytes")
    return b"".join(chunks)[:MAX_BODY_BYTES], True


def describe(exc: Exception, check: HttpCheck) -> str:
    """A short reason for a request that got no usable answer."""
    text = str(exc)
    if isinstance(exc, BodyTimeout):
        return f"response body not received within {check.timeout_s:g}s ({exc})"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error: {_innermost(text)}"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"connection not established within {check.timeout_s:g}s"
    if isinstance(exc, requests.exceptions.ReadTimeout) or "Read timed out" in text:
        return f"no answer within {check.timeout_s:g}s (timed out)"
    if "Connection refused" in text:
        return "connection refused (nothing listening?)"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "cannot resolve the host name"
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return f"invalid URL: {text}"
    return f"request failed: {_innermost(text)}"


def _innermost(text: str) -> str:
    """The last reason in urllib3's nested "(Caused by X('...: reason'))" chains."""
    if ssl_reason := re.search(r"\[SSL[^\]]*\][^'\"()]*", text):
        return ssl_reason[0].strip()
    text = re.sub(r"<[^>]+ at 0x[0-9a-f]+>", "", text)
    caused = re.findall(r"Caused by \w+\((.*)\)\)?$", text)
    core = caused[-1] if caused else text
    return core.strip(" '\"():")[:300]


def evaluate(check: HttpCheck, response: Response) -> Verdict:
    """Compare the response with what the check expects."""
    verdict = Verdict(observed={"status": response.status, "latency_ms": response.latency_ms})
    status_ok = response.status in check.expect_status
    verdict.status_ok = status_ok
    verdict.lead = f"answered {response.status} in {fmt_ms(response.latency_ms)}"
    if not status_ok:
        wanted = " or ".join(str(s) for s in check.expect_status)
        verdict.lead = f"answered {response.status}, expected {wanted}"
    budget = check.latency_budget_ms
    if budget is not None and response.latency_ms > budget:
        verdict.problems.append(
            f"took {fmt_ms(response.latency_ms)}, over the {fmt_ms(budget)} latency budget"
        )
    if check.conditions or check.check_dependencies:
        _evaluate_body(check, response, status_ok, verdict)
    return verdict


def _evaluate_body(check: HttpCheck, response: Response, status_ok: bool, verdict: Verdict) -> None:
    try:
        if response.truncated:
            raise ValueError(f"body larger than {MAX_BODY_BYTES} bytes, not parsed")
        doc = json.loads(response.body.decode(_charset(response.headers)))
    except (ValueError, LookupError) as exc:
        # A wrong status already explains an error page; otherwise the body is malformed.
        if status_ok:
            verdict.errors.append(f"body is not valid JSON ({str(exc)[:120]})")
        return
    if check.conditions:
        _evaluate_conditions(check, doc, verdict)
    if check.check_dependencies:
        _evaluate_dependencies(doc, status_ok, verdict)


def _evaluate_conditions(check: HttpCheck, doc: Any, verdict: Verdict) -> None:
    outcomes = []
    for condition in check.conditions:
        outcome = condition.evaluate(doc)
        outcomes.append({"condition": str(condition), "ok": outcome.ok, "actual": outcome.actual})
        if not outcome.ok:
            verdict.problems.append(f"condition {outcome.text} does not hold")
    verdict.observed["conditions"] = outcomes
    verdict.details["conditions"] = outcomes


def _evaluate_dependencies(doc: Any, status_ok: bool, verdict: Verdict) -> None:
    raw = doc.get("dependencies") if isinstance(doc, dict) else None
    report = dependency_statuses(raw)
    if report is None:
        if status_ok:
            verdict.errors.append("body has no 'dependencies' report ({name: status} expected)")
        return
    verdict.observed["dependencies"] = raw
    bad = {name: state for name, state in report.items() if state.lower() not in OK_WORDS}
    if len(bad) == 1:
        name, state = next(iter(bad.items()))
        verdict.problems.append(f"dependency {name} is {state}")
    elif bad:
        listed = ", ".join(f"{name} ({state})" for name, state in bad.items())
        verdict.problems.append(f"{len(bad)} dependencies not ok: {listed}")


def dependency_statuses(raw: Any) -> dict[str, str] | None:
    """{name: status} from `{name: "ok"}`, `{name: {"status": "ok"}}` or a list of
    `{"name": ..., "status": ...}`; None when `raw` is no such report."""
    if isinstance(raw, dict):
        return {str(name): _state(value) for name, value in raw.items()}
    if isinstance(raw, list) and all(isinstance(i, dict) and "name" in i for i in raw):
        return {str(item["name"]): _state(item) for item in raw}
    return None


def _state(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("status", value.get("state"))
    if isinstance(value, bool):
        return "ok" if value else "down"
    return "unknown" if value is None else str(value)


def _charset(headers: dict[str, str]) -> str:
    match = re.search(r"charset=([\w-]+)", headers.get("Content-Type", ""), re.I)
    return match[1] if match else "utf-8"


def _shown_response(response: Response) -> dict[str, Any]:
    lowered = {k.lower(): v for k, v in response.headers.items()}
    text = response.body.decode("utf-8", errors="replace")
    excerpt = text[:EXCERPT_CHARS]
    if len(text) > EXCERPT_CHARS or response.truncated:
        excerpt += f"… [{len(response.body)} bytes{'+' if response.truncated else ''}]"
    return {
        "status": response.status,
        "latency_ms": response.latency_ms,
        "headers": {k: lowered[k] for k in SHOWN_RESPONSE_HEADERS if k in lowered},
        "body_excerpt": excerpt,
    }


def _expected(check: HttpCheck) -> dict[str, Any]:
    expected: dict[str, Any] = {"status": list(check.expect_status)}
    if check.latency_budget_ms is not None:
        expected["latency_budget_ms"] = check.latency_budget_ms
    if check.conditions:
        expected["conditions"] = [str(c) for c in check.conditions]
    if check.check_dependencies:
        expected["dependencies"] = "all ok"
    return expected


def redact_url(url: str) -> str:
    """Hide a password in the URL's user info (`https://user:***@host`)."""
    return re.sub(r"^(https?://[^/:@]*:)[^/@]*@", r"\1***@", url)
