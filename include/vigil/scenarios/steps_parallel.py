"""The `parallel` step: a list of steps run `copies` times, at most `concurrency` at once,
each copy with variables of its own (`{{copy}}`, its own `{{uuid}}` and `{{random}}`).

Then two verdicts: the share of copies that passed all their steps is at least
`expect.min_passed`, and every name in `expect.distinct` was captured with no value twice
("50 concurrent creates give 50 distinct ids"). Afterwards each captured name holds the
list of the copies' values, in copy order (None for a copy that captured none).

Copies run as `concurrency` workers on an event loop of the step's own, each taking the
next copy as it finishes one: http steps on the loop (`wire.AsyncPool`, keep-alive
connections shared by the copies), blocking steps (sql, wait_for) on `concurrency`
threads, each keeping its own connections and database sessions until the step ends.
Fifty threads blocked on fifty sockets spend their time handing the GIL around: measured
against a minimal asyncio client, 1,000 POSTs at concurrency 50 took 1.6x its time with
threads, about its time this way. Only the first failing copy's trace is kept, with the
counts: 1,000 full traces would be noise, and building evidence costs time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import queue
import secrets
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from vigil.masking import Masker
from vigil.result import Status
from vigil.scenarios import steps_sql, templating, trace, wire
from vigil.scenarios.models import Parallel, ParallelExpect, Step
from vigil.scenarios.trace import StepOutcome

# A copy's step, run by the engine: (step, the copy's variables, the seconds left, within
# which the engine applies the step's own bound); an http step on the event loop, with
# the parallel step's connections.
StepRunner = Callable[[Step, dict[str, Any], float], StepOutcome]
HttpRunner = Callable[[Step, dict[str, Any], float, wire.AsyncPool], Awaitable[StepOutcome]]
CopyRunner = Callable[[Step, dict[str, Any], float], Awaitable[StepOutcome]]
# How long past the step's bound a worker may take to notice it (its request's own
# timeout is within the bound) before its copies are given up.
JOIN_GRACE_S = 2.0
SHOWN_DUPLICATES = 5
FRESH = frozenset({"uuid", "random"})  # drawn anew for each copy


@dataclass
class CopyResult:
    index: int
    status: Status = Status.ERROR
    step: str | None = None  # the step that did not pass
    reason: str = ""
    ms: float = 0.0
    captured: dict[str, Any] = field(default_factory=dict)
    # Kept for a copy that did not pass, so its trace can be shown.
    outcomes: list[tuple[Step, StepOutcome]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status is Status.PASSED


def copy_variables(
    base: Mapping[str, Any], index: int, fresh: frozenset[str] = FRESH
) -> dict[str, Any]:
    """A copy's variables: the journey's, and its own copy number, uuid and random (those
    in `fresh`: the ones its steps use; drawing a UUID is a tenth of a copy's own time)."""
    variables = dict(base)
    variables["copy"] = index
    if "uuid" in fresh:
        variables["uuid"] = str(uuid.uuid4())
    if "random" in fresh:
        variables["random"] = secrets.token_hex(4)
    return variables


def fresh_names(steps: list[Step]) -> frozenset[str]:
    """Which of a copy's own random values (`uuid`, `random`) its steps use."""
    used = templating.names_in([step.model_dump(mode="json") for step in steps])
    return FRESH & frozenset(used)


async def run_copy(
    index: int,
    steps: list[Step],
    base: Mapping[str, Any],
    runner: CopyRunner,
    deadline: float,
    fresh: frozenset[str] = FRESH,
) -> CopyResult:
    """One copy: its steps in order, until one does not pass."""
    start = time.perf_counter()
    result = CopyResult(index, Status.PASSED)
    variables = copy_variables(base, index, fresh)
    for step in steps:
        left = deadline - time.perf_counter()
        if left <= 0:
            outcome = trace.error("the parallel step's time ran out before this step")
        else:
            outcome = await runner(step, variables, left)
        if outcome.captured:
            variables.update(outcome.captured)
            result.captured.update(outcome.captured)
        result.outcomes.append((step, outcome))
        if not outcome.ok:
            result.status, result.step, result.reason = outcome.status, step.name, outcome.reason
            break
    result.ms = (time.perf_counter() - start) * 1000
    if result.ok:
        result.outcomes = []  # a passing copy's evidence is never shown
    return result


def run_copies(
    parallel: Parallel,
    base: Mapping[str, Any],
    runner: StepRunner,
    http_runner: HttpRunner,
    deadline: float,
) -> list[CopyResult]:
    """Every copy, at most `concurrency` at once; a copy that did not start (or finish)
    within the bound is an error."""
    results: list[CopyResult | None] = [None] * parallel.copies
    on_a_loop(lambda: _copies(parallel, base, runner, http_runner, deadline, results))
    return [
        result or CopyResult(i, Status.ERROR, reason="did not finish within the step's time")
        for i, result in enumerate(list(results))
    ]


async def _copies(
    parallel: Parallel,
    base: Mapping[str, Any],
    runner: StepRunner,
    http_runner: HttpRunner,
    deadline: float,
    results: list[CopyResult | None],
) -> None:
    pool = wire.AsyncPool()
    workers = _Workers(parallel.concurrency)
    fresh = fresh_names(parallel.steps)
    counter = itertools.count()

    async def run_step(step: Step, variables: dict[str, Any], bound_s: float) -> StepOutcome:
        if step.http is not None:
            return await http_runner(step, variables, bound_s, pool)
        return await workers.call(runner, step, variables, bound_s)

    async def work() -> None:
        for index in counter:
            if index >= parallel.copies or time.perf_counter() >= deadline:
                return
            results[index] = await run_copy(index, parallel.steps, base, run_step, deadline, fresh)

    tasks = [asyncio.create_task(work()) for _ in range(min(parallel.concurrency, parallel.copies))]
    try:
        _, late = await asyncio.wait(
            tasks, timeout=max(0.0, deadline + JOIN_GRACE_S - time.perf_counter())
        )
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in tasks:
            failure = None if task.cancelled() else task.exception()
            if failure is not None:
                raise failure  # a bug: surfaced (the engine names it), not hidden
    finally:
        await pool.close()
        workers.close()


def on_a_loop(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run `main()` on an event loop of its own (uvloop when installed); from a thread of
    its own when this one already runs a loop (an asynchronous caller)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        with asyncio.Runner(loop_factory=_new_loop) as loop_runner:
            loop_runner.run(main())
        return
    failures: list[BaseException] = []

    def alone() -> None:
        try:
            on_a_loop(main)
        except BaseException as exc:  # handed to the caller's thread
            failures.append(exc)

    thread = threading.Thread(target=alone, name="vigil-parallel-loop", daemon=True)
    thread.start()
    thread.join()
    if failures:
        raise failures[0]


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # asyncio's own loop works too, a little slower
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


_Job = tuple[Callable[..., StepOutcome], tuple[Any, ...], "asyncio.Future[StepOutcome]", Any]


class _Workers:
    """Threads for the copies' blocking steps (sql, wait_for): psycopg2 and the waits
    block. Each thread keeps its own connections and closes them when the step ends."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []

    async def call(self, fn: Callable[..., StepOutcome], *args: Any) -> StepOutcome:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[StepOutcome] = loop.create_future()
        if not self.threads:  # started at the first blocking step: most copies have none
            for n in range(self.size):
                thread = threading.Thread(target=self._work, name=f"vigil-copy-{n}", daemon=True)
                thread.start()
                self.threads.append(thread)
        self.jobs.put((fn, args, future, loop))
        return await future

    def _work(self) -> None:
        try:
            while (job := self.jobs.get()) is not None:
                fn, args, future, loop = job
                try:
                    result, failure = fn(*args), None
                except BaseException as exc:  # handed to the copy awaiting it
                    result, failure = None, exc
                with contextlib.suppress(RuntimeError):  # the loop closed: abandoned
                    loop.call_soon_threadsafe(_settle, future, result, failure)
        finally:
            wire.close_thread_connections()
            steps_sql.close_thread_sessions()

    def close(self) -> None:
        """Stop the threads; one still in a step past the grace is abandoned (a daemon).
        One grace for them all: joined one by one, each with a grace of its own, 64 hung
        threads would hold the journey 64 graces past its bound."""
        for _ in self.threads:
            self.jobs.put(None)
        give_up = time.perf_counter() + JOIN_GRACE_S
        for thread in self.threads:
            thread.join(timeout=max(0.0, give_up - time.perf_counter()))


def _settle(
    future: asyncio.Future[StepOutcome], result: StepOutcome | None, failure: BaseException | None
) -> None:
    if future.done():  # cancelled: the step's time ran out
        return
    if failure is not None:
        future.set_exception(failure)
    else:
        assert result is not None
        future.set_result(result)


def duplicates(values: list[Any]) -> dict[str, int]:
    """Values seen more than once, as text, with their counts (most repeated first)."""
    counts = Counter(_key(v) for v in values)
    return {value: n for value, n in counts.most_common() if n > 1}


def _key(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def verdict(
    copies: int, results: list[CopyResult], expect: ParallelExpect
) -> tuple[Status, list[str]]:
    """PASSED, or FAILED / ERROR with the reasons: too few copies passed, values captured
    twice. ERROR only when every copy that did not pass could not run (no answer)."""
    problems: list[str] = []
    bad = [r for r in results if not r.ok]
    # The share itself, not `min_passed * copies`: 0.56 * 50 is 28.000000000000004, and 28
    # of 50 copies passing is the share asked for (a quotient rounds as the decimal does).
    if (copies - len(bad)) / copies < expect.min_passed:
        first = bad[0]
        problems.append(
            f"{len(bad)} of {copies} copies failed; first: copy {first.index} step "
            f"'{first.step}': {first.reason}"
            if first.step
            else f"{len(bad)} of {copies} copies failed; first: copy {first.index}: {first.reason}"
        )
    distinct_problems = [
        problem for name in expect.distinct if (problem := distinct_problem(name, results))
    ]
    problems += distinct_problems
    if not problems:
        return Status.PASSED, []
    errors_only = not distinct_problems and all(r.status is Status.ERROR for r in bad)
    return (Status.ERROR if errors_only else Status.FAILED), problems


def distinct_problem(name: str, results: list[CopyResult]) -> str | None:
    """ "order_id: 50 copies captured 47 distinct values (duplicates: 101 x2, ...)", or
    None when no value was captured twice."""
    values = [r.captured[name] for r in results if name in r.captured]
    repeated = duplicates(values)
    if not repeated:
        return None
    shown = ", ".join(f"{v} x{n}" for v, n in list(repeated.items())[:SHOWN_DUPLICATES])
    more = ", ..." if len(repeated) > SHOWN_DUPLICATES else ""
    distinct = len(values) - sum(n - 1 for n in repeated.values())
    return (
        f"{name}: {len(values)} copies captured {distinct} distinct values "
        f"(duplicates: {shown}{more})"
    )


def captured_lists(step: Parallel, results: list[CopyResult]) -> dict[str, list[Any]]:
    """Each name any copy's step captures: the copies' values, in copy order."""
    names = [name for inner in step.steps for name in inner.capture]
    return {name: [r.captured.get(name) for r in results] for name in dict.fromkeys(names)}


def run(
    step: Step,
    base: Mapping[str, Any],
    runners: tuple[StepRunner, HttpRunner],
    bound_s: float,
    secret_names: frozenset[str],
) -> StepOutcome:
    parallel = step.parallel
    assert parallel is not None
    start = time.perf_counter()
    results = run_copies(parallel, base, *runners, start + bound_s)
    status, problems = verdict(parallel.copies, results, parallel.expect)
    outcome = StepOutcome(status, "; ".join(problems))
    outcome.ms = (time.perf_counter() - start) * 1000
    outcome.captured = captured_lists(parallel, results)
    outcome.evidence = _evidence(parallel, results, secret_names)
    return outcome


def _evidence(
    parallel: Parallel, results: list[CopyResult], secret_names: frozenset[str]
) -> trace.Evidence:
    def shown(masker: Masker) -> dict[str, Any]:
        durations = sorted(r.ms for r in results if r.ms)
        summary: dict[str, Any] = {
            "copies": parallel.copies,
            "concurrency": parallel.concurrency,
            "passed": sum(r.ok for r in results),
            "failed": sum(r.status is Status.FAILED for r in results),
            "errors": sum(r.status is Status.ERROR for r in results),
        }
        if durations:
            summary["copy_ms"] = {
                "min": round(durations[0], 1),
                "p50": round(statistics.median(durations), 1),
                "p95": round(durations[min(len(durations) - 1, int(len(durations) * 0.95))], 1),
                "max": round(durations[-1], 1),
            }
        for name in parallel.expect.distinct:
            values = [r.captured[name] for r in results if name in r.captured]
            summary.setdefault("distinct", {})[name] = {
                "captured": len(values),
                "distinct": len({_key(v) for v in values}),
            }
        first = next((r for r in results if not r.ok), None)
        if first is not None:
            summary["first_failure"] = {
                "copy": first.index,
                "trace": [
                    trace.entry(s.name, s.action, o, masker, secret_names)
                    for s, o in first.outcomes
                ],
            }
        return summary

    return shown
