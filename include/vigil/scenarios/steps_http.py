"""The `http` step: one request to an `http` target, judged by `expect`, values captured.

A step's request is prepared once per journey (`plan`): the target resolved, its headers
merged with the step's, `auth` applied and every `${ENV}` reference expanded, as a health
check expands them (credential headers, auth and secret-named fields masked). What is
left are `{{templates}}`, filled for each execution (`build`): a parallel step's 1,000
copies share one plan and pay only for their own variables.

Retries (`step.retries`, on a step that may repeat) follow only an error: no answer, or
a 5xx that is not expected; with a short backoff inside the step's bound.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from requests.structures import CaseInsensitiveDict

from vigil.checks._urls import remember_url_credentials
from vigil.checks.http import base_url_of, form_fields, resolve_path, resolve_tree
from vigil.checks.models import FORM_TYPE, BodyFormat, body_format_of, is_credential_header
from vigil.config_errors import ConfigError
from vigil.context import RunContext
from vigil.http_client import SEND_ERRORS, Request, Response, describe_error, redact_url
from vigil.masking import Masker
from vigil.scenarios import templating, trace, wire
from vigil.scenarios.expect import (
    NO_DOCUMENT,
    Judgement,
    body_document,
    capture,
    judge,
    needs_document,
    status_problem,
)
from vigil.scenarios.models import Auth, Expect, HttpRequest, Step
from vigil.scenarios.trace import StepOutcome
from vigil.spec.models import HttpTarget
from vigil.spec.secret_shapes import is_secret_query

BACKOFF_S = 0.2
BACKOFF_MAX_S = 2.0
_FORM = "form"


@dataclass(frozen=True)
class Credentials:
    """A step's `auth` with `${ENV}` expanded (its `{{templates}}` still to fill): not the
    spec model, whose validators refuse the literal secrets these now are."""

    bearer: str | None = None
    username: str | None = None
    password: str | None = None
    none: bool = False


@dataclass
class HttpPlan:
    """A step's request with `${ENV}` expanded; `{{templates}}` left to fill."""

    target: str
    method: str
    base: str  # the target's base URL, without a trailing "/"
    path: str
    query: list[tuple[str, Any]]
    headers: list[tuple[str, str]]
    header_names: frozenset[str]  # lowercase
    body: Any  # a JSON value, form fields [(name, text)], or text
    body_format: BodyFormat | None  # None: no body
    body_templated: bool  # the body holds a template (else it is sent as planned)
    json_bytes: bytes  # a JSON body without templates, encoded
    verify: bool
    auth: Credentials | None
    masker: Masker
    # Rendered credentials already remembered by the masker (remembering is not free).
    remembered: set[str] = field(default_factory=set)


def plan(request: HttpRequest, default_target: str, ctx: RunContext) -> HttpPlan:
    """Prepare `request`; ConfigError for a target that is not there or not http, or a
    `${VAR}` that is not set."""
    name = request.target or default_target
    target = http_target(name, ctx)
    headers = _headers(request, target, ctx)
    body_format = None
    if request.body is not None:
        body_format = body_format_of(request.body_format, dict(headers))
    body = _body(request.body, body_format, ctx)
    templated = bool(templating.names_in(body))
    return HttpPlan(
        target=name,
        method=request.method,
        base=base_url(name, target, ctx),
        path=resolve_path(request.path, ctx),
        query=_query(request.query, ctx),
        headers=headers,
        header_names=frozenset(name.lower() for name, _ in headers),
        body=body,
        body_format=body_format,
        body_templated=templated,
        json_bytes=json.dumps(body).encode() if body_format == "json" and not templated else b"",
        verify=target.verify_tls if request.verify_tls is None else request.verify_tls,
        auth=_auth(request.auth, ctx),
        masker=ctx.masker,
    )


def http_target(name: str, ctx: RunContext) -> HttpTarget:
    target = ctx.spec.targets.get(name)
    if target is None:
        known = ", ".join(sorted(ctx.spec.targets)) or "none"
        raise ConfigError(f"unknown target {name!r} (declared: {known})")
    if not isinstance(target, HttpTarget):
        raise ConfigError(
            f"target {name!r} is a {getattr(target, 'kind', '?')!r} target; this step needs "
            "an 'http' target"
        )
    return target


def base_url(name: str, target: HttpTarget, ctx: RunContext) -> str:
    """The target's base URL, resolved and checked as the http health check does."""
    return base_url_of(name, target, ctx, "step", "put the query in the step's `query`")


