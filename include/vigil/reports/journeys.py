"""A scenario's evidence as people read it: a journey's steps in order, the failing step's
request, response and reasons, its cleanup steps, its step durations; a test case's trace
(vigil.scenarios.trace and vigil.scenarios.suites write them).

Read from a result's stored details whatever their shape: a row written before a field
existed, by another kind of check, or cut by the store (vigil.result.truncate turns a
long list's tail into "… 5 more" and a deep value into JSON text) is shown as far as it
can be read, and never breaks a page. `trace_of` answers None when there is no journey to
show; the page then has only the generic evidence, as for any other check.

The templates (`_macros.html`: scenario_evidence, step_durations) reach these through
the `journey` and `suite_case` filters that vigil.reports.render registers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vigil.reports import svg

FAMILY = "scenarios"
PROBLEMS = frozenset({"failed", "error"})
# What a page shows of one text: a body, a query, a trace; a reason, a value in a cell.
EXCERPT_CHARS = 1500
TEXT_CHARS = 500
MAX_STEPS = 200
MAX_FIELDS = 30
# The keys a step's entry is read through; any other is shown as it is, under "Details".
STEP_KEYS = frozenset(
    {
        "step", "action", "status", "ms", "attempts", "reason", "request", "response",
        "conditions", "captured", "query", "params", "target", "row_count", "rows",
        "messages", "url", "first_failure",
    }
)  # fmt: skip

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Exchange:
    """One side of a step's exchange: a first line (a request's method and URL, a query's
    target, a response's status, a row or message count), header-like fields, a body."""

    line: str
    fields: Pairs = ()
    body: str = ""

    @property
    def text(self) -> str:
        """The fields, one `name: value` a line, then a blank line and the body."""
        head = "\n".join(f"{name}: {value}" for name, value in self.fields)
        return "\n\n".join(part for part in (head, self.body) if part)


@dataclass(frozen=True)
class Condition:
    text: str
    ok: bool | None  # None: the entry does not say
    actual: str


@dataclass(frozen=True)
class Step:
    number: int
    name: str
    action: str
    status: str
    ms: float | None = None
    attempts: int | None = None
    reason: str = ""
    failing: bool = False  # the step the journey failed at (its `failed_step`)
    request: Exchange | None = None
    response: Exchange | None = None
    conditions: tuple[Condition, ...] = ()
    captured: Pairs = ()
    extras: Pairs = ()  # what else the entry holds (a parallel step's summary ...)
    inner: tuple[Step, ...] = ()  # a parallel step's first failing copy, step by step
    inner_label: str = ""

    @property
    def problem(self) -> bool:
        return self.failing or self.status in PROBLEMS

    @property
    def failed_conditions(self) -> tuple[Condition, ...]:
        return tuple(c for c in self.conditions if c.ok is False)


@dataclass(frozen=True)
class Trace:
    steps: tuple[Step, ...]
    cleanup: tuple[Step, ...] = ()
    failed_step: str | None = None
    variables: Pairs = ()
    total_ms: float | None = None
    durations: tuple[tuple[str, float], ...] = ()  # the steps that took time, in order
    notes: tuple[str, ...] = ()  # what the stored trace left out ("… 5 more")

    @property
    def problems(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.problem)

    @property
    def cleanup_problems(self) -> tuple[Step, ...]:
        return tuple(s for s in self.cleanup if s.problem)


@dataclass(frozen=True)
class SuiteCase:
    """A test case of a suite: where it is, its failure's trace, its output."""

    where: str
    trace: str
    streams: Pairs  # (label, text): its standard output and error


def trace_of(result: Any) -> Trace | None:
    """A scenarios result's journey trace (a journey's own result or its cleanup part);
    None for anything else, or for details that hold no trace to read."""
    try:
        return _trace(result)
    except Exception:  # evidence is shown as it is: what cannot be read stays raw JSON
        return None


def suite_case_of(result: Any) -> SuiteCase | None:
    """A suite's test case with a trace or output to show; None for anything else."""
    try:
        return _suite_case(result)
    except Exception:  # as in trace_of
        return None


