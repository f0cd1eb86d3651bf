"""An `http_load` probe's requests, built exactly as an `http` health check builds its one
(target base URL and headers, references resolved and masked, body as its format says),
then handed to the load engine.

Each request keeps its own expected statuses (a mix is not judged by their union), the
target's `verify_tls` applies, and a URL's user:password@ becomes a Basic Authorization
header, as the health checks' client (requests) sends it.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from requests.structures import CaseInsensitiveDict

from vigil.checks.http import build_request
from vigil.checks.models import HttpCheck
from vigil.context import RunContext
from vigil.probes.http_load import Abort, Load, Request, run_http_load
from vigil.probes.measure import Measurement
from vigil.probes.models import HttpLoad, HttpLoadProbe, RequestTemplate
from vigil.spec.models import HttpTarget


def measure_http(
    probe: HttpLoadProbe, load: HttpLoad, ctx: RunContext, abort: Abort | None
) -> Measurement:
    target = ctx.spec.targets[probe.target]
    assert isinstance(target, HttpTarget)  # the spec's references pass guarantees it
    built = [_request(probe, template, target, ctx) for template in probe.requests()]
    requests = [request for request, _ in built]
    # One origin, one TLS setting. Every request carries the target's verify_tls today (a
    # template has none of its own); were they to differ, verifying is the safe side.
    verify = any(verify for _, verify in built)
    shape = Load(
        model=load.model,
        connections=load.connections,
        rate=load.rate,
        duration_s=load.duration_s,
        warmup_s=load.warmup_s,
        max_requests=load.max_requests,
        timeout_s=probe.timeout_s,
    )
    # Every request carries its own expect_status, so the run's default (a template's
    # default) judges none of them.
    return run_http_load(requests, shape, frozenset({200}), abort, verify_tls=verify)


def _request(
    probe: HttpLoadProbe, template: RequestTemplate, target: HttpTarget, ctx: RunContext
) -> tuple[Request, bool]:
    """The engine's request, and whether the server's certificate is to be verified."""
    as_check: dict[str, Any] = {
        "id": probe.id,
        "kind": "http",
        "target": probe.target,
        "method": template.method,
        "path": template.path,
        "headers": template.headers,
        "body": template.body,
        "body_format": template.body_format,
        "expect_status": template.expect_status,
    }
    built = build_request(HttpCheck.model_validate(as_check), target, ctx)
    headers = built.headers.copy()  # case-insensitive: "authorization" is "Authorization"
    body = built.data or b""
    if built.json is not None:
        body = json.dumps(built.json).encode()
        headers.setdefault("Content-Type", "application/json")
    url = _without_userinfo(built.url, headers, ctx)
    request = Request(
        method=template.method,
        url=url,
        headers=tuple(headers.items()),
        body=body,
        weight=template.weight,
        expect_status=frozenset(template.expect_status),
    )
    return request, built.verify


def _without_userinfo(url: str, headers: CaseInsensitiveDict[str], ctx: RunContext) -> str:
    """`url` without its user:password@, moved into `headers` as Basic credentials.

    HTTP has no place for userinfo: requests turns it into `Authorization: Basic`, so a
    target whose base_url carries a token as its user (`https://${TOKEN}@host`) passes its
    health checks. The load engine must send the same, not drop it and measure 401s. A
    header set explicitly wins, as it is the more specific setting.
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = (unquote(part) for part in userinfo.partition(":"))
    # An empty userinfo (`http://@host`) is no credential: requests sends none either.
    if (user or password) and "Authorization" not in headers:  # case-insensitive lookup
        pair = f"{user}:{password}"
        # requests encodes the pair as latin-1; UTF-8 (RFC 7617) only where latin-1 cannot.
        try:
            raw = pair.encode("latin-1")
        except UnicodeEncodeError:
            raw = pair.encode("utf-8")
        token = base64.b64encode(raw).decode("ascii")
        ctx.masker.remember(token)  # the credential, in one more spelling
        headers["Authorization"] = f"Basic {token}"
    return urlunsplit(parts._replace(netloc=hostport))
