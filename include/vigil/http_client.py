"""One HTTP client for every request Vigil makes: health checks, alert webhooks and Slack
(scenarios next).

A `Request` is sent once, with a timeout that covers the body too and without following
redirects: a redirect is an answer to judge (and its Location to show), and following it
would send the request's credential headers to another host. The `Response` keeps the
status, headers, at most MAX_BODY_BYTES of body and the elapsed time. Evidence of a
request (`Request.shown`) never carries a credential: credential headers read `***`,
a URL password reads `***`, and everything else passes the caller's masker.

Sessions are kept per thread and per key (a target, a channel), so repeated requests
reuse keep-alive connections without sharing a `requests.Session` across threads.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3
from requests.structures import CaseInsensitiveDict

from vigil.masking import MASK, Masker
from vigil.spec.secret_shapes import redact_secret_shapes
from vigil.spec.secrets import SECRET_HEADERS

# A health endpoint answers in kilobytes; reading more only costs memory and time.
MAX_BODY_BYTES = 1 << 20
EXCERPT_CHARS = 500
SHOWN_RESPONSE_HEADERS = ("content-type", "content-length", "server", "location", "retry-after")

_local = threading.local()


class BodyTimeout(Exception):
    """The response began but its body did not arrive within the request's timeout."""


# What `send` raises for a request that got no usable answer (see `describe_error`).
SEND_ERRORS: tuple[type[Exception], ...] = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    BodyTimeout,
)


@dataclass
class Request:
    method: str
    url: str
    headers: CaseInsensitiveDict[str] = field(default_factory=CaseInsensitiveDict)
    json: Any = None  # a JSON document to send, or
    data: bytes | None = None  # exact bytes to send (a signed webhook body)
    verify: bool = True  # check the server's TLS certificate

    def shown(self, masker: Masker) -> dict[str, Any]:
        """The request as evidence: credential headers hidden, the URL's password hidden,
        the rest masked."""
        headers = {
            name: MASK if SECRET_HEADERS.search(name) else masker.mask(value)
            for name, value in self.headers.items()
        }
        return {"method": self.method, "url": masker.mask(redact_url(self.url)), "headers": headers}


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool  # the body was longer than MAX_BODY_BYTES and was cut
    latency_ms: float  # from sending the request to the last byte read

    @property
    def text(self) -> str:
        return self.body.decode(charset(self.headers), errors="replace")

    def excerpt(self, masker: Masker | None = None, chars: int = EXCERPT_CHARS) -> str:
        """The start of the body, saying how long it was when cut; masked before it is
        cut, so no secret survives in part."""
        text = self.body.decode("utf-8", errors="replace")
        text = masker.mask(text) if masker is not None else text
        # A token the endpoint itself answered with is a secret Vigil never saw: redact
        # what looks like one (issue 14; README "What is masked").
        text = redact_secret_shapes(text)
        excerpt = text[:chars]
        if len(text) > chars or self.truncated:
            excerpt += f"… [{len(self.body)} bytes{'+' if self.truncated else ''}]"
        return excerpt

    def shown(self, masker: Masker) -> dict[str, Any]:
        """The response as evidence: status, time, a few telling headers, a body excerpt."""
        # A Location may carry a token the endpoint issued (`?access_token=`): redacted too.
        lowered = {k.lower(): redact_secret_shapes(masker.mask(v)) for k, v in self.headers.items()}
        return {
            "status": self.status,
            "latency_ms": self.latency_ms,
            "headers": {k: lowered[k] for k in SHOWN_RESPONSE_HEADERS if k in lowered},
            "body_excerpt": self.excerpt(masker),
        }


class Client:
    """A keep-alive session for one thread and key.

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


def client_for(key: str) -> Client:
    """This thread's client for `key` (a target, a channel)."""
    clients: dict[str, Client] | None = getattr(_local, "clients", None)
    if clients is None:
        clients = _local.clients = {}
    client = clients.get(key)
    if client is None:
        client = clients[key] = Client()
    return client


def send(request: Request, timeout_s: float, client: Client | None = None) -> Response:
    """Send `request` once, redirects not followed, the whole answer within `timeout_s`.

    Raises one of SEND_ERRORS when there is no usable answer (`describe_error` says why).
    Without a `client`, a session of its own is opened and closed (no keep-alive)."""
    if client is None:
        once = Client()
        try:
            return send(request, timeout_s, once)
        finally:
            once.session.close()
    proxies, verify = client.settings(request.url, request.verify)
    start = time.perf_counter()
    resp = client.session.request(
        request.method,
        request.url,
        headers=request.headers,
        json=request.json,
        data=request.data,
        timeout=timeout_s,
        verify=verify,
        proxies=proxies,
        stream=True,
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


def describe_error(exc: Exception, timeout_s: float, masker: Masker | None = None) -> str:
    """A short reason for a request that got no usable answer.

    With a `masker`, the library's message is masked before it is cut, so a secret
    cannot survive in part."""
    text = masker.mask(str(exc)) if masker is not None else str(exc)
    if isinstance(exc, BodyTimeout):
        return f"response body not received within {timeout_s:g}s ({text})"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error: {_innermost(text)}"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"connection not established within {timeout_s:g}s"
    if isinstance(exc, requests.exceptions.ReadTimeout) or "Read timed out" in text:
        return f"no answer within {timeout_s:g}s (timed out)"
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


def charset(headers: Mapping[str, str]) -> str:
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    match = re.search(r"charset=([\w-]+)", content_type, re.I)
    return match[1] if match else "utf-8"


def redact_url(url: str) -> str:
    """Hide a password in the URL's user info (`https://user:***@host`)."""
    return re.sub(r"^(https?://[^/:@]*:)[^/@]*@", r"\1***@", url)
