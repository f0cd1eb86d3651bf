"""PromQL check: one instant query to a `prometheus` target (`/api/v1/query`), its result
judged by conditions parsed when the spec loads (`vigil.checks.promql_conditions`).

An empty result fails unless the check allows one. A server that does not answer, or
answers with something other than the query API's JSON, is an `error`; so is a query
Prometheus could not run (timeout, overload). A query Prometheus refuses as malformed
(`bad_data`), or one whose result is a range vector or a string, is a configuration
problem: the same query meets the same answer, so its task is not retried.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import urlencode

from vigil.checks._base_url import get_request, target_of_kind
from vigil.checks._common import Timer, build, error, fmt_ms, guarded
from vigil.checks.metric_eval import series_name
from vigil.checks.metric_expr import fmt
from vigil.checks.models import PromqlCheck
from vigil.config_errors import configuration_details
from vigil.context import RunContext
from vigil.http_client import (
    MAX_BODY_BYTES,
    SEND_ERRORS,
    Response,
    charset,
    client_for,
    describe_error,
    redact_url,
    send,
)
from vigil.result import CheckResult, Status
from vigil.spec.models import PrometheusTarget

CHECK_TYPE = "promql"
QUERY_PATH = "/api/v1/query"
SHOWN_SERIES = 50


class QueryError(Exception):
    """No result to judge: the reason, and whether the query itself is at fault."""

    def __init__(self, reason: str, misconfigured: bool = False) -> None:
        super().__init__(reason)
        self.misconfigured = misconfigured


def run(check: PromqlCheck, ctx: RunContext) -> list[CheckResult]:
    return guarded(check, ctx, CHECK_TYPE, _probe)


def _probe(check: PromqlCheck, ctx: RunContext, timer: Timer) -> CheckResult:
    target = target_of_kind(check, ctx, PrometheusTarget, "prometheus")
    query = ctx.resolve(check.query)
    # Prometheus stops evaluating at its own timeout, a little before ours.
    evaluation_ms = max(int(check.timeout_s * 900), 100)  # a Prometheus duration: "4500ms"
    params = urlencode({"query": query, "timeout": f"{evaluation_ms}ms"})
    request = get_request(check, target, f"{QUERY_PATH}?{params}", ctx, "application/json")
    what = f"query {query!r} at {redact_url(request.url.split('?', 1)[0])}"
    details: dict[str, Any] = {"request": request.shown(ctx.masker), "query": query}
    try:
        response = send(request, check.timeout_s, client_for(check.target))
    except SEND_ERRORS as exc:
        reason = describe_error(exc, check.timeout_s, ctx.masker)
        return error(check, ctx, CHECK_TYPE, timer, f"{what}: {reason}", details)
    details["response"] = response.shown(ctx.masker)
    try:
        series, warnings = read_result(response)
    except QueryError as exc:
        if exc.misconfigured:
            details = configuration_details(details)
        return error(check, ctx, CHECK_TYPE, timer, f"{what}: {exc}", details)
    if warnings:
        details["warnings"] = warnings
    return _judge(check, ctx, timer, what, series, details, response)


def _judge(
    check: PromqlCheck,
    ctx: RunContext,
    timer: Timer,
    what: str,
    series: list[tuple[str, float]],
    details: dict[str, Any],
    response: Response,
) -> CheckResult:
    problems: list[str] = []
    outcomes = []
    if not series and not check.allow_empty:
        problems.append("the result is empty (no series); set allow_empty if none is fine")
    else:
        for condition in check.conditions:
            ok, text = condition.evaluate(series)
            outcomes.append({"condition": str(condition), "ok": ok, "text": text})
            if not ok:
                problems.append(text)
    shown = [{"series": name, "value": _json_number(v)} for name, v in series[:SHOWN_SERIES]]
    details["result"] = shown
    observed: dict[str, Any] = {"series": len(series), "result": shown[:5]}
    if outcomes:
        observed["conditions"] = details["conditions"] = outcomes
    lead = f"{what} answered in {fmt_ms(response.latency_ms)}: {len(series)} series"
    if problems:
        status, message = Status.FAILED, "; ".join([lead, *problems])
    else:
        status, message = Status.PASSED, lead + (f"; {_held(outcomes)}" if outcomes else "")
    expected: dict[str, Any] = {"conditions": [str(c) for c in check.conditions]}
    expected["non_empty"] = not check.allow_empty
    return build(
        check, ctx, CHECK_TYPE, timer, status, message,
        observed=observed, expected=expected, details=details,
    )  # fmt: skip


def read_result(response: Response) -> tuple[list[tuple[str, float]], list[str]]:
    """The result's (series, value) pairs and Prometheus's warnings; QueryError when the
    answer holds no result to judge."""
    doc = _document(response)
    if doc.get("status") == "error":
        kind, reason = str(doc.get("errorType", "error")), str(doc.get("error", ""))[:300]
        if kind == "bad_data":
            raise QueryError(f"Prometheus refused the query: {reason}", misconfigured=True)
        raise QueryError(f"Prometheus could not run the query ({kind}): {reason}")
    if response.status != 200 or doc.get("status") != "success":
        raise QueryError(f"answered {response.status} without a query result")
    data = doc.get("data")
    if not isinstance(data, dict):
        raise QueryError("the answer has no 'data' (not the Prometheus query API?)")
    warnings = [str(w)[:300] for w in doc.get("warnings") or []][:10]
    return _series(data), warnings


def _document(response: Response) -> dict[str, Any]:
    if response.truncated:
        raise QueryError(f"the answer is larger than {MAX_BODY_BYTES} bytes, not read")
    try:
        doc = json.loads(response.body.decode(charset(response.headers)))
    except (ValueError, LookupError):
        raise QueryError(
            f"answered {response.status} with a body that is not JSON "
            "(not the Prometheus query API?)"
        ) from None
    if not isinstance(doc, dict) or "status" not in doc:
        raise QueryError(f"answered {response.status} with JSON that is not a query result")
    return doc


def _series(data: dict[str, Any]) -> list[tuple[str, float]]:
    kind, result = data.get("resultType"), data.get("result")
    try:
        if kind == "vector" and isinstance(result, list):
            return sorted(_one(item) for item in result)
        if kind == "scalar" and isinstance(result, list):
            return [("scalar", float(result[1]))]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise QueryError(f"the result is malformed ({type(exc).__name__}: {exc})") from None
    if kind in ("matrix", "string"):
        what = "a range vector (matrix)" if kind == "matrix" else "a string"
        raise QueryError(
            f"the query returns {what}; conditions need an instant vector or a scalar "
            "(drop the [range], or wrap it in a function such as rate(...[5m]))",
            misconfigured=True,
        )
    raise QueryError(f"the result has an unknown type {kind!r}")


def _one(item: dict[str, Any]) -> tuple[str, float]:
    labels = dict(item["metric"])
    name = str(labels.pop("__name__", ""))
    key = tuple(sorted((str(k), str(v)) for k, v in labels.items()))
    return series_name(name, key) or "{}", float(item["value"][1])


def _json_number(value: float) -> float | str:
    return value if math.isfinite(value) else fmt(value)


def _held(outcomes: list[dict[str, Any]]) -> str:
    return f"{len(outcomes)} condition{'s' if len(outcomes) != 1 else ''} hold"