def _headers(request: HttpRequest, target: HttpTarget, ctx: RunContext) -> list[tuple[str, str]]:
    """The target's headers, then the step's (which win); with `auth`, the target's
    credential headers are replaced (with `none: true`, every credential header)."""
    merged: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    auth = request.auth
    for source, own in ((target.headers, False), (request.headers, True)):
        for name, value in source.items():
            credential = is_credential_header(name)
            if credential and auth is not None and (auth.none or not own):
                continue
            merged[name] = ctx.resolve(value, secret=credential)
    return list(merged.items())


def _query(query: Mapping[str, Any], ctx: RunContext) -> list[tuple[str, Any]]:
    """Query parameters with references expanded (a credential parameter's masked)."""
    out: list[tuple[str, Any]] = []
    for name, value in query.items():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, str):
                item = ctx.resolve(item, secret=is_secret_query(name, ctx.resolve(item)))
            out.append((name, item))
    return out


def _body(body: Any, body_format: BodyFormat | None, ctx: RunContext) -> Any:
    if body_format is None:
        return None
    if body_format == "json":
        return resolve_tree(body, ctx)
    if body_format == _FORM:
        return form_fields(body, ctx)
    return ctx.resolve(str(body), secret=True)


def _auth(auth: Auth | None, ctx: RunContext) -> Credentials | None:
    if auth is None:
        return None
    if auth.none:
        return Credentials(none=True)
    if auth.bearer is not None:
        return Credentials(bearer=ctx.resolve(auth.bearer, secret=True))
    return Credentials(
        username=ctx.resolve(auth.username or ""),
        password=ctx.resolve(auth.password or "", secret=True),
    )


# --- one execution ---------------------------------------------------------------------


def text(value: Any, variables: Mapping[str, Any]) -> str:
    """A spec string with its templates filled, as text (TemplateError if one is unset)."""
    if isinstance(value, str) and "{{" not in value:
        return value
    filled = templating.render(value, variables)
    if isinstance(filled, bool):
        return "true" if filled else "false"
    return "" if filled is None else templating.as_text(filled)


def build(plan: HttpPlan, variables: Mapping[str, Any]) -> Request:
    """The request with `variables` filled in; TemplateError when one has no value."""
    url = plan.base + text(plan.path, variables)
    if plan.query:
        pairs = [(name, text(value, variables)) for name, value in plan.query]
        url += ("&" if "?" in url else "?") + urlencode(pairs)
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(
        [(name, text(value, variables)) for name, value in plan.headers]
    )
    if plan.auth is not None and not plan.auth.none:
        headers["Authorization"] = _credential(plan, variables)
    if "?" in url:  # a credential parameter filled from a variable: `?access_token={{t}}`
        remember_url_credentials(url, plan.masker)
    request = Request(plan.method, url, headers, verify=plan.verify)
    if plan.body_format == "json" and plan.body_templated:
        request.json = templating.render(plan.body, variables)
    elif plan.body_format == "json":
        # The same bytes for every execution: encoded once, when the plan was made.
        if "content-type" not in plan.header_names:
            headers["Content-Type"] = "application/json"
        request.data = plan.json_bytes
    elif plan.body_format == _FORM:
        headers.setdefault("Content-Type", FORM_TYPE)
        request.data = urlencode([(k, text(v, variables)) for k, v in plan.body]).encode()
    elif plan.body_format == "text":
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        request.data = text(plan.body, variables).encode()
    return request


def _credential(plan: HttpPlan, variables: Mapping[str, Any]) -> str:
    auth = plan.auth
    assert auth is not None
    if auth.bearer is not None:
        secret = text(auth.bearer, variables)
        value = f"Bearer {secret}"
    else:
        secret = text(auth.password, variables)
        pair = f"{text(auth.username, variables)}:{secret}".encode()
        value = f"Basic {base64.b64encode(pair).decode('ascii')}"
    if secret not in plan.remembered:  # a captured value not marked secret is one here
        plan.masker.remember(secret)
        plan.remembered.add(secret)
    return value


def exchange(
    request: Request, tries: int, deadline: float, expected: list[int] | None, masker: Masker
) -> tuple[Response | None, str | None, int]:
    """Send `request` up to `tries` times while it gets no answer or an unexpected 5xx:
    (the last response, or None and why there was none; the attempts made)."""
    attempt = 0
    while True:
        attempt += 1
        left = max(0.001, deadline - time.perf_counter())
        try:
            response: Response | None = wire.send(request, left)
            failure = None
        except SEND_ERRORS as exc:
            response, failure = None, describe_error(exc, round(left, 1), masker)
        pause = _retry_pause(response, expected, attempt, tries, deadline)
        if pause is None:
            return response, failure, attempt
        time.sleep(pause)


