"""HTTP health check: one request; its status, latency, JSON body conditions, and the
target's own dependency report.

The request goes through the shared client (`vigil.http_client`): sessions per thread
and per target, no redirects followed, the body bounded in size and time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from requests.structures import CaseInsensitiveDict

from vigil.checks._common import Timer, build, error, fmt_ms, guarded, target_of
from vigil.checks.models import HttpCheck
from vigil.context import ConfigError, RunContext
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
from vigil.spec.models import HttpTarget

CHECK_TYPE = "http"
# Words health endpoints use for a dependency that is fine (Spring, .NET, RFC draft, ...).
OK_WORDS = frozenset({"ok", "up", "healthy", "pass", "passed", "green"})

# The client's pieces, under the names this module has always had.
__all__ = ["MAX_BODY_BYTES", "OK_WORDS", "Response", "Verdict", "evaluate", "redact_url", "run"]


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
    details: dict[str, Any] = {"request": request.shown(ctx.masker)}
    try:
        response = send(request, check.timeout_s, client_for(check.target))
    except SEND_ERRORS as exc:
        reason = describe_error(exc, check.timeout_s, ctx.masker)
        return error(check, ctx, CHECK_TYPE, timer, f"{what}: {reason}", details)
    details["response"] = response.shown(ctx.masker)
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
    # A token given as the URL's user name (`https://${TOKEN}@host`) is a credential too.
    ctx.masker.remember_userinfo(base)
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
        json=_resolve_tree(check.body, ctx),
        verify=verify,
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
        doc = json.loads(response.body.decode(charset(response.headers)))
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


def _expected(check: HttpCheck) -> dict[str, Any]:
    expected: dict[str, Any] = {"status": list(check.expect_status)}
    if check.latency_budget_ms is not None:
        expected["latency_budget_ms"] = check.latency_budget_ms
    if check.conditions:
        expected["conditions"] = [str(c) for c in check.conditions]
    if check.check_dependencies:
        expected["dependencies"] = "all ok"
    return expected
