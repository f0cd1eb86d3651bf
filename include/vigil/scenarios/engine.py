"""Runs a journey: its steps in order, then its cleanup, and keeps the trace.

`run_journey(check, ctx)` returns one result for the journey (family "scenarios", kind
"journey"): passed when every step passed; else failed or error naming the first step
that did not pass, the steps after it recorded as skipped. A cleanup step that fails adds
a second result, `<id>.cleanup` (a warning), and never changes the journey's own verdict.

Bounds: the steps together get `timeout_s`, each step at most its own bound within what is
left ("journey timed out after 120 s in step 'wait-shipped'" when the journey's time is
what ran out); the cleanup gets `cleanup_timeout_s` on top, after a failure or a timeout
too, and sees every value captured so far. A cleanup step needing a value that was never
captured is skipped: what it would clean up was never created.

Variables: the built-ins (`templating.BUILTINS`), the journey's `variables` (`${ENV}`
expanded, then templates filled), and what steps capture. A value captured with
`secret: true` is remembered by the run's masker as soon as it is captured, so it is
masked wherever it reappears: a later request's header or URL, a response body, a message.
Every string of the results passes the masker once more at the end.

Nothing raises out of `run_journey` for the scenario's sake: a configuration problem (an
unset `${VAR}`, an unknown target or connection) is an error marked as one (not retried),
anything unexpected an error naming the step and the exception.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vigil.checks.http import resolve_tree
from vigil.config_errors import ConfigError, configuration_details
from vigil.context import RunContext
from vigil.result import CheckResult, Severity, Status
from vigil.scenarios import (
    FAMILY,
    steps_http,
    steps_parallel,
    steps_sql,
    steps_wait,
    steps_ws,
    templating,
    trace,
    wire,
)
from vigil.scenarios.expect import secret_values
from vigil.scenarios.models import HttpRequest, JourneyCheck, SqlQuery, Step
from vigil.scenarios.trace import StepOutcome
from vigil.spec.secret_shapes import is_secret_name

__all__ = ["builtins", "journey_marker", "run_journey"]

# A step whose own bound was cut by the journey's and that ends this close to the
# journey's deadline ran out of the journey's time.
_DEADLINE_SLACK_S = 0.05


def run_journey(check: JourneyCheck, ctx: RunContext) -> list[CheckResult]:
    """Run `check`'s steps and cleanup; the journey's result, and a cleanup result when a
    cleanup step failed. Every string in them is masked."""
    journey = Journey(check, ctx)
    try:
        results = journey.run()
    except Exception as exc:  # never raise for the scenario's sake
        reason = f"{check.id}: unexpected {type(exc).__name__} in the journey engine: {exc}"
        results = [CheckResult.error_of(check, FAMILY, reason, started_at=journey.started_at)]
    finally:
        journey.close()
    return [result.masked(ctx.masker.mask) for result in results]


def journey_marker(run_id: str, journey_id: str) -> str:
    """`{{run.marker}}`: unique to the run and the journey, the same within both."""
    digest = hashlib.sha256(f"{run_id}:{journey_id}".encode()).hexdigest()
    return f"vigil-{digest[:10]}"


def builtins(run_id: str, journey_id: str, started: datetime) -> dict[str, Any]:
    """The built-in variables of one journey run (see `templating.BUILTINS`)."""
    return {
        "run.id": run_id,
        "run.marker": journey_marker(run_id, journey_id),
        "journey.id": journey_id,
        "uuid": str(uuid.uuid4()),
        "random": secrets.token_hex(4),
        "timestamp": started.isoformat(timespec="seconds"),
        "epoch": int(started.timestamp()),
    }


@dataclass
class Ran:
    """One step as it ran, for the trace."""

    step: Step
    outcome: StepOutcome


@dataclass
class Journey:
    check: JourneyCheck
    ctx: RunContext
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    t0: float = field(default_factory=time.perf_counter)
    variables: dict[str, Any] = field(default_factory=dict)
    captured: list[str] = field(default_factory=list)  # captured names, in order
    subscriptions: dict[str, steps_ws.Subscription] = field(default_factory=dict)
    _plans: dict[int, Any] = field(default_factory=dict)
    _plan_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.deadline = self.t0 + self.check.timeout_s
        steps = [*self.check.steps, *self.check.cleanup]
        self.secret_names = frozenset(_secret_names(steps))

    # --- the run -----------------------------------------------------------------------

    def run(self) -> list[CheckResult]:
        try:
            self.variables = self._initial_variables()
        except ConfigError as exc:
            reason = f"configuration problem: {exc.explained()}"
            return [self._could_not_start(reason, configuration_details({"trace": []}))]
        except templating.TemplateError as exc:
            return [self._could_not_start(f"variables: {exc}", {"trace": []})]
        ran = self._steps()
        steps_ms = (time.perf_counter() - self.t0) * 1000
        cleaned = self._cleanup()
        results = [self._result(ran, cleaned, steps_ms)]
        cleanup_result = self._cleanup_result(cleaned)
        if cleanup_result is not None:
            results.append(cleanup_result)
        return results

    def close(self) -> None:
        """Close the subscriptions, then this thread's connections: always, after cleanup."""
        for subscription in self.subscriptions.values():
            subscription.close()
        wire.close_thread_connections()
        steps_sql.close_thread_sessions()

    def _initial_variables(self) -> dict[str, Any]:
        variables = builtins(self.ctx.run_id, self.check.id, self.started_at)
        for name, value in self.check.variables.items():
            # `${ENV}` first (masked under a secret's name), then templates (earlier
            # variables and built-ins).
            resolved = resolve_tree(value, self.ctx, is_secret_name(name))
            variables[name] = templating.render(resolved, variables)
        return variables

    def _steps(self) -> list[Ran]:
        ran: list[Ran] = []
        for step in self.check.steps:
            outcome = self._journey_step(step)
            ran.append(Ran(step, outcome))
            self._keep(step, outcome)
            if not outcome.ok:
                break
        return ran

    def _journey_step(self, step: Step) -> StepOutcome:
        left = self.deadline - time.perf_counter()
        own = own_bound(step)
        if left <= 0:
            return trace.error(self._timed_out(step))
        outcome = self.guarded(step, self.variables, min(own, left))
        ran_out = left < own and time.perf_counter() >= self.deadline - _DEADLINE_SLACK_S
        if not outcome.ok and ran_out:
            outcome.status, outcome.reason = Status.ERROR, self._timed_out(step)
        return outcome

    def _timed_out(self, step: Step) -> str:
        limit = trace.seconds(self.check.timeout_s)
        return f"journey timed out after {limit} s in step '{step.name}'"

    def _keep(self, step: Step, outcome: StepOutcome) -> None:
        for name, value in outcome.captured.items():
            self.variables[name] = value
            if name not in self.captured:
                self.captured.append(name)

    # --- one step ------------------------------------------------------------------------

    def guarded(self, step: Step, variables: dict[str, Any], bound_s: float) -> StepOutcome:
        """Run `step` within `bound_s`; whatever goes wrong is its outcome, never raised."""
        start = time.perf_counter()
        try:
            outcome = self._execute(step, variables, bound_s)
        except Exception as exc:
            outcome = _outcome_of(exc)
        return self._settled(step, outcome, start)

    async def guarded_http(
        self, step: Step, variables: dict[str, Any], bound_s: float, pool: wire.AsyncPool
    ) -> StepOutcome:
        """`guarded` for an http step of a parallel step's copy, on its event loop."""
        start = time.perf_counter()
        try:
            assert step.http is not None
            plan = self.http_plan(step.http)
            outcome = await steps_http.run_async(step, plan, variables, bound_s, pool)
        except Exception as exc:
            outcome = _outcome_of(exc)
        return self._settled(step, outcome, start)

    def _copy_step(self, step: Step, variables: dict[str, Any], left_s: float) -> StepOutcome:
        """A copy's blocking step, on a worker thread: bounded by its own bound too."""
        return self.guarded(step, variables, min(own_bound(step), left_s))

    async def _copy_http(
        self, step: Step, variables: dict[str, Any], left_s: float, pool: wire.AsyncPool
    ) -> StepOutcome:
        return await self.guarded_http(step, variables, min(own_bound(step), left_s), pool)

    def _settled(self, step: Step, outcome: StepOutcome, start: float) -> StepOutcome:
        if not outcome.ms:
            outcome.ms = (time.perf_counter() - start) * 1000
        if outcome.captured and self.secret_names and step.parallel is None:
            # Remembered now, before any evidence is written or a later step sends it (a
            # parallel step's copies were, each by its own call).
            for value in secret_values(outcome.captured, step.capture):
                self.ctx.masker.remember(value)
        return outcome

    def _execute(self, step: Step, variables: dict[str, Any], bound_s: float) -> StepOutcome:
        if step.http is not None:
            return steps_http.run(step, self.http_plan(step.http), variables, bound_s)
        if step.sql is not None:
            return steps_sql.run(step, self.sql_plan(step.sql), variables, bound_s)
        if step.wait_for is not None:
            return steps_wait.run(step, self._probe(step, variables), variables, bound_s)
        if step.subscribe is not None:
            return self._subscribe(step, variables, bound_s)
        if step.messages is not None:
            return self._messages(step, variables, bound_s)
        if step.parallel is not None:
            for inner in step.parallel.steps:  # planned before the copies start
                self._plan_step(inner)
            runners = (self._copy_step, self._copy_http)
            return steps_parallel.run(step, variables, runners, bound_s, self.secret_names)
        raise AssertionError(f"step {step.name!r} has no action")  # the model forbids it

    def http_plan(self, request: HttpRequest) -> steps_http.HttpPlan:
        plan = self._plans.get(id(request))
        if plan is None:
            with self._plan_lock:
                plan = self._plans.get(id(request))
                if plan is None:
                    plan = steps_http.plan(request, self.check.target, self.ctx)
                    self._plans[id(request)] = plan
        assert isinstance(plan, steps_http.HttpPlan)
        return plan

    def sql_plan(self, query: SqlQuery) -> steps_sql.SqlPlan:
        plan = self._plans.get(id(query))
        if plan is None:
            with self._plan_lock:
                plan = self._plans.get(id(query))
                if plan is None:
                    plan = steps_sql.plan(query, self.ctx)
                    self._plans[id(query)] = plan
        assert isinstance(plan, steps_sql.SqlPlan)
        return plan

    def _plan_step(self, step: Step) -> None:
        wait = step.wait_for
        http = step.http or (wait.http if wait else None)
        sql = step.sql or (wait.sql if wait else None)
        if http is not None:
            self.http_plan(http)
        if sql is not None:
            self.sql_plan(sql)

    def _probe(self, step: Step, variables: Mapping[str, Any]) -> steps_wait.Probe:
        wait = step.wait_for
        assert wait is not None
        if wait.http is not None:
            request = steps_http.build(self.http_plan(wait.http), variables)
            return steps_wait.http_probe(request, wait, step, self.ctx.masker)
        assert wait.sql is not None
        plan = self.sql_plan(wait.sql)
        return steps_wait.sql_probe(plan, steps_sql.bound_params(plan, variables))

    def _subscribe(self, step: Step, variables: Mapping[str, Any], bound_s: float) -> StepOutcome:
        spec = step.subscribe
        assert spec is not None
        opened = steps_ws.subscribe(spec, self.ctx, variables, bound_s, self.t0)
        if opened.subscription is not None:
            previous = self.subscriptions.pop(spec.name, None)
            if previous is not None:
                previous.close()
            self.subscriptions[spec.name] = opened.subscription
        return opened.outcome

    def _messages(self, step: Step, variables: Mapping[str, Any], bound_s: float) -> StepOutcome:
        spec = step.messages
        assert spec is not None
        subscription = self.subscriptions.get(spec.subscription)
        if subscription is None:
            opened = ", ".join(sorted(self.subscriptions)) or "none"
            return trace.error(
                f"no subscription {spec.subscription!r} is open (open: {opened}); "
                "its subscribe step did not run"
            )
        return steps_ws.messages(spec, subscription, variables, bound_s)

    # --- cleanup -----------------------------------------------------------------------------

    def _cleanup(self) -> list[tuple[Step, StepOutcome | None, str]]:
        """Every cleanup step, each run whatever the others did: (step, its outcome or
        None when skipped, why it was skipped)."""
        done: list[tuple[Step, StepOutcome | None, str]] = []
        deadline = time.perf_counter() + self.check.cleanup_timeout_s
        for step in self.check.cleanup:
            left = deadline - time.perf_counter()
            if left <= 0:
                limit = trace.seconds(self.check.cleanup_timeout_s)
                done.append((step, trace.error(f"cleanup timed out after {limit} s"), ""))
                continue
            outcome = self.guarded(step, self.variables, min(step.timeout_s, left))
            if outcome.unset:
                done.append((step, None, f"{outcome.reason}: what it cleans up was never created"))
                continue
            self._keep(step, outcome)
            done.append((step, outcome, ""))
        return done

    # --- results -----------------------------------------------------------------------------

    def _result(
        self,
        ran: list[Ran],
        cleaned: list[tuple[Step, StepOutcome | None, str]],
        steps_ms: float,
    ) -> CheckResult:
        check, masker = self.check, self.ctx.masker
        entries = [
            trace.entry(r.step.name, r.step.action, r.outcome, masker, self.secret_names)
            for r in ran
        ]
        entries += [
            trace.skipped(step.name, step.action, "an earlier step did not pass")
            for step in check.steps[len(ran) :]
        ]
        last = ran[-1]
        failing = last if not last.outcome.ok else None
        details: dict[str, Any] = {
            "trace": entries,
            "failed_step": failing.step.name if failing else None,
            "variables": trace.shown_variables(
                {name: self.variables.get(name) for name in self.captured}, self.secret_names
            ),
            "cleanup": self._cleanup_entries(cleaned),
        }
        if failing is None:
            status = Status.PASSED
            message = f"{check.id}: {len(ran)} steps passed in {steps_ms:.0f} ms"
        else:
            status = failing.outcome.status
            message = _failure_message(check.id, failing.step.name, failing.outcome)
            if failing.outcome.config:
                details = configuration_details(details)
        return CheckResult.of(
            check,
            FAMILY,
            status,
            message,
            started_at=self.started_at,
            duration_ms=round((time.perf_counter() - self.t0) * 1000, 3),
            observed={
                "total_ms": round(steps_ms, 1),
                "steps_ms": {r.step.name: round(r.outcome.ms, 1) for r in ran},
            },
            expected={"steps": [step.name for step in check.steps]},
            details=details,
        )

    def _cleanup_entries(
        self, cleaned: list[tuple[Step, StepOutcome | None, str]]
    ) -> list[dict[str, Any]]:
        masker = self.ctx.masker
        return [
            trace.entry(step.name, step.action, outcome, masker, self.secret_names)
            if outcome is not None
            else trace.skipped(step.name, step.action, why)
            for step, outcome, why in cleaned
        ]

    def _cleanup_result(
        self, cleaned: list[tuple[Step, StepOutcome | None, str]]
    ) -> CheckResult | None:
        bad = [(step, outcome) for step, outcome, _ in cleaned if outcome and not outcome.ok]
        if not bad:
            return None
        step, outcome = bad[0]
        status = Status.FAILED if any(o.status is Status.FAILED for _, o in bad) else Status.ERROR
        how = "failed" if outcome.status is Status.FAILED else "could not run"
        message = f"{self.check.id}: cleanup step '{step.name}' {how}: {outcome.reason}"
        if len(bad) > 1:
            message += f"; {len(bad) - 1} more cleanup step(s) did not pass"
        return CheckResult.of(
            self.check,
            FAMILY,
            status,
            message,
            check_id=f"{self.check.id}.cleanup",
            parent=self.check.id,
            severity=Severity.WARNING,
            started_at=self.started_at,
            details={"cleanup": self._cleanup_entries(cleaned)},
        )

    def _could_not_start(self, reason: str, details: dict[str, Any]) -> CheckResult:
        details = {**details, "failed_step": None, "variables": {}, "cleanup": []}
        return CheckResult.error_of(
            self.check,
            FAMILY,
            f"{self.check.id}: could not start: {reason}",
            started_at=self.started_at,
            details=details,
        )