def _retry_pause(
    response: Response | None,
    expected: list[int] | None,
    attempt: int,
    tries: int,
    deadline: float,
) -> float | None:
    """How long to wait before trying again, or None to stop: only after an error (no
    answer, an unexpected 5xx), while tries and time are left."""
    if response is not None and (
        response.status < 500 or status_problem(response.status, expected) is None
    ):
        return None
    pause: float = min(BACKOFF_S * 2.0 ** (attempt - 1), BACKOFF_MAX_S)
    if attempt >= tries or deadline - time.perf_counter() < pause + 0.05:
        return None
    return pause


def evaluate(
    expect: Expect, step: Step, response: Response, variables: Mapping[str, Any]
) -> Judgement:
    """Status, conditions, latency budget and captures of one response."""
    judgement = Judgement()
    problem = status_problem(response.status, expect.status)
    if problem:
        judgement.problems.append(problem)
    reads = needs_document(expect.conditions, step.capture)
    document = body_document(response) if reads else NO_DOCUMENT
    judge(expect.conditions, document, response.headers, variables, judgement)
    if expect.max_ms is not None and response.latency_ms > expect.max_ms:
        judgement.problems.append(f"took {response.latency_ms:.0f} ms, budget {expect.max_ms:g} ms")
    # Captured even when a condition fails: cleanup needs the id of what was created.
    found = Judgement()
    capture(step.capture, document, response.headers, found)
    judgement.captured = found.captured
    if not problem:  # after a wrong status, a missing capture says nothing new
        judgement.problems += found.problems
    return judgement


def run(step: Step, plan: HttpPlan, variables: Mapping[str, Any], timeout_s: float) -> StepOutcome:
    """One http step: build, send (with its retries), judge, capture."""
    start = time.perf_counter()
    try:
        request = build(plan, variables)
    except templating.TemplateError as exc:
        return trace.unset(exc)
    tries = 1 + (step.retries if step.may_retry else 0)
    answer = exchange(request, tries, start + timeout_s, step.expect.status, plan.masker)
    return conclude(step, request, *answer, variables, start)


async def run_async(
    step: Step,
    plan: HttpPlan,
    variables: Mapping[str, Any],
    timeout_s: float,
    pool: wire.AsyncPool,
) -> StepOutcome:
    """`run` on an event loop (a parallel step's copies): the same step, the same verdict."""
    start = time.perf_counter()
    try:
        request = build(plan, variables)
    except templating.TemplateError as exc:
        return trace.unset(exc)
    tries = 1 + (step.retries if step.may_retry else 0)
    deadline = start + timeout_s
    attempt = 0
    while True:
        attempt += 1
        left = max(0.001, deadline - time.perf_counter())
        try:
            response: Response | None = await pool.send(request, left)
            failure = None
        except SEND_ERRORS as exc:
            response, failure = None, describe_error(exc, round(left, 1), plan.masker)
        pause = _retry_pause(response, step.expect.status, attempt, tries, deadline)
        if pause is None:
            return conclude(step, request, response, failure, attempt, variables, start)
        await asyncio.sleep(pause)


def conclude(
    step: Step,
    request: Request,
    response: Response | None,
    failure: str | None,
    attempts: int,
    variables: Mapping[str, Any],
    start: float,
) -> StepOutcome:
    """The step's outcome from its last answer (or why it got none)."""
    ms = (time.perf_counter() - start) * 1000
    if response is None:
        return trace.error(
            f"{request.method} {where_of(request)}: {failure}",
            ms=ms,
            attempts=attempts,
            evidence=lambda masker: {"request": trace.http_request(request, masker)},
        )
    judgement = evaluate(step.expect, step, response, variables)
    evidence = exchange_evidence(request, response, judgement)
    if judgement.problems:
        reason = "; ".join(judgement.problems)
        if judgement.problems[0].startswith("answered"):
            reason = f"{request.method} {where_of(request)} {reason}"
        return trace.failed(
            reason, ms=ms, attempts=attempts, captured=judgement.captured, evidence=evidence
        )
    return trace.passed(ms=ms, attempts=attempts, captured=judgement.captured, evidence=evidence)


def exchange_evidence(
    request: Request, response: Response, judgement: Judgement | None
) -> trace.Evidence:
    def evidence(masker: Masker) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "request": trace.http_request(request, masker),
            "response": trace.http_response(response, masker),
        }
        if judgement is not None and judgement.judged:
            shown["conditions"] = judgement.records()
        return shown

    return evidence


def where_of(request: Request) -> str:
    """The request's path (and query), for a reason: the host is the target's."""
    url = redact_url(request.url)
    rest = url.split("://", 1)[-1]
    return "/" + rest.split("/", 1)[1] if "/" in rest else "/"
