"""The `wait_for` step: an http GET (or an sql query) repeated every `interval_s` until
every `until` condition holds, for at most `timeout_s` (and the journey's time left).

For http, an answer whose status is not among `wait_for.status` (2xx when unset) means
"not yet", as does no answer at all (a service restarting); an sql query that cannot run
ends the wait at once, as repeating it would fail the same way. Giving up is a failure
naming the condition and the last value seen, `status == "shipped" (got "paid") after
30 s (31 attempts)`, or an error when the last attempt got no answer. The step's captures
read the final answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vigil.http_client import SEND_ERRORS, Request, describe_error
from vigil.masking import Masker
from vigil.scenarios import steps_http, steps_sql, trace, wire
from vigil.scenarios.expect import (
    NO_DOCUMENT,
    Judgement,
    body_document,
    capture,
    judge,
    needs_document,
    status_problem,
)
from vigil.scenarios.models import Step, WaitFor
from vigil.scenarios.trace import StepOutcome, seconds

# The last attempt may start at the deadline: it still gets this long to be answered.
LAST_ATTEMPT_S = 0.25


@dataclass
class Observation:
    """One attempt: what it read, or why it read nothing."""

    document: Any = NO_DOCUMENT
    headers: Mapping[str, str] | None = None
    not_yet: str | None = None  # an http status that means "not yet": "answered 404, ..."
    failure: str | None = None  # no answer (http), or a query that could not run (sql)
    fatal: bool = False  # waiting longer cannot help (an sql error)
    evidence: dict[str, trace.Evidence] = field(default_factory=dict)


Probe = Callable[[float], Observation]


def http_probe(request: Request, wait: WaitFor, step: Step, masker: Masker) -> Probe:
    reads = needs_document(wait.until, step.capture)

    def probe(timeout_s: float) -> Observation:
        try:
            response = wire.send(request, timeout_s)
        except SEND_ERRORS as exc:
            failure = describe_error(exc, round(timeout_s, 1), masker)
            shown = {"request": lambda m: trace.http_request(request, m)}
            where = steps_http.where_of(request)
            return Observation(failure=f"{request.method} {where}: {failure}", evidence=shown)
        evidence = steps_http.exchange_evidence(request, response, None)
        return Observation(
            document=body_document(response) if reads else NO_DOCUMENT,
            headers=response.headers,
            not_yet=status_problem(response.status, wait.status),
            evidence={"exchange": evidence},
        )

    return probe


def sql_probe(plan: steps_sql.SqlPlan, params: Mapping[str, Any]) -> Probe:
    def probe(timeout_s: float) -> Observation:
        try:
            document = steps_sql.execute(plan, params, timeout_s)
        except steps_sql.SqlError as exc:
            shown = steps_sql.evidence(plan, params, None, None)
            return Observation(failure=f"{plan.target}: {exc}", fatal=True, evidence={"sql": shown})
        shown = steps_sql.evidence(plan, params, document, None)
        return Observation(document=document, evidence={"sql": shown})

    return probe


def run(step: Step, probe: Probe, variables: Mapping[str, Any], bound_s: float) -> StepOutcome:
    """Repeat `probe` until `step.wait_for.until` holds or `bound_s` runs out."""
    wait = step.wait_for
    assert wait is not None
    start = time.perf_counter()
    deadline = start + bound_s
    attempts = 0
    while True:
        attempts += 1
        left = deadline - time.perf_counter()
        seen = probe(min(step.timeout_s, max(left, LAST_ATTEMPT_S)))
        judgement = Judgement()
        if seen.failure is None and seen.not_yet is None:
            judge(wait.until, seen.document, seen.headers, variables, judgement)
            if judgement.ok:
                return _arrived(step, seen, judgement, attempts, start)
        left = deadline - time.perf_counter()
        if seen.fatal or left <= 0:
            return _gave_up(seen, judgement, attempts, start, bound_s)
        time.sleep(min(wait.interval_s, left))


def _arrived(
    step: Step, seen: Observation, judgement: Judgement, attempts: int, start: float
) -> StepOutcome:
    where = "the result" if step.wait_for and step.wait_for.sql else "the response"
    found = Judgement()
    capture(step.capture, seen.document, seen.headers, found, where)
    fields = _fields(seen, judgement, attempts, start)
    if found.problems:
        return trace.failed("; ".join(found.problems), captured=found.captured, **fields)
    return trace.passed(captured=found.captured, **fields)


def _gave_up(
    seen: Observation, judgement: Judgement, attempts: int, start: float, bound_s: float
) -> StepOutcome:
    elapsed = seconds(bound_s)  # the bound it waited for: the same words every run
    tries = f"{attempts} attempt" + ("" if attempts == 1 else "s")
    fields = _fields(seen, judgement, attempts, start)
    if seen.failure is not None:
        if seen.fatal:
            return trace.error(seen.failure, **fields)
        return trace.error(f"{seen.failure} (still, after {elapsed} s; {tries})", **fields)
    if seen.not_yet is not None:
        return trace.failed(f"{seen.not_yet} after {elapsed} s ({tries})", **fields)
    unmet = len(judgement.problems)
    first = judgement.first_unmet
    what = first.text if first is not None else "the conditions"
    more = f" and {unmet - 1} more condition(s)" if unmet > 1 else ""
    return trace.failed(f"{what}{more} after {elapsed} s ({tries})", **fields)


def _fields(seen: Observation, judgement: Judgement, attempts: int, start: float) -> dict[str, Any]:
    def evidence(masker: Masker) -> dict[str, Any]:
        shown: dict[str, Any] = {}
        for build in seen.evidence.values():
            shown.update(build(masker))
        if judgement.judged:
            shown["conditions"] = judgement.records()
        return shown

    return {"ms": (time.perf_counter() - start) * 1000, "attempts": attempts, "evidence": evidence}