def own_bound(step: Step) -> float:
    """A step's own bound: a wait's `timeout_s`, a messages step's `within_s`, else the
    step's `timeout_s`."""
    if step.wait_for is not None:
        return step.wait_for.timeout_s
    if step.messages is not None:
        return step.messages.within_s
    return step.timeout_s


def _failure_message(journey: str, step: str, outcome: StepOutcome) -> str:
    if outcome.reason.startswith("journey timed out"):
        return f"{journey}: {outcome.reason}"
    how = "failed" if outcome.status is Status.FAILED else "could not run"
    return f"{journey}: step '{step}' {how}: {outcome.reason}"


def _outcome_of(exc: Exception) -> StepOutcome:
    """What an exception out of a step means: a configuration problem (marked), a
    variable without a value, or a surprise named with its type."""
    if isinstance(exc, ConfigError):
        return trace.error(f"configuration problem: {exc.explained()}", config=True)
    if isinstance(exc, templating.TemplateError):
        return trace.unset(exc)
    return trace.error(f"unexpected {type(exc).__name__}: {exc}")


def _secret_names(steps: list[Step]) -> list[str]:
    names: list[str] = []
    for step in steps:
        names += [name for name, spec in step.capture.items() if spec.secret]
        if step.parallel is not None:
            names += _secret_names(step.parallel.steps)
    return names
