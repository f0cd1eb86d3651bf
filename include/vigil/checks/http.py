"""HTTP health check: one request; its status, latency, conditions on its JSON body and
headers, and the target's own dependency report.

The request goes through the shared client (`vigil.http_client`): sessions per thread
and per target, no redirects followed, the body bounded in size and time. Its body goes
out as JSON, form-encoded or as text (`body_format`); its credential headers as
configured, dropped, or deliberately invalid (`credentials_mode`).

A body without the dependency report `check_dependencies` reads is a configuration
problem (the endpoint reports none: a retry finds the same), not a transient error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from requests.structures import CaseInsensitiveDict

from vigil.checks._common import Timer, build, error, fmt_ms, guarded, target_of
from vigil.checks._urls import remember_url_credentials
from vigil.checks.models import (
    FORM_TYPE,
    HttpCheck,
    body_format_of,
    body_problem,
    is_credential_header,
)
from vigil.config_errors import ConfigError, configuration_details
from vigil.context import RunContext
from vigil.http_client import (
    MAX_BODY_BYTES,
    SEND_ERRORS,
    Request,
    Response,
    charset,
    client_for,
    describe_error,
    redact_url,
    send,
)
from vigil.result import CheckResult, Status
from vigil.spec.conditions import Condition
from vigil.spec.models import HttpTarget
from vigil.spec.secret_shapes import INVALID_CREDENTIAL_REF, is_secret_name, is_secret_query
from vigil.spec.secrets import ENV_REF

CHECK_TYPE = "http"
# Words health endpoints use for a dependency that is fine (Spring, .NET, RFC draft, ...).
OK_WORDS = frozenset({"ok", "up", "healthy", "pass", "passed", "green"})
INVALID_REFERENCE = f"${{{INVALID_CREDENTIAL_REF}}}"
NO_DEPENDENCY_REPORT = (
    "body has no 'dependencies' report (expected "
    '{"dependencies": {"<name>": {"status": "ok"}}}); this endpoint reports none: drop '
    "check_dependencies and check its body with conditions instead "
    "(e.g. 'status == \"ok\"', or '$ == true' for a bare true)"
)

# The client's pieces, under the names this module has always had.
__all__ = ["MAX_BODY_BYTES", "OK_WORDS", "Response", "Verdict", "evaluate", "redact_url", "run"]


@dataclass
class Verdict:
    lead: str = ""  # how it answered: "answered 503, expected 200"
    status_ok: bool = True  # the status is among the expected ones
    problems: list[str] = field(default_factory=list)  # assertions that do not hold
    errors: list[str] = field(default_factory=list)  # what could not be evaluated
    misconfigured: list[str] = field(default_factory=list)  # the check asks what cannot be
    observed: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


def run(check: HttpCheck, ctx: RunContext) -> list[CheckResult]:
    return guarded(check, ctx, CHECK_TYPE, _probe)


def _probe(check: HttpCheck, ctx: RunContext, timer: Timer) -> CheckResult:
    target = target_of(check, ctx, HttpTarget)
    request = build_request(check, target, ctx)
    what = f"{request.method} {redact_url(request.url)}"
    details: dict[str, Any] = {"request": request.shown(ctx.masker)}
    if check.credentials_mode != "configured":
        details["request"]["credentials_mode"] = check.credentials_mode
    try:
        response = send(request, check.timeout_s, client_for(check.target))
    except SEND_ERRORS as exc:
        reason = describe_error(exc, check.timeout_s, ctx.masker)
        return error(check, ctx, CHECK_TYPE, timer, f"{what}: {reason}", details)
    details["response"] = response.shown(ctx.masker)
    verdict = evaluate(check, response)
    details.update(verdict.details)
    if verdict.misconfigured and not verdict.errors:
        details = configuration_details(details)
    expected = _expected(check)
    failed = verdict.problems or not verdict.status_ok
    errors = [*verdict.errors, *verdict.misconfigured]
    status = Status.ERROR if errors else Status.FAILED if failed else Status.PASSED
    message = "; ".join([f"{what} {verdict.lead}", *verdict.problems, *errors])
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
    base = base_url_of(check.target, target, ctx, "check", "put the query in the check's path")
    headers = _headers(check, target, ctx)
    verify = target.verify_tls if check.verify_tls is None else check.verify_tls
    url = base + _resolve_path(check.path, ctx)
    remember_url_credentials(url, ctx.masker)
    request = Request(check.method, url, headers, verify=verify)
    _set_body(request, check, ctx)
    return request


def base_url_of(name: str, target: HttpTarget, ctx: RunContext, whose: str, fix: str) -> str:
    """The base URL of target `name`, resolved, without a trailing "/": ConfigError when
    it is not http(s), or holds a query or fragment (the path of `whose` request would land
    inside it; `fix` says where the query goes instead)."""
    base = ctx.resolve(target.base_url).rstrip("/")
    if not re.match(r"^https?://[^/]", base):
        # Name the spec's value, not what it resolved to: that may carry a password.
        raise ConfigError(
            f"base_url of target {name!r} ({target.base_url!r}) did not resolve to "
            "an http:// or https:// URL"
        )
    # A token given as the URL's user name (`https://${TOKEN}@host`), or a credential
    # query parameter however it got into the URL (`?code=${CODE}`, a base_url or a
    # `${PATH}` holding `?sig=...`), is remembered by the run's masker.
    remember_url_credentials(base, ctx.masker)
    if "?" in base or "#" in base:
        raise ConfigError(
            f"base_url of target {name!r} ({target.base_url!r}) resolved to a URL "
            f"with a query or fragment: the {whose}'s path would land inside it",
            fix=fix,
        )
    return base


def _headers(check: HttpCheck, target: HttpTarget, ctx: RunContext) -> CaseInsensitiveDict[str]:
    """The target's headers and the check's (which win), credentials as `credentials_mode` says."""
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    replaced = 0
    for source in (target.headers, check.headers):
        for name, value in source.items():
            if check.credentials_mode != "configured" and is_credential_header(name):
                replaced += 1
                if check.credentials_mode == "none":
                    headers.pop(name, None)
                    continue
                value = _invalidated(value)
            headers[name] = ctx.resolve(value, secret=is_credential_header(name))
    if check.credentials_mode == "invalid" and not replaced:
        raise ConfigError(
            f"credentials_mode: invalid, but neither target {check.target!r} nor the check sets a "
            "credential header to make invalid",
            fix=f"set one on the check, e.g. 'Authorization: Bearer {INVALID_REFERENCE}'",
        )
    return headers


def _invalidated(value: str) -> str:
    """`Bearer ${TOKEN}` -> `Bearer ${VIGIL_INVALID_CREDENTIAL}`: the scheme kept, the
    credential replaced (a value with no reference is replaced whole)."""
    if ENV_REF.search(value) is None:
        return INVALID_REFERENCE
    return ENV_REF.sub(lambda _: INVALID_REFERENCE, value)


def _set_body(request: Request, check: HttpCheck, ctx: RunContext) -> None:
    """The body as `body_format` (or the Content-Type header) says; `${VAR}` references in
    it resolved, their values masked like credentials."""
    if check.body is None:
        return
    body_format = body_format_of(check.body_format, request.headers)
    problem = body_problem(body_format, check.body)
    if problem:  # the target's Content-Type asks for a form or text the body is not
        raise ConfigError(
            f"body does not fit the Content-Type header ({body_format}): {problem}",
            fix="set body_format on the check",
        )
    if body_format == "json":
        request.json = _resolve_tree(check.body, ctx)
    elif body_format == "form":
        request.headers.setdefault("Content-Type", FORM_TYPE)
        request.data = urlencode(_form_fields(check.body, ctx)).encode()
    else:
        request.headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        request.data = ctx.resolve(check.body, secret=True).encode()


def _resolve_path(path: str, ctx: RunContext) -> str:
    """The path with its references: segments (ids, names) stay readable; a query
    parameter that carries a credential (`?sig=${SIG}`, `?api_key=`) is masked."""
    head, mark, query = path.partition("?")
    resolved = ctx.resolve(head)
    if not mark:
        return resolved  # a `${PATH}` holding a query: the caller remembers its credentials
    pairs = []
    for pair in query.split("&"):
        name, eq, value = pair.partition("=")
        # A name may be a reference too, even a whole query (`?${QS}`): resolved readable,
        # its credential-shaped values remembered by the caller from the final URL.
        name = ctx.resolve(name)
        secret = is_secret_query(name, ctx.resolve(value))  # `?code=` by its value's length
        pairs.append(name + eq + ctx.resolve(value, secret=secret))
    return f"{resolved}?{'&'.join(pairs)}"


def _form_fields(body: dict[str, Any], ctx: RunContext) -> list[tuple[str, str]]:
    fields = []
    for name, value in body.items():
        for item in value if isinstance(value, list) else [value]:
            text = ("true" if item else "false") if isinstance(item, bool) else str(item)
            fields.append((name, ctx.resolve(text, secret=is_secret_name(name))))
    return fields


def _resolve_tree(value: Any, ctx: RunContext, secret: bool = False) -> Any:
    """`${VAR}` references inside a JSON body: masked under a credential key (`password`,
    `client_secret`, ...) and anywhere below one."""
    if isinstance(value, str):
        return ctx.resolve(value, secret=secret)
    if isinstance(value, dict):
        return {
            k: _resolve_tree(v, ctx, secret or is_secret_name(str(k))) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_resolve_tree(v, ctx, secret) for v in value]
    return value


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
    reads_body = check.check_dependencies or any(c.header is None for c in check.conditions)
    doc = _parse_body(response, status_ok, verdict) if reads_body else _UNREAD
    if check.conditions:
        _evaluate_conditions(check.conditions, doc, response.headers, verdict)
    if check.check_dependencies and doc is not _UNREAD:
        _evaluate_dependencies(doc, status_ok, verdict)
    return verdict


_UNREAD = object()  # the body was not parsed (not needed, or not JSON)


def _parse_body(response: Response, status_ok: bool, verdict: Verdict) -> Any:
    """The JSON body (any JSON value, a bare `true` too), or _UNREAD saying why not."""
    try:
        if response.truncated:
            raise ValueError(f"body larger than {MAX_BODY_BYTES} bytes, not parsed")
        return json.loads(response.body.decode(charset(response.headers)))
    except (ValueError, LookupError) as exc:
        # A wrong status already explains an error page; otherwise the body is malformed.
        if status_ok:
            verdict.errors.append(f"body is not valid JSON ({str(exc)[:120]})")
        return _UNREAD


def _evaluate_conditions(
    conditions: list[Condition], doc: Any, headers: dict[str, str], verdict: Verdict
) -> None:
    """Header conditions always; body conditions when the body could be read."""
    outcomes = []
    for condition in conditions:
        if condition.header is None and doc is _UNREAD:
            continue
        outcome = condition.evaluate(doc, headers)
        outcomes.append({"condition": str(condition), "ok": outcome.ok, "actual": outcome.actual})
        if not outcome.ok:
            verdict.problems.append(f"condition {outcome.text} does not hold")
    if outcomes:
        verdict.observed["conditions"] = outcomes
        verdict.details["conditions"] = outcomes


def _evaluate_dependencies(doc: Any, status_ok: bool, verdict: Verdict) -> None:
    raw = doc.get("dependencies") if isinstance(doc, dict) else None
    report = dependency_statuses(raw)
    if report is None:
        if status_ok:  # not transient: the endpoint does not report its dependencies
            verdict.misconfigured.append(NO_DEPENDENCY_REPORT)
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


def _expected(check: HttpCheck) -> dict[str, Any]:
    expected: dict[str, Any] = {"status": list(check.expect_status)}
    if check.latency_budget_ms is not None:
        expected["latency_budget_ms"] = check.latency_budget_ms
    if check.conditions:
        expected["conditions"] = [str(c) for c in check.conditions]
    if check.check_dependencies:
        expected["dependencies"] = "all ok"
    return expected


# The reference resolution of a request's parts, shared with the scenarios' http steps
# (vigil.scenarios.steps_http), which resolve `${ENV}` exactly as a health check does.
resolve_path = _resolve_path
form_fields = _form_fields
resolve_tree = _resolve_tree