def _trace(result: Any) -> Trace | None:
    if getattr(result, "family", None) != FAMILY:
        return None
    details = _mapping(getattr(result, "details", None))
    observed = _mapping(getattr(result, "observed", None))
    raw_steps, raw_cleanup = details.get("trace"), details.get("cleanup")
    steps_ms = observed.get("steps_ms")
    if not any(isinstance(v, list) for v in (raw_steps, raw_cleanup)) and not isinstance(
        steps_ms, Mapping
    ):
        return None
    failed = _text(details.get("failed_step")) or None
    steps, notes = steps_of(raw_steps, failed)
    cleanup, cleanup_notes = steps_of(raw_cleanup, None)
    if steps:
        durations = tuple((s.name, s.ms) for s in steps if s.ms is not None)
    else:
        durations = tuple(_durations(steps_ms))
    notes += tuple(f"cleanup: {n}" for n in cleanup_notes)
    if not (steps or cleanup or durations or notes):
        return None  # nothing a person could read here beyond the raw evidence
    return Trace(
        steps=steps,
        cleanup=cleanup,
        failed_step=failed,
        variables=pairs(details.get("variables")),
        total_ms=_number(observed.get("total_ms")),
        durations=durations,
        notes=notes,
    )


def steps_of(
    raw: Any, failed_step: str | None, depth: int = 0
) -> tuple[tuple[Step, ...], tuple[str, ...]]:
    """The steps of a trace list, and its entries that are no step (a note the store left
    when it cut the list)."""
    if not isinstance(raw, list):
        return (), ()
    steps, notes = [], []
    for number, entry in enumerate(raw[:MAX_STEPS], start=1):
        if isinstance(entry, Mapping):
            steps.append(step_of(number, entry, failed_step, depth))
        elif entry is not None:
            notes.append(_text(entry))
    if len(raw) > MAX_STEPS:
        notes.append(f"first {MAX_STEPS} of {len(raw)} steps shown")
    return tuple(steps), tuple(notes)


def step_of(number: int, entry: Mapping[str, Any], failed_step: str | None, depth: int) -> Step:
    name = _text(entry.get("step")) or f"step {number}"
    inner, label = _first_failure(entry.get("first_failure"), depth)
    return Step(
        number=number,
        name=name,
        action=_text(entry.get("action")) or "?",
        status=_text(entry.get("status"), 20) or "unknown",
        ms=_number(entry.get("ms")),
        attempts=_whole(entry.get("attempts")),
        reason=_text(entry.get("reason"), EXCERPT_CHARS),
        failing=failed_step is not None and name == failed_step,
        request=request_of(entry),
        response=response_of(entry),
        conditions=conditions_of(entry.get("conditions")),
        captured=pairs(entry.get("captured")),
        extras=pairs({k: v for k, v in entry.items() if str(k) not in STEP_KEYS}),
        inner=inner,
        inner_label=label,
    )


def _first_failure(value: Any, depth: int) -> tuple[tuple[Step, ...], str]:
    """A parallel step's first failing copy: its steps, one level deep only."""
    first = _mapping(value)
    if depth > 0 or not isinstance(first.get("trace"), list):
        return (), ""
    steps, _ = steps_of(first["trace"], None, depth + 1)
    copy = _text(first.get("copy"))
    return steps, f"The first failing copy{f' ({copy})' if copy else ''}"


def request_of(entry: Mapping[str, Any]) -> Exchange | None:
    """An http request (method, URL, headers, body), an sql query (its target, parameters
    and text) or a subscription's URL; the sql fields may sit in the entry itself."""
    request = _mapping(entry.get("request"))
    query = request.get("query", entry.get("query"))
    if isinstance(query, str) and "method" not in request:
        target = _text(request.get("target", entry.get("target")))
        params = pairs(request.get("params", entry.get("params")))
        return Exchange(f"SQL query on {target}" if target else "SQL query", params, cut(query))
    method, url = _text(request.get("method")), _text(request.get("url") or entry.get("url"))
    if not (method or url or request):
        return None
    line = " ".join(part for part in (method, url) if part) or "request"
    return Exchange(line, pairs(request.get("headers")), _body(request.get("body")))


