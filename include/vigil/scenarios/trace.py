"""A journey's trace: what each step did, saw and concluded, as evidence people read.

A step returns a `StepOutcome`; its trace entry is built from it only when the result is
assembled (`entry`), so a `parallel` step's 1,000 passing copies cost no evidence at all,
and every secret captured by then (a login token) is known to the masker when the entry's
text is masked. The entry's shape:

    {"step", "action", "status" (passed/failed/error/skipped), "ms", "attempts",
     "request": {...}, "response": {...}, "conditions": [{"condition", "ok", "actual"}],
     "captured": {name: value, a secret as "***"}, "reason"}

keys that do not apply left out. An http request is {"method", "url", "headers", "body"}
and its response {"status", "ms", "headers", "body"}; an sql request {"target", "query",
"params"} and its response {"row_count", "rows" (the first SHOWN_ROWS)}; a subscribe
step shows its request {"url", "headers"} and the first messages, a messages step the
subscription, its URL, how many messages were received and matched, and the last ones
that matched. A parallel step's entry is a summary: {"copies", "concurrency", "passed",
"failed", "errors", "copy_ms": {"min", "p50", "p95", "max"}, "distinct": {name:
{"captured", "distinct"}}, "first_failure": {"copy", "trace": [entries]}}.

Bodies are masked, then cut to BODY_CHARS: masked first, so no secret survives in part.
Credential headers read "***" (http_client.Request.shown).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vigil.http_client import Request, Response
from vigil.masking import MASK, Masker
from vigil.result import Status
from vigil.spec.secret_shapes import redact_secret_shapes

BODY_CHARS = 2000
SHOWN_ROWS = 5
SHOWN_MESSAGES = 5
MESSAGE_CHARS = 500

# Builds a step's evidence (request, response, conditions ...) when the trace is written.
Evidence = Callable[[Masker], dict[str, Any]]


@dataclass
class StepOutcome:
    """What one step (or one cleanup step, or one copy's step) came to."""

    status: Status
    reason: str = ""
    ms: float = 0.0
    attempts: int | None = None
    # Values the step captured, for later steps (secrets included: masked when shown).
    captured: dict[str, Any] = field(default_factory=dict)
    # The reason is a configuration problem (a missing ${VAR}, an unknown target).
    config: bool = False
    # A `{{variable}}` it needs has no value (its step never ran): a cleanup step is then
    # skipped, as what it cleans up was never created.
    unset: bool = False
    evidence: Evidence | None = None

    @property
    def ok(self) -> bool:
        return self.status is Status.PASSED


def passed(**fields: Any) -> StepOutcome:
    return StepOutcome(Status.PASSED, **fields)


def failed(reason: str, **fields: Any) -> StepOutcome:
    return StepOutcome(Status.FAILED, reason, **fields)


def error(reason: str, **fields: Any) -> StepOutcome:
    return StepOutcome(Status.ERROR, reason, **fields)


def unset(exc: Exception) -> StepOutcome:
    """A step whose templates could not be filled: an error (skipped in cleanup)."""
    return StepOutcome(Status.ERROR, str(exc), unset=True)


def entry(
    name: str, action: str, outcome: StepOutcome, masker: Masker, secrets: frozenset[str]
) -> dict[str, Any]:
    """The step's trace entry (see the module's docstring), masked."""
    shown: dict[str, Any] = {
        "step": name,
        "action": action,
        "status": str(outcome.status),
        "ms": round(outcome.ms, 1),
    }
    if outcome.attempts is not None:
        shown["attempts"] = outcome.attempts
    if outcome.evidence is not None:
        shown.update(outcome.evidence(masker))
    if outcome.captured:
        shown["captured"] = shown_variables(outcome.captured, secrets)
    if outcome.reason:
        shown["reason"] = outcome.reason
    return masker.mask_value(shown)  # type: ignore[no-any-return]


def skipped(name: str, action: str, reason: str) -> dict[str, Any]:
    return {"step": name, "action": action, "status": str(Status.SKIPPED), "reason": reason}


def shown_variables(values: Mapping[str, Any], secrets: frozenset[str]) -> dict[str, Any]:
    """Captured values as evidence: a secret's as "***" whatever it holds."""
    return {name: MASK if name in secrets else value for name, value in values.items()}


def seconds(value: float) -> str:
    """A duration in messages: 30 -> "30", 0.5 -> "0.5", 2.04 -> "2"."""
    return f"{value:.1f}".rstrip("0").rstrip(".") or "0"


def cut(text: str, chars: int = BODY_CHARS) -> str:
    """`text` cut to `chars`, saying how long it was."""
    if len(text) <= chars:
        return text
    return f"{text[:chars]}… [{len(text)} chars]"


def shown_text(text: str, masker: Masker, chars: int = BODY_CHARS) -> str:
    """Text from the wire as evidence: masked, secret shapes (a token the server issued,
    which no masker knows) redacted, then cut."""
    return cut(redact_secret_shapes(masker.mask(text)), chars)


def http_request(request: Request, masker: Masker) -> dict[str, Any]:
    shown = request.shown(masker)
    body = _request_body(request)
    if body is not None:
        shown["body"] = shown_text(body, masker)
    return shown


def _request_body(request: Request) -> str | None:
    if request.json is not None:
        return json.dumps(request.json, default=str)
    if request.data is not None:
        return request.data.decode("utf-8", errors="replace")
    return None


def http_response(response: Response, masker: Masker) -> dict[str, Any]:
    shown = response.shown(masker)
    return {
        "status": response.status,
        "ms": round(response.latency_ms, 1),
        "headers": shown["headers"],
        "body": response.excerpt(masker, chars=BODY_CHARS),
    }


def message_texts(texts: list[str], masker: Masker) -> list[str]:
    return [shown_text(text, masker, MESSAGE_CHARS) for text in texts[-SHOWN_MESSAGES:]]