def response_of(entry: Mapping[str, Any]) -> Exchange | None:
    """An http response (status, time, headers, body), an sql query's rows, or the
    messages a subscription received."""
    response = _mapping(entry.get("response"))
    if response.get("status") is not None:
        ms = _number(response.get("ms", response.get("latency_ms")))
        took = f" in {svg.millis(ms)}" if ms is not None else ""
        line = f"status {_text(response['status'])}{took}"
        body = _body(response.get("body", response.get("body_excerpt")))
        return Exchange(line, pairs(response.get("headers")), body)
    count = response.get("row_count", entry.get("row_count"))
    rows = response.get("rows", entry.get("rows"))
    if count is not None or rows is not None:
        shown = f" (first {len(rows)} shown)" if isinstance(rows, list) else ""
        line = f"{_text(count) if count is not None else '?'} row(s){shown}"
        return Exchange(line, body=_body(rows) if rows else "")
    messages = entry.get("messages")
    if isinstance(messages, list):
        return Exchange(f"{len(messages)} message(s) shown", body=_messages(messages))
    if response:
        return Exchange("response", pairs(response))
    return None


def conditions_of(value: Any) -> tuple[Condition, ...]:
    if not isinstance(value, list):
        return ()
    found = []
    for record in value[:MAX_FIELDS]:
        if isinstance(record, Mapping):
            ok = record.get("ok")
            text = _text(record.get("condition"), TEXT_CHARS) or "?"
            actual = _json(record["actual"], TEXT_CHARS) if "actual" in record else "—"
            found.append(Condition(text, ok if isinstance(ok, bool) else None, actual))
        elif record is not None:
            found.append(Condition(_text(record, TEXT_CHARS), None, "—"))
    return tuple(found)


def pairs(value: Any) -> Pairs:
    """A mapping as (name, value) text pairs, values as compact JSON when not text."""
    if not isinstance(value, Mapping):
        return ()
    return tuple((_text(k, 100), _json(v, TEXT_CHARS)) for k, v in list(value.items())[:MAX_FIELDS])


def _durations(steps_ms: Any) -> list[tuple[str, float]]:
    found = [(_text(k, 100), _number(v)) for k, v in _mapping(steps_ms).items()]
    return [(name, ms) for name, ms in found if ms is not None]


def _suite_case(result: Any) -> SuiteCase | None:
    if getattr(result, "family", None) != FAMILY:
        return None
    details = _mapping(getattr(result, "details", None))
    trace = details.get("trace")
    streams = tuple(
        (label, cut(text, EXCERPT_CHARS))
        for key, label in (("system_out", "Standard output"), ("system_err", "Standard error"))
        if isinstance(text := details.get(key), str) and text.strip()
    )
    if not (isinstance(trace, str) and trace.strip()) and not streams:
        return None
    where = "::".join(
        part for part in (_text(details.get("classname")), _text(details.get("name"))) if part
    )
    return SuiteCase(where, trace.strip() if isinstance(trace, str) else "", streams)


def cut(text: str, chars: int = EXCERPT_CHARS) -> str:
    return text if len(text) <= chars else f"{text[:chars]}… [{len(text)} chars]"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any, chars: int = TEXT_CHARS) -> str:
    if value is None:
        return ""
    return cut(value if isinstance(value, str) else _json(value, chars), chars)


def _json(value: Any, chars: int = TEXT_CHARS) -> str:
    if isinstance(value, str):
        return cut(value, chars)
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:  # a circular structure: not from a store, but never a crash
        text = repr(value)
    return cut(text, chars)


def _body(value: Any) -> str:
    """A body or rows: text as it is, anything else as indented JSON, cut."""
    if value is None:
        return ""
    if isinstance(value, str):
        return cut(value)
    try:
        return cut(json.dumps(value, indent=2, ensure_ascii=False, default=str))
    except ValueError:
        return cut(repr(value))


def _messages(messages: list[Any]) -> str:
    return cut("\n".join(_json(m, TEXT_CHARS) for m in messages))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
